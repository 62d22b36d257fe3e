package top

import "strings"

// historyLen is how many RSS readings the TUI keeps per service.
const historyLen = 30

var sparkLevels = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last w values, scaled between their minimum and
// maximum (a flat series is a flat low line), right-aligned in w cells.
func sparkline(vals []uint64, w int) string {
	if w <= 0 {
		return ""
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	if len(vals) == 0 {
		return strings.Repeat(" ", w)
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", w-len(vals)))
	top := len(sparkLevels) - 1
	for _, v := range vals {
		i := 0
		if hi > lo {
			i = int(float64(v-lo) / float64(hi-lo) * float64(top))
		}
		b.WriteRune(sparkLevels[i])
	}
	return b.String()
}

// pushHistory appends v to h, keeping the last historyLen values.
func pushHistory(h []uint64, v uint64) []uint64 {
	if len(h) >= historyLen {
		h = append(h[:0:0], h[len(h)-historyLen+1:]...)
	}
	return append(h, v)
}
