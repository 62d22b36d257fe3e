package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a duration: a bare number is seconds ("1", "0.5"), as
// top, atop and vmstat take it; anything else is Go's syntax ("200ms",
// "1m30s"). It refuses NaN, infinities and what does not fit a
// time.Duration; the sign is left to the caller.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(in, 64); err == nil && bareNumber(in) {
		secs := f * float64(time.Second)
		if math.IsNaN(f) || math.IsInf(f, 0) || secs >= math.MaxInt64 || secs <= math.MinInt64 {
			return 0, fmt.Errorf("invalid duration %q (out of range)", s)
		}
		return time.Duration(math.Round(secs)), nil
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want seconds, or a number with a unit: 500ms, 10s, 5m, 1h)", s)
	}
	return d, nil
}

// bareNumber: decimal digits with an optional sign and point, so that
// ParseFloat's other spellings ("1e3", "0x10", "Inf", "1_000") are refused.
func bareNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	digits := 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !strings.Contains(s[i+1:], "."):
		default:
			return false
		}
	}
	return digits > 0
}
