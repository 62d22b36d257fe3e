// Package units parses and prints byte sizes.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var suffixes = []struct {
	s string
	m uint64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"tb", 1000 * 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
}

// ParseBytes reads "4096", "64K", "1MiB", "1.5G" or "2MB" (K, M, G are binary).
func ParseBytes(s string) (uint64, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	mult := uint64(1)
	for _, suf := range suffixes {
		if strings.HasSuffix(in, suf.s) {
			in, mult = strings.TrimSpace(strings.TrimSuffix(in, suf.s)), suf.m
			break
		}
	}
	f, err := strconv.ParseFloat(in, 64)
	if err != nil || in == "" || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid size %q (want a number with an optional K, M, G or T suffix)", s)
	}
	v := f * float64(mult)
	if v >= math.MaxUint64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(v), nil
}

// Bytes prints n in binary units: 512B, 4.0KiB, 1.5MiB.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// SignedBytes prints a signed change: +1.0MiB, -4.0KiB.
func SignedBytes(n int64) string {
	if n < 0 {
		return "-" + Bytes(uint64(-n))
	}
	return "+" + Bytes(uint64(n))
}

// Level prints a signed amount (not a change): 4.0KiB, -1.0MiB.
func Level(n int64) string {
	if n < 0 {
		return "-" + Bytes(uint64(-n))
	}
	return Bytes(uint64(n))
}

// Rate prints a change in bytes per second, without the "/s": +1.5MiB,
// -4.0KiB, or 0B under half a byte. bps is first held within ±bound, the
// caller's choice; it must not be NaN.
func Rate(bps, bound float64) string {
	if math.Abs(bps) < 0.5 {
		return "0B"
	}
	bps = math.Max(math.Min(bps, bound), -bound)
	return SignedBytes(int64(math.Round(bps)))
}
