package dump

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/schema"
	"github.com/oomtrace/oomtrace/internal/units"
)

// The OOM domain: the memory a kill ran out of. For a kill in a memory
// cgroup, its usage against its limit over the window; for a system kill,
// available memory (SystemSamples) against the zones' watermarks.

// Bounds that Decode enforces on the domains.
const (
	MaxDomains       = 16
	MaxDomainSamples = 2 * 3600 // history keeps at most 3600 fine samples
	// maxDomainBytes is beyond any real usage or limit (v1 says
	// "unlimited" with about 2^63); a limit of 0 is "none".
	maxDomainBytes = 1 << 62
)

// Domain is a memory domain that ran out (or that a warning was about).
type Domain struct {
	// Memcg is the memory cgroup's path (the kernel's oom_memcg); "" for
	// the whole system.
	Memcg string `json:"memcg,omitempty"`
	// Kill is the first kill in the domain; zero on a warning.
	Kill time.Time `json:"kill,omitzero"`
	// Warned is when oomtrace warned (--warn-at) of this domain before the
	// kill, within the window; zero when it did not.
	Warned time.Time `json:"warned,omitzero"`
	// Samples are a memory cgroup's usage and limit over the window,
	// oldest first; none for the system.
	Samples []DomainSample `json:"samples,omitempty"`
	// The system's free-memory watermarks, summed over the zones
	// (/proc/zoneinfo): below min, allocations reclaim directly and then
	// call the OOM killer. Only on the system's domain.
	MinWatermarkBytes uint64 `json:"min_watermark_bytes,omitempty"`
	LowWatermarkBytes uint64 `json:"low_watermark_bytes,omitempty"`
}

// DomainSample is a memory cgroup at one moment. Swap is what the cgroup
// has swapped out: v2 memory.swap.current, v1 memory.memsw.usage_in_bytes
// less the memory usage. SwapLimit is v2's memory.swap.max, or on v1 the
// room memory.memsw.limit_in_bytes leaves beyond the memory limit; 0 when
// unlimited or unknown.
type DomainSample struct {
	Time      time.Time `json:"t"`
	Usage     uint64    `json:"usage"`
	Limit     uint64    `json:"limit"`
	Swap      uint64    `json:"swap,omitempty"`
	SwapLimit uint64    `json:"swap_limit,omitempty"`
}

// checkDomains bounds the domains and their samples, puts their times in
// UTC and wants the samples in time order.
func checkDomains(d *Dump) error {
	if len(d.Domains) > MaxDomains {
		return fmt.Errorf("corrupt dump: %d domains, more than %d", len(d.Domains), MaxDomains)
	}
	if len(d.Domains) == 0 {
		d.Domains = nil
	}
	for i := range d.Domains {
		if err := checkDomain(&d.Domains[i]); err != nil {
			return fmt.Errorf("corrupt dump: domain %d: %w", i+1, err)
		}
	}
	return nil
}

func checkDomain(dm *Domain) error {
	for _, t := range []*time.Time{&dm.Kill, &dm.Warned} {
		if !t.IsZero() {
			if *t = t.UTC(); t.Year() < 0 || t.Year() > 9999 {
				return fmt.Errorf("a time in year %d", t.Year())
			}
		}
	}
	switch {
	case len(dm.Samples) > MaxDomainSamples:
		return fmt.Errorf("%d samples, more than %d", len(dm.Samples), MaxDomainSamples)
	case dm.Memcg == "" && len(dm.Samples) > 0:
		return errors.New("samples without a memory cgroup")
	case dm.MinWatermarkBytes >= maxDomainBytes || dm.LowWatermarkBytes >= maxDomainBytes:
		return errors.New("a watermark out of range")
	}
	if len(dm.Samples) == 0 {
		dm.Samples = nil
	}
	for j := range dm.Samples {
		s := &dm.Samples[j]
		if s.Time = s.Time.UTC(); s.Time.Year() < 0 || s.Time.Year() > 9999 {
			return fmt.Errorf("sample %d: a time in year %d", j+1, s.Time.Year())
		}
		if j > 0 && !s.Time.After(dm.Samples[j-1].Time) {
			return fmt.Errorf("sample %d: not after the one before", j+1)
		}
		for _, v := range []uint64{s.Usage, s.Limit, s.Swap, s.SwapLimit} {
			if v >= maxDomainBytes {
				return fmt.Errorf("sample %d: %d bytes, out of range", j+1, v)
			}
		}
	}
	return nil
}

// fill is how fast a domain filled in its last minute before the kill (or
// the dump): between the first and last samples of that minute.
type fill struct {
	Start, End time.Time
	From, To   uint64  // usage (memcg) or available memory (system)
	Rate       float64 // bytes/s toward the limit: usage rising, available falling
	ToKill     time.Duration
}

// domainFill measures a domain's last minute up to at; false when fewer
// than two samples fall in it.
func domainFill(d *Dump, dm Domain, at time.Time) (fill, bool) {
	type pt struct {
		t time.Time
		v uint64
	}
	var pts []pt
	cut := at.Add(-time.Minute)
	in := func(t time.Time) bool { return !t.Before(cut) && !t.After(at) }
	if dm.Memcg != "" {
		for _, s := range dm.Samples {
			if in(s.Time) {
				pts = append(pts, pt{s.Time, s.Usage})
			}
		}
	} else {
		for _, s := range d.SystemSamples {
			if in(s.Time) {
				pts = append(pts, pt{s.Time, s.Available})
			}
		}
		slices.SortStableFunc(pts, func(a, b pt) int { return a.t.Compare(b.t) })
	}
	if len(pts) < 2 || !pts[len(pts)-1].t.After(pts[0].t) {
		return fill{}, false
	}
	a, b := pts[0], pts[len(pts)-1]
	f := fill{Start: a.t, End: b.t, From: a.v, To: b.v, ToKill: at.Sub(a.t)}
	delta := float64(b.v) - float64(a.v)
	if dm.Memcg == "" {
		delta = -delta
	}
	f.Rate = delta / b.t.Sub(a.t).Seconds()
	return f, true
}

// domainAt is the moment a domain's figures lead up to: its kill, else the
// dump's time.
func domainAt(d *Dump, dm Domain) time.Time {
	if !dm.Kill.IsZero() {
		return dm.Kill
	}
	return d.Time
}

// domainName names a domain for a heading.
func domainName(dm Domain) string {
	if dm.Memcg == "" {
		return "the system"
	}
	return "memory cgroup " + safe.Text(dm.Memcg)
}

// domainLines describe a domain in a few sentences, for the text and HTML.
func domainLines(d *Dump, dm Domain) []string {
	at := domainAt(d, dm)
	to := "the kill"
	if dm.Kill.IsZero() {
		to = "the dump"
	}
	var out []string
	if dm.Memcg != "" {
		if n := len(dm.Samples); n > 0 {
			s := dm.Samples[n-1]
			line := fmt.Sprintf("usage %s of limit %s at %s", units.Bytes(s.Usage), limitText(s.Limit), s.Time.Format("15:04:05"))
			if s.Swap > 0 || s.SwapLimit > 0 {
				line += fmt.Sprintf(", swap %s of %s", units.Bytes(s.Swap), limitText(s.SwapLimit))
			}
			out = append(out, line)
		} else {
			out = append(out, "no usage samples of the cgroup in this dump")
		}
	} else if dm.LowWatermarkBytes > 0 {
		out = append(out, fmt.Sprintf("zone watermarks: min %s, low %s", units.Bytes(dm.MinWatermarkBytes), units.Bytes(dm.LowWatermarkBytes)))
	}
	if f, ok := domainFill(d, dm, at); ok {
		what := fmt.Sprintf("filled at %s", rate(f.Rate))
		vals := fmt.Sprintf("usage %s → %s", units.Bytes(f.From), units.Bytes(f.To))
		if dm.Memcg == "" {
			vals = fmt.Sprintf("available %s → %s", units.Bytes(f.From), units.Bytes(f.To))
		}
		out = append(out, fmt.Sprintf("last minute: %s, %s, %s from %s to %s", what, vals,
			f.ToKill.Round(time.Second), f.Start.Format("15:04:05"), to))
	} else {
		out = append(out, "last minute: fewer than two samples")
	}
	if !dm.Warned.IsZero() {
		w := "warned at " + dm.Warned.Format("15:04:05")
		if !dm.Kill.IsZero() && dm.Kill.After(dm.Warned) {
			w += fmt.Sprintf(", %s before the kill", dm.Kill.Sub(dm.Warned).Round(time.Second))
		}
		out = append(out, w)
	}
	return out
}

func limitText(v uint64) string {
	if v == 0 {
		return "none"
	}
	return units.Bytes(v)
}

const (
	limitColor = "#b00020"
	swapColor  = "#b07aa1"
	warnColor  = "#d97706"
)

// domainChart is a domain over the window: a memory cgroup's usage (and
// swap) against its limit, or available memory against the watermarks;
// the warning and the kills marked.
func domainChart(d *Dump, dm Domain) *chart {
	c := newChart()
	c.Class = "domain"
	t0, t1 := timeRange(d)
	f := frame{t0: t0, t1: t1}
	clampT := func(t time.Time) time.Time {
		if t.Before(t0) {
			return t0
		}
		if t.After(t1) {
			return t1
		}
		return t
	}
	type line struct {
		vals  []uint64
		ts    []time.Time
		color string
		dash  string
		class string
		label string
		area  bool
	}
	var lines []line
	if dm.Memcg != "" {
		if len(dm.Samples) == 0 {
			c.Empty = "No usage samples of " + domainName(dm) + " in this dump."
			return c
		}
		var ts []time.Time
		var use, lim, swap, swapLim []uint64
		anySwap := false
		for _, s := range dm.Samples {
			ts = append(ts, s.Time)
			use, lim, swap, swapLim = append(use, s.Usage), append(lim, s.Limit), append(swap, s.Swap), append(swapLim, s.SwapLimit)
			anySwap = anySwap || s.Swap > 0 || s.SwapLimit > 0
		}
		last := dm.Samples[len(dm.Samples)-1]
		lines = append(lines,
			line{use, ts, "#4e79a7", "", "usage", "usage " + units.Bytes(last.Usage) + " at the end", true},
			line{lim, ts, limitColor, "6 4", "limit", "limit " + limitText(last.Limit), false})
		if anySwap {
			lines = append(lines,
				line{swap, ts, swapColor, "", "swap", "swap " + units.Bytes(last.Swap) + " at the end", false},
				line{swapLim, ts, swapColor, "2 3", "swap-limit", "swap limit " + limitText(last.SwapLimit), false})
		}
	} else {
		if len(d.SystemSamples) == 0 {
			c.Empty = "No system samples in this dump."
			return c
		}
		s := slices.Clone(d.SystemSamples)
		slices.SortStableFunc(s, func(a, b SystemSample) int { return a.Time.Compare(b.Time) })
		var ts []time.Time
		var avail []uint64
		for _, p := range s {
			ts, avail = append(ts, p.Time), append(avail, p.Available)
		}
		lines = append(lines, line{avail, ts, "#2f8f46", "", "available", "available " + units.Bytes(avail[len(avail)-1]) + " at the end", true})
		if dm.LowWatermarkBytes > 0 {
			n := len(ts)
			lines = append(lines,
				line{slices.Repeat([]uint64{dm.LowWatermarkBytes}, n), ts, limitColor, "6 4", "limit", "low watermark " + units.Bytes(dm.LowWatermarkBytes), false},
				line{slices.Repeat([]uint64{dm.MinWatermarkBytes}, n), ts, "#555555", "2 3", "min-watermark", "min watermark " + units.Bytes(dm.MinWatermarkBytes), false})
		}
	}
	ymax := 0.0
	for _, l := range lines {
		for _, v := range l.vals {
			ymax = max(ymax, float64(v))
		}
	}
	f.ymax, c.YTicks = byteTicks(ymax, f)
	for _, l := range lines {
		var pts strings.Builder
		for i, t := range l.ts {
			fmt.Fprintf(&pts, "%s,%s ", num(f.x(clampT(t))), num(f.y(float64(l.vals[i]))))
		}
		p := polyline{Points: strings.TrimSpace(pts.String()), Stroke: l.color, Width: "2", Dash: l.dash, Fill: "none", Title: l.label, Class: l.class}
		if l.area {
			p.Points = fmt.Sprintf("%s,%s %s %s,%s", num(f.x(clampT(l.ts[0]))), num(f.y(0)), p.Points, num(f.x(clampT(l.ts[len(l.ts)-1]))), num(f.y(0)))
			p.Fill, p.Width = "#c6d7ea", "1.5"
		}
		c.Lines = append(c.Lines, p)
		c.Legend = append(c.Legend, legendItem{Color: l.color, Label: l.label, Dash: l.dash != ""})
	}
	c.XTicks = timeTicks(f)
	c.Kills = killMarkers(d, f)
	if w := dm.Warned; !w.IsZero() && !w.Before(t0) && !w.After(t1) {
		x := f.x(w)
		c.Warns = append(c.Warns, marker{X: num(x), Y1: num(plotTop), Y2: num(chartH - plotBottom),
			Title: "oomtrace warned at " + w.Format("15:04:05"), Left: x > chartW-plotRight-40})
	}
	return c
}

// domains prints each domain: its state at the end and how fast it filled.
func (t *textWriter) domains(d *Dump) {
	for _, dm := range d.Domains {
		t.line("")
		t.field("Domain", domainName(dm)) // a path of its own: it can be long
		for _, l := range domainLines(d, dm) {
			t.field("", l)
		}
	}
}

// killEvents splits events into those of the kills' victims' and
// triggers' services (by service, or by pid where the service is not
// known) and the rest, each oldest first.
func killEvents(d *Dump, ev []schema.Event) (own, rest []schema.Event) {
	pids := map[uint32]bool{}
	svcs := map[string]bool{}
	for _, k := range kills(d) {
		pids[k.Victim.PID], pids[k.Trigger.PID] = true, true
		for _, s := range []string{k.Victim.Service, k.Trigger.Service} {
			if s != "" {
				svcs[s] = true
			}
		}
	}
	if len(pids) == 0 {
		return nil, ev
	}
	for _, e := range ev {
		if (e.Service != "" && svcs[e.Service]) || (e.Service == "" && pids[e.PID]) {
			own = append(own, e)
		} else {
			rest = append(rest, e)
		}
	}
	return own, rest
}

// lastN is the last n of ev and how many were left out.
func lastN(ev []schema.Event, n int) ([]schema.Event, int) {
	if len(ev) > n {
		return ev[len(ev)-n:], len(ev) - n
	}
	return ev, 0
}
