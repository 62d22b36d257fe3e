package top

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// pssStaleAfter is the PSS age, in seconds, beyond which the figure is marked
// as approximate.
const pssStaleAfter = 30

// maxNameWidth caps the SERVICE column of the batch table.
const maxNameWidth = 40

// fmtDuration prints seconds compactly: 42s, 4m10s, 3h05m, 2d04h.
func fmtDuration(sec float64) string {
	switch {
	case math.IsNaN(sec):
		return "?"
	case sec < 0.5:
		return "0s"
	case sec >= 100*24*3600:
		return ">99d"
	}
	d := time.Duration(math.Round(sec)) * time.Second
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h >= 48:
		return fmt.Sprintf("%dd%02dh", h/24, h%24)
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// fmtRate prints a growth rate in bytes per second: +1.5MiB, -4.0KiB, 0B.
func fmtRate(bps float64) string {
	if math.IsNaN(bps) {
		return "0B"
	}
	return units.Rate(bps, math.MaxInt64)
}

// fmtUnexplained prints used memory that no PSS accounts for, or "-" and
// why not while it is not a fact (PSS not read yet, or negative).
func fmtUnexplained(sys aggregate.System) string {
	if why := sys.UnexplainedPartial(); why != "" {
		return "- (" + why + ")"
	}
	return units.Level(sys.UnexplainedBytes)
}

// approx marks a figure that is estimated or partial.
const approx = "~"

// fmtSmaps prints a PSS or USS figure (one smaps_rollup reading gives both),
// with "~" when it is estimated from RSS (age < 0: not read yet) or older
// than pssStaleAfter seconds.
func fmtSmaps(b uint64, age float64) string {
	s := units.Bytes(b)
	if age < 0 || age > pssStaleAfter {
		s += approx
	}
	return s
}

// fmtGrowth prints the growth over a window: "-" while the fit spans no
// more than the next shorter window (0 for the first), since it is then that
// window's figure (or none); with "~" while it covers less than 80% of its
// own window.
func fmtGrowth(bps float64, covered bool, spanS float64, shorter time.Duration) string {
	if spanS <= shorter.Seconds() {
		return "-"
	}
	s := fmtRate(bps)
	if !covered {
		s += approx
	}
	return s
}

// fmtCount prints a per-second count: 0.5, 42, 1.2k, 3.4M.
func fmtCount(v float64) string {
	switch {
	case math.IsNaN(v) || v < 0:
		return "?"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v < 10_000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 10_000_000:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
}

// perSecond appends "/s" to a rate, not to "-".
func perSecond(s string) string {
	if s == "-" {
		return s
	}
	return s + "/s"
}

// fmtTTO prints a service's time to OOM, or "-"; with "~" when the growth
// behind it covers less than 80% of its minute.
func fmtTTO(s *float64, covered bool) string {
	if s == nil {
		return "-"
	}
	if !covered {
		return fmtDuration(*s) + approx
	}
	return fmtDuration(*s)
}

// flags are a service's markers: LEAK? for a leak suspect, OOM! after a kill.
func flags(s aggregate.Service) []string {
	var out []string
	if s.LeakSuspect {
		out = append(out, "LEAK?")
	}
	if s.OOMKills > 0 {
		out = append(out, "OOM!")
	}
	return out
}

// ttoSentence is the system's time-to-OOM estimate:
// "OOM in 4m10s (domain /a/b, driven by nova-api)".
func ttoSentence(t *aggregate.TimeToOOM) string {
	if t == nil {
		return ""
	}
	s := "OOM in " + fmtTTO(&t.Seconds, t.Covered) + " (domain " + safe.Text(t.Domain)
	if t.Service != "" {
		s += ", driven by " + safe.Text(t.Service)
	}
	return s + ")"
}

// ttoDetail is the figures behind the estimate: "1.0GiB left at +4.0MiB/s",
// and "(over the last 3s only)" when that growth covers less than 80% of
// its minute.
func ttoDetail(t *aggregate.TimeToOOM) string {
	s := units.Bytes(t.Headroom) + " left at " + fmtRate(t.Growth) + "/s"
	if !t.Covered {
		s += " (over the last " + fmtDuration(t.GrowthSpanS) + " only)"
	}
	return s
}

// psiText is "some 1.23% full 0.45%" (avg10), or "" without PSI.
func psiText(p *aggregate.PSI) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("some %.2f%% full %.2f%%", p.Some10, p.Full10)
}

// lostText is "12 (alloc 10, exit 2)"; the per-type part lists only the
// non-zero counts.
func lostText(sys aggregate.System) string {
	s := strconv.FormatUint(sys.LostEvents, 10)
	var parts []string
	for _, t := range sortedKeys(sys.Lost) {
		if n := sys.Lost[t]; n > 0 {
			parts = append(parts, safe.Text(t)+" "+strconv.FormatUint(n, 10))
		}
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// truncate cuts s to at most w terminal cells, ending with "…" when cut.
// s may hold lipgloss styling.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// width is the number of terminal cells s takes.
func width(s string) int { return ansi.StringWidth(s) }

// pad fills s with spaces to w cells, on the right (left-aligned) or on the
// left (right-aligned).
func pad(s string, w int, left bool) string {
	n := w - width(s)
	if n <= 0 {
		return s
	}
	if left {
		return s + strings.Repeat(" ", n)
	}
	return strings.Repeat(" ", n) + s
}

// wrap lays items out on as few lines of at most w cells as it can, sep
// between items on a line; an item wider than a line is cut.
func wrap(items []string, sep string, w int) []string {
	var lines []string
	cur := ""
	for _, it := range items {
		if it == "" {
			continue
		}
		switch {
		case cur == "":
			cur = it
		case width(cur)+width(sep)+width(it) <= w:
			cur += sep + it
		default:
			lines = append(lines, truncate(cur, w))
			cur = it
		}
	}
	if cur != "" {
		lines = append(lines, truncate(cur, w))
	}
	return lines
}
