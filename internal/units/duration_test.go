package units

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"1", time.Second},
		{" 2 ", 2 * time.Second},
		{"0", 0},
		{"0.5", 500 * time.Millisecond},
		{".25", 250 * time.Millisecond},
		{"3.", 3 * time.Second},
		{"-1", -time.Second},
		{"1s", time.Second},
		{"200ms", 200 * time.Millisecond},
		{"1m30s", 90 * time.Second},
		{"2h", 2 * time.Hour},
		{"0.000000001", time.Nanosecond},
		{"9223372036", 9223372036 * time.Second},
	} {
		got, err := ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", " ", "s", "1x", "1e3", "0x10", "Inf", "NaN", "1_000", "1..2", "1.2.3", "--1", "9223372037", "1e400", "+", "."} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

// FuzzParseDuration: never a panic; a bare number is that many seconds, and
// what is accepted prints back as itself.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1", "0.5", "200ms", "1m30s", "-1", "1e3", "9223372037", "Inf", ".", "1.5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, which reads back as %v, %v", s, d, back, err)
		}
	})
}
