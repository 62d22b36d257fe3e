package dump

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// The charts of the HTML dump, computed here as coordinates and labels and
// drawn as inline SVG by the template (which escapes every string).

// Geometry of a chart, in SVG user units.
const (
	chartW      = 1000.0
	chartH      = 330.0
	plotLeft    = 72.0
	plotRight   = 16.0
	plotTop     = 14.0
	plotBottom  = 40.0
	chartBands  = 8   // services drawn on their own; the rest is "other"
	maxGrid     = 400 // points per band at most
	maxAllocs   = 1500
	allocTickLo = 5.0  // height of the smallest allocation's tick
	allocTickHi = 18.0 // and of the largest
)

var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"}

const (
	otherColor  = "#c9c3bf"
	victimColor = "#b00020"
)

// chart is one SVG chart.
type chart struct {
	W, H             float64
	X0, Y0, X1, Y1   string // plot frame: left, top, right, bottom
	Empty            string // set when there is nothing to draw
	Bands            []band
	Outlines         []string // polylines around the victim's band, bottom open
	Lines            []polyline
	Dots             []dot
	YTicks, XTicks   []tick
	XLabel           string
	Kills            []marker
	Allocs           []marker
	Legend           []legendItem
	AllocCount       int // allocation ticks drawn
	AllocLeftOff     int // allocation events not drawn (too many)
	KillLabelY       string
	YLabelX          string   // right end of the y axis labels
	XLabelY          string   // baseline of the time axis labels
	XTitleX, XTitleY string   // the time axis title
	Class            string   // an extra class of the svg (the domain chart's)
	Warns            []marker // when oomtrace warned (the domain chart)
}

type band struct {
	Points string
	Fill   string
	Stroke string
	Width  string
	Title  string
	Victim bool
}

type polyline struct {
	Points string
	Stroke string
	Width  string
	Dash   string
	Fill   string // "none", or a fill for an area
	Title  string
	Class  string // names the line for readers of the page (limit, usage)
}

type dot struct {
	X, Y, Fill, Title string
}

type tick struct {
	Pos   string
	Label string
}

type marker struct {
	X, Y1, Y2 string
	Title     string
	Left      bool // label to the left of the line (near the right edge)
}

type legendItem struct {
	Color  string
	Label  string
	Victim bool
	Dash   bool
}

// frame maps times and values onto the plot area.
type frame struct {
	t0, t1 time.Time
	ymax   float64
}

func (f frame) x(t time.Time) float64 {
	span := f.t1.Sub(f.t0).Seconds()
	return plotLeft + (chartW-plotLeft-plotRight)*t.Sub(f.t0).Seconds()/span
}

func (f frame) y(v float64) float64 {
	return chartH - plotBottom - (chartH-plotBottom-plotTop)*v/f.ymax
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func newChart() *chart {
	return &chart{
		W: chartW, H: chartH,
		X0: num(plotLeft), Y0: num(plotTop), X1: num(chartW - plotRight), Y1: num(chartH - plotBottom),
		XLabel:     "time (UTC)",
		KillLabelY: num(plotTop + 10),
		YLabelX:    num(plotLeft - 6),
		XLabelY:    num(chartH - plotBottom + 16),
		XTitleX:    num(chartW - plotRight),
		XTitleY:    num(chartH - 4),
	}
}

// timeRange is the chart's time axis: the window, starting no earlier than
// the first sample (a recorder started shortly before the kill), else what the
// samples and events span; widened to at least a minute.
func timeRange(d *Dump) (time.Time, time.Time) {
	t0, t1 := d.Window.Start, d.Window.End
	if first := firstSample(d); !first.IsZero() && first.After(t0) && first.Before(t1) {
		t0 = first
		if span := t1.Sub(t0); span < 5*time.Second {
			t0 = t1.Add(-5 * time.Second)
		}
		return t0.UTC(), t1.UTC()
	}
	if t0.IsZero() || t1.IsZero() || !t1.After(t0) {
		var ts []time.Time
		for _, s := range d.Services {
			for _, p := range s.Samples {
				ts = append(ts, p.Time)
			}
		}
		for _, p := range d.SystemSamples {
			ts = append(ts, p.Time)
		}
		for _, k := range d.Kills {
			ts = append(ts, k.Time)
		}
		ts = slices.DeleteFunc(ts, time.Time.IsZero)
		if len(ts) == 0 {
			t := d.Time
			if t.IsZero() {
				t = time.Unix(0, 0).UTC()
			}
			ts = append(ts, t)
		}
		t0, t1 = slices.MinFunc(ts, time.Time.Compare), slices.MaxFunc(ts, time.Time.Compare)
	}
	if span := t1.Sub(t0); span < time.Minute {
		pad := (time.Minute - span) / 2
		t0, t1 = t0.Add(-pad), t1.Add(pad)
	}
	return t0.UTC(), t1.UTC()
}

func firstSample(d *Dump) time.Time {
	var first time.Time
	see := func(t time.Time) {
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	for _, s := range d.Services {
		if len(s.Samples) > 0 {
			see(s.Samples[0].Time)
		}
	}
	if len(d.SystemSamples) > 0 {
		see(d.SystemSamples[0].Time)
	}
	return first
}

// series is one service's samples, sorted, with how long a sample is held
// beyond the first and last.
type series struct {
	t   []time.Time
	v   []float64
	tol time.Duration
}

func newSeries(samples []Sample, span time.Duration) series {
	s := slices.Clone(samples)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Time.Before(s[j].Time) })
	out := series{t: make([]time.Time, len(s)), v: make([]float64, len(s))}
	var gaps []time.Duration
	for i, p := range s {
		out.t[i], out.v[i] = p.Time, float64(p.RSS)
		if i > 0 {
			gaps = append(gaps, p.Time.Sub(s[i-1].Time))
		}
	}
	if len(gaps) > 0 {
		slices.Sort(gaps)
		out.tol = gaps[len(gaps)/2] * 3 / 2
	} else {
		out.tol = max(span/100, time.Second)
	}
	return out
}

// at is the series' value at t: interpolated between samples, held for tol
// outside them, 0 beyond.
func (s series) at(t time.Time) float64 {
	n := len(s.t)
	if n == 0 {
		return 0
	}
	i := sort.Search(n, func(i int) bool { return !s.t[i].Before(t) })
	switch {
	case i < n && s.t[i].Equal(t):
		return s.v[i]
	case i == 0:
		if s.t[0].Sub(t) <= s.tol {
			return s.v[0]
		}
		return 0
	case i == n:
		if t.Sub(s.t[n-1]) <= s.tol {
			return s.v[n-1]
		}
		return 0
	}
	a, b := s.t[i-1], s.t[i]
	f := float64(t.Sub(a)) / float64(b.Sub(a))
	return s.v[i-1] + f*(s.v[i]-s.v[i-1])
}

// grid is the times at which bands are computed: every sample time when
// there are few, else evenly spaced points.
func grid(d *Dump, t0, t1 time.Time) []time.Time {
	seen := map[int64]bool{}
	var ts []time.Time
	for _, s := range d.Services {
		for _, p := range s.Samples {
			if p.Time.Before(t0) || p.Time.After(t1) || seen[p.Time.UnixNano()] {
				continue
			}
			seen[p.Time.UnixNano()] = true
			ts = append(ts, p.Time)
		}
	}
	if len(ts) >= 2 && len(ts) <= maxGrid {
		slices.SortFunc(ts, time.Time.Compare)
		return ts
	}
	n := 300
	out := make([]time.Time, n)
	step := t1.Sub(t0) / time.Duration(n-1)
	for i := range out {
		out[i] = t0.Add(time.Duration(i) * step)
	}
	out[n-1] = t1
	return out
}

// serviceChart is memory per service over the window: the top growers (and
// the victim's service) stacked, the rest as "other", with OOM kills and
// large allocations marked on the time axis.
func serviceChart(d *Dump) *chart {
	c := newChart()
	t0, t1 := timeRange(d)
	hasSamples := false
	for _, s := range d.Services {
		hasSamples = hasSamples || len(s.Samples) > 0
	}
	if !hasSamples {
		c.Empty = "No per-service samples in this dump."
		return c
	}
	top, _ := topServices(d, 0)
	var shown, rest []Service
	for _, s := range top {
		if len(shown) < chartBands {
			shown = append(shown, s)
		} else {
			rest = append(rest, s)
		}
	}
	// The victim's service is always drawn on its own.
	if i := slices.IndexFunc(rest, func(s Service) bool { return s.Victim }); i >= 0 {
		v := rest[i]
		rest[i] = shown[len(shown)-1]
		shown[len(shown)-1] = v
	}
	span := t1.Sub(t0)
	ts := grid(d, t0, t1)
	type row struct {
		name, color string
		victim      bool
		vals        []float64
		title       string
	}
	var rows []row
	for i, s := range shown {
		ser := newSeries(s.Samples, span)
		vals := make([]float64, len(ts))
		for j, t := range ts {
			vals[j] = ser.at(t)
		}
		rows = append(rows, row{
			name: safe.Text(s.Name), color: palette[i%len(palette)], victim: s.Victim, vals: vals,
			title: fmt.Sprintf("%s (%s): %s → %s, %s, peak %s", safe.Text(s.Name), orNone(s.Kind),
				units.Bytes(s.StartBytes), units.Bytes(s.EndBytes), units.SignedBytes(s.GrowthBytes), units.Bytes(s.PeakBytes)),
		})
	}
	if len(rest) > 0 {
		vals := make([]float64, len(ts))
		for _, s := range rest {
			ser := newSeries(s.Samples, span)
			for j, t := range ts {
				vals[j] += ser.at(t)
			}
		}
		rows = append(rows, row{name: fmt.Sprintf("other (%d services)", len(rest)), color: otherColor, vals: vals,
			title: fmt.Sprintf("%d other services", len(rest))})
	}
	// Stack.
	cum := make([][]float64, len(rows)+1)
	cum[0] = make([]float64, len(ts))
	ymax := 0.0
	for k, r := range rows {
		cum[k+1] = make([]float64, len(ts))
		for j := range ts {
			cum[k+1][j] = cum[k][j] + r.vals[j]
			ymax = max(ymax, cum[k+1][j])
		}
	}
	f := frame{t0: t0, t1: t1}
	f.ymax, c.YTicks = byteTicks(ymax, f)
	for k, r := range rows {
		var pts strings.Builder
		for j, t := range ts {
			fmt.Fprintf(&pts, "%s,%s ", num(f.x(t)), num(f.y(cum[k+1][j])))
		}
		for j := len(ts) - 1; j >= 0; j-- {
			fmt.Fprintf(&pts, "%s,%s ", num(f.x(ts[j])), num(f.y(cum[k][j])))
		}
		b := band{Points: strings.TrimSpace(pts.String()), Fill: r.color, Stroke: "#ffffff", Width: "0.5", Title: r.title}
		if r.victim {
			b.Victim = true
			b.Title = "OOM victim's service: " + b.Title
			c.Outlines = outline(f, ts, cum[k], cum[k+1], r.vals)
		}
		c.Bands = append(c.Bands, b)
	}
	// Legend: top of the stack first, as the eye reads it.
	for k := len(rows) - 1; k >= 0; k-- {
		c.Legend = append(c.Legend, legendItem{Color: rows[k].color, Label: rows[k].name, Victim: rows[k].victim})
	}
	c.XTicks = timeTicks(f)
	c.Kills = killMarkers(d, f)
	c.Allocs, c.AllocLeftOff = allocMarkers(d, f)
	c.AllocCount = len(c.Allocs)
	return c
}

// outline traces a band's sides and top wherever it is not empty, leaving
// out its bottom, which is the top of the band below.
func outline(f frame, ts []time.Time, lower, upper, vals []float64) []string {
	var out []string
	for j := 0; j < len(ts); {
		if vals[j] <= 0 {
			j++
			continue
		}
		a := j
		for j < len(ts) && vals[j] > 0 {
			j++
		}
		b := j - 1
		var pts strings.Builder
		fmt.Fprintf(&pts, "%s,%s", num(f.x(ts[a])), num(f.y(lower[a])))
		for i := a; i <= b; i++ {
			fmt.Fprintf(&pts, " %s,%s", num(f.x(ts[i])), num(f.y(upper[i])))
		}
		fmt.Fprintf(&pts, " %s,%s", num(f.x(ts[b])), num(f.y(lower[b])))
		out = append(out, pts.String())
	}
	return out
}

// systemChart is used and available memory over the window, and the total.
func systemChart(d *Dump) *chart {
	c := newChart()
	if len(d.SystemSamples) == 0 {
		c.Empty = "No system samples in this dump."
		return c
	}
	t0, t1 := timeRange(d)
	f := frame{t0: t0, t1: t1}
	s := slices.Clone(d.SystemSamples)
	slices.SortStableFunc(s, func(a, b SystemSample) int { return a.Time.Compare(b.Time) })
	ymax := float64(d.System.TotalBytes)
	for _, p := range s {
		ymax = max(ymax, float64(p.Used), float64(p.Available), float64(p.Used+p.Available))
	}
	f.ymax, c.YTicks = byteTicks(ymax, f)
	clampT := func(t time.Time) time.Time {
		if t.Before(t0) {
			return t0
		}
		if t.After(t1) {
			return t1
		}
		return t
	}
	var used, avail strings.Builder
	for _, p := range s {
		x := num(f.x(clampT(p.Time)))
		fmt.Fprintf(&used, "%s,%s ", x, num(f.y(float64(p.Used))))
		fmt.Fprintf(&avail, "%s,%s ", x, num(f.y(float64(p.Available))))
	}
	usedArea := fmt.Sprintf("%s,%s %s%s,%s", num(f.x(clampT(s[0].Time))), num(f.y(0)), used.String(),
		num(f.x(clampT(s[len(s)-1].Time))), num(f.y(0)))
	last := s[len(s)-1]
	c.Lines = append(c.Lines,
		polyline{Points: usedArea, Stroke: "#4e79a7", Width: "1.5", Fill: "#c6d7ea",
			Title: fmt.Sprintf("used: %s at the end", units.Bytes(last.Used))},
		polyline{Points: strings.TrimSpace(avail.String()), Stroke: "#2f8f46", Width: "2", Fill: "none",
			Title: fmt.Sprintf("available: %s at the end", units.Bytes(last.Available))},
	)
	c.Legend = append(c.Legend,
		legendItem{Color: "#4e79a7", Label: "used"},
		legendItem{Color: "#2f8f46", Label: "available"})
	if tot := d.System.TotalBytes; tot > 0 {
		y := num(f.y(float64(tot)))
		c.Lines = append(c.Lines, polyline{Points: fmt.Sprintf("%s,%s %s,%s", c.X0, y, c.X1, y),
			Stroke: "#555555", Width: "1", Dash: "6 4", Fill: "none", Title: "total: " + units.Bytes(tot)})
		c.Legend = append(c.Legend, legendItem{Color: "#555555", Label: "total " + units.Bytes(tot), Dash: true})
	}
	if len(s) == 1 {
		c.Dots = append(c.Dots,
			dot{X: num(f.x(clampT(last.Time))), Y: num(f.y(float64(last.Used))), Fill: "#4e79a7", Title: "used: " + units.Bytes(last.Used)},
			dot{X: num(f.x(clampT(last.Time))), Y: num(f.y(float64(last.Available))), Fill: "#2f8f46", Title: "available: " + units.Bytes(last.Available)})
	}
	c.XTicks = timeTicks(f)
	c.Kills = killMarkers(d, f)
	return c
}

// byteTicks chooses the top of the y axis and its labelled ticks, in binary
// units (KiB, MiB, GiB, TiB).
func byteTicks(ymax float64, f frame) (float64, []tick) {
	if ymax <= 0 || math.IsNaN(ymax) || math.IsInf(ymax, 0) {
		ymax = 1 << 20
	}
	unit, name := 1.0, "B"
	for _, u := range []struct {
		v float64
		n string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if ymax >= u.v {
			unit, name = u.v, u.n
			break
		}
	}
	v := ymax / unit
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	n := int(math.Ceil(v/step - 1e-9))
	top := float64(n) * step * unit
	f.ymax = top
	ticks := make([]tick, 0, n+1)
	for i := 0; i <= n; i++ {
		val := float64(i) * step
		label := strconv.FormatFloat(val, 'f', -1, 64) + " " + name
		if i == 0 {
			label = "0"
		}
		ticks = append(ticks, tick{Pos: num(f.y(val * unit)), Label: label})
	}
	return top, ticks
}

var timeSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// timeTicks labels the time axis at round times, 4 to 10 of them.
func timeTicks(f frame) []tick {
	span := f.t1.Sub(f.t0)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	if span/step > 400 { // a window of months: label its ends only
		return []tick{
			{Pos: num(f.x(f.t0)), Label: f.t0.Format("01-02 15:04")},
			{Pos: num(f.x(f.t1)), Label: f.t1.Format("01-02 15:04")},
		}
	}
	layout := "15:04"
	if step < time.Minute {
		layout = "15:04:05"
	}
	var ticks []tick
	for t := f.t0.Truncate(step); !t.After(f.t1); t = t.Add(step) {
		if t.Before(f.t0) {
			continue
		}
		ticks = append(ticks, tick{Pos: num(f.x(t)), Label: t.UTC().Format(layout)})
	}
	return ticks
}

// killMarkers are the OOM kills in the window: the dump's kills, and any
// oom_kill event that is not one of them.
func killMarkers(d *Dump, f frame) []marker {
	type k struct {
		t   time.Time
		pid uint32
	}
	var seen []k
	var out []marker
	add := func(t time.Time, pid uint32, title string) {
		if t.Before(f.t0) || t.After(f.t1) {
			return
		}
		for _, s := range seen {
			if s.pid == pid && s.t.Sub(t).Abs() < 5*time.Second {
				return
			}
		}
		seen = append(seen, k{t, pid})
		x := f.x(t)
		out = append(out, marker{X: num(x), Y1: num(plotTop), Y2: num(chartH - plotBottom), Title: title,
			Left: x > chartW-plotRight-40})
	}
	for _, kl := range kills(d) {
		v, tr := kl.Victim, kl.Trigger
		add(kl.Time, v.PID, fmt.Sprintf("OOM kill at %s: pid %d %s (service %s) killed, triggered by pid %d %s",
			kl.Time.UTC().Format("15:04:05"), v.PID, orNone(v.Comm), orNone(v.Service), tr.PID, orNone(tr.Comm)))
	}
	for _, e := range d.Events {
		if e.Victim == nil {
			continue
		}
		if t, ok := eventTime(e); ok {
			add(t, e.Victim.PID, fmt.Sprintf("OOM kill at %s: pid %d %s killed", t.UTC().Format("15:04:05"),
				e.Victim.PID, orNone(e.Victim.Comm)))
		}
	}
	return out
}

// allocMarkers are the allocation events (mmap, brk, mremap, mprotect) as
// ticks rising from the time axis, taller for larger ones; at most maxAllocs
// of them, the largest, and how many were left out.
func allocMarkers(d *Dump, f frame) ([]marker, int) {
	type a struct {
		t    time.Time
		size uint64
		text string
	}
	var all []a
	for _, e := range d.Events {
		if !isAlloc(e) {
			continue
		}
		t, ok := eventTime(e)
		if !ok || t.Before(f.t0) || t.After(f.t1) {
			continue
		}
		all = append(all, a{t, allocSize(e), fmt.Sprintf("%s %s by pid %d %s at %s", safe.Text(e.Type), eventSize(e),
			e.PID, orNone(e.Comm), t.UTC().Format("15:04:05.000"))})
	}
	left := 0
	if len(all) > maxAllocs {
		slices.SortStableFunc(all, func(x, y a) int {
			switch {
			case x.size > y.size:
				return -1
			case x.size < y.size:
				return 1
			}
			return 0
		})
		left = len(all) - maxAllocs
		all = all[:maxAllocs]
	}
	if len(all) == 0 {
		return nil, 0
	}
	lo, hi := all[0].size, all[0].size
	for _, x := range all {
		lo, hi = min(lo, x.size), max(hi, x.size)
	}
	base := chartH - plotBottom
	out := make([]marker, 0, len(all))
	for _, x := range all {
		h := allocTickLo
		if hi > lo && lo > 0 {
			h += (allocTickHi - allocTickLo) * math.Log(float64(x.size)/float64(lo)) / math.Log(float64(hi)/float64(lo))
		} else if hi > lo {
			h += (allocTickHi - allocTickLo) * float64(x.size) / float64(hi)
		}
		out = append(out, marker{X: num(f.x(x.t)), Y1: num(base - h), Y2: num(base), Title: x.text})
	}
	return out, left
}
