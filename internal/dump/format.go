package dump

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/schema"
	"github.com/oomtrace/oomtrace/internal/units"
)

// What the text and HTML renderers share: titles, the kills, the top growers,
// the recent events, and how figures are printed.

// title is the headline of a dump of kind, without time and host.
func title(kind string) string {
	switch kind {
	case KindOOM:
		return "OOM KILL"
	case KindSnapshot:
		return "SNAPSHOT"
	case KindWarn:
		return "OOM WARNING"
	case KindSummary:
		return "RUN SUMMARY"
	}
	return "DUMP " + strings.ToUpper(safe.Text(kind))
}

// clock prints a time for a title: 2026-11-25 19:02:57 UTC.
func clock(t time.Time) string {
	if t.IsZero() {
		return "(unknown time)"
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

// kill is a Kill with whether its kernel-side details are known: a dump from
// a reader that set only Victim and Trigger has no per-kill record.
type kill struct {
	Kill
	detailed bool
}

// kills returns the dump's kills, or one made of the top-level victim and
// trigger when Kills is empty.
func kills(d *Dump) []kill {
	out := make([]kill, 0, len(d.Kills))
	for _, k := range d.Kills {
		out = append(out, kill{k, true})
	}
	if len(out) == 0 && d.Victim != nil {
		k := Kill{Time: d.Time, Victim: *d.Victim, Constraint: d.Constraint,
			OOMMemcg: d.OOMMemcg, TaskMemcg: d.TaskMemcg, MemcgOOMKills: -1}
		if d.Trigger != nil {
			k.Trigger = *d.Trigger
		}
		out = append(out, kill{k, false})
	}
	return out
}

// topServices returns up to n services, most grown first (ties: larger end
// RSS first, then name), and how many were left out.
func topServices(d *Dump, n int) ([]Service, int) {
	s := slices.Clone(d.Services)
	slices.SortStableFunc(s, func(a, b Service) int {
		if c := cmp.Compare(b.GrowthBytes, a.GrowthBytes); c != 0 {
			return c
		}
		if c := cmp.Compare(b.EndBytes, a.EndBytes); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if n <= 0 || len(s) <= n {
		return s, 0
	}
	return s[:n], len(s) - n
}

// recentEvents returns the last n events at or before end (all of them when
// end is zero), oldest first, and how many earlier ones were left out.
func recentEvents(d *Dump, end time.Time, n int) ([]schema.Event, int) {
	var ev []schema.Event
	for _, e := range d.Events {
		if t, ok := eventTime(e); ok && !end.IsZero() && t.After(end) {
			continue
		}
		ev = append(ev, e)
	}
	// Oldest first, as the schema says; be sure of it (unparsable times
	// sort first).
	slices.SortStableFunc(ev, func(a, b schema.Event) int {
		ta, _ := eventTime(a)
		tb, _ := eventTime(b)
		return ta.Compare(tb)
	})
	if n > 0 && len(ev) > n {
		return ev[len(ev)-n:], len(ev) - n
	}
	return ev, 0
}

// windowEnd is the end of the window, or the dump's time without one.
func windowEnd(d *Dump) time.Time {
	if !d.Window.End.IsZero() {
		return d.Window.End
	}
	return d.Time
}

func eventTime(e schema.Event) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, e.Time)
	return t, err == nil
}

// isAlloc reports whether e is an allocation: mmap, brk, mremap, mprotect.
func isAlloc(e schema.Event) bool {
	switch e.Type {
	case "mmap", "brk", "mremap", "mprotect":
		return e.Alloc != nil
	}
	return false
}

// allocSize is the size of an allocation event: its length, or for a brk
// without one the size of the change.
func allocSize(e schema.Event) uint64 {
	if e.Alloc == nil {
		return 0
	}
	if e.Len == 0 && e.Delta != 0 {
		if e.Delta < 0 {
			return uint64(-e.Delta)
		}
		return uint64(e.Delta)
	}
	return e.Len
}

// eventSize prints the size column of an event.
func eventSize(e schema.Event) string {
	if e.Alloc == nil {
		return ""
	}
	if n := allocSize(e); n > 0 {
		return units.Bytes(n)
	}
	return "0B"
}

// eventDetail prints what else matters about an event, sanitized.
func eventDetail(e schema.Event) string {
	var parts []string
	if a := e.Alloc; a != nil {
		if e.Type == "mremap" && a.OldLen > 0 {
			parts = append(parts, "from "+units.Bytes(a.OldLen))
		}
		if a.Delta != 0 && e.Type != "mmap" {
			parts = append(parts, "delta "+units.SignedBytes(a.Delta))
		}
	}
	if p := e.Proc; p != nil {
		if p.PPID != 0 {
			parts = append(parts, fmt.Sprintf("ppid %d", p.PPID))
		}
		if p.Filename != "" {
			parts = append(parts, safe.Text(p.Filename))
		}
		if p.ExitCode != nil {
			parts = append(parts, fmt.Sprintf("exit %d", *p.ExitCode))
		}
	}
	if v := e.Victim; v != nil {
		s := fmt.Sprintf("killed %d %s", v.PID, safe.Text(v.Comm))
		if v.MemcgPath != "" {
			s += " in " + safe.Text(v.MemcgPath)
		}
		parts = append(parts, s)
	}
	if t := e.Trigger; t != nil && e.Victim != nil {
		parts = append(parts, fmt.Sprintf("by %d %s", t.PID, safe.Text(t.Comm)))
	}
	return strings.Join(parts, ", ")
}

// eventClock prints an event's time of day, or its raw (sanitized) text.
func eventClock(e schema.Event) string {
	if t, ok := eventTime(e); ok {
		return t.UTC().Format("15:04:05.000")
	}
	return clip(safe.Text(e.Time), 24)
}

// dur prints seconds as a Go duration rounded to the second: 2m10s.
func dur(sec float64) string {
	switch {
	case math.IsNaN(sec):
		return "?"
	case sec >= 1e6*3600:
		return "never"
	case sec <= -1e6*3600:
		return "-"
	}
	return (time.Duration(math.Round(sec)) * time.Second).String()
}

// rate prints a growth in bytes per second: +1.5MiB/s.
func rate(bps float64) string {
	if math.IsNaN(bps) || math.IsInf(bps, 0) {
		return "?"
	}
	return units.Rate(bps, math.MaxInt64/2) + "/s"
}

// pct prints a PSI percentage.
func pct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "?"
	}
	return fmt.Sprintf("%.2f", f)
}

// flags prints a service's markers.
func flags(s Service) string {
	var f []string
	if s.Victim {
		f = append(f, "VICTIM")
	}
	if s.LeakSuspect {
		f = append(f, "LEAK?")
	}
	if s.OOMKills > 0 && !s.Victim {
		f = append(f, fmt.Sprintf("KILLED×%d", s.OOMKills))
	} else if s.OOMKills > 1 {
		f = append(f, fmt.Sprintf("×%d", s.OOMKills))
	}
	return strings.Join(f, " ")
}

// constraint prints a kill's constraint, saying when it was inferred.
func constraint(k Kill) string {
	c := orNone(k.Constraint)
	if k.ConstraintInferred {
		c += " (inferred from the victim's memcg; the kernel printed none)"
	}
	return c
}

// orNone prints s sanitized, or "-" when empty.
func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return safe.Text(s)
}

// clip cuts s to at most n runes, marking the cut with "~".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "~"
}

// lostEvents prints the lost-event counts: "none", or "mmap 12, brk 3".
func lostEvents(d *Dump) string {
	m := d.LostEvents
	if len(m) == 0 {
		m = d.System.Lost
	}
	var parts []string
	var total uint64
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", safe.Text(k), m[k]))
			total += m[k]
		}
	}
	if len(parts) == 0 {
		if d.System.LostEvents > 0 {
			return fmt.Sprintf("%d", d.System.LostEvents)
		}
		return "none"
	}
	return strings.Join(parts, ", ")
}

// window is the length of the dump's window.
func window(d *Dump) time.Duration {
	if d.Window.Start.IsZero() || d.Window.End.IsZero() || d.Window.End.Before(d.Window.Start) {
		return 0
	}
	return d.Window.End.Sub(d.Window.Start).Round(time.Second)
}

// warning prints a time-to-OOM estimate: "OOM expected in 2m10s in /a/b,
// driven by nova-api", marked partial while its growth fit covers less
// than 80% of its minute.
func warning(w *aggregate.TimeToOOM) string {
	where := "the system"
	if w.Domain != "" && w.Domain != "system" {
		where = safe.Text(w.Domain)
	}
	when := dur(w.Seconds)
	if !w.Covered {
		when += "~"
	}
	s := fmt.Sprintf("OOM expected in %s in %s", when, where)
	if w.Service != "" {
		s += ", driven by " + safe.Text(w.Service)
	}
	if !w.Covered && w.GrowthSpanS > 0 { // a dump from before the span was written has none
		s += " (growth over the last " + dur(w.GrowthSpanS) + " only)"
	}
	return s
}

// unexplained prints used memory that no service's PSS accounts for, or
// "-" and why not while that is not a fact (PSS not read yet, or negative).
func unexplained(s aggregate.System) string {
	if why := s.UnexplainedPartial(); why != "" {
		return "- (" + why + ")"
	}
	return units.Level(s.UnexplainedBytes) + " (used memory that no service's PSS accounts for)"
}

// sysGrowth prints the system's one-minute growth, marked partial while the
// fit covers less than 80% of its minute.
func sysGrowth(s aggregate.System) string {
	if !s.GrowthCovered {
		return rate(s.GrowthBytesPerS) + "~ (over the last " + dur(s.GrowthSpanS) + " only)"
	}
	return rate(s.GrowthBytesPerS)
}

// command prints a run's command line, sanitized, quoting words with spaces.
func command(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		a = safe.Text(a)
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
