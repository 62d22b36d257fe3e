package units

import (
	"math"
	"testing"
)

func TestParseBytes(t *testing.T) {
	good := map[string]uint64{
		"0": 0, "4096": 4096, "64K": 64 << 10, "64k": 64 << 10, "1MiB": 1 << 20, "1.5G": 3 << 29,
		"2MB": 2_000_000, "1 GiB": 1 << 30, " 8m ": 8 << 20, "100b": 100,
	}
	for in, want := range good {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1", "1X", "NaN", "Inf", "1e300T", "M", "1..2K"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 1536: "1.5KiB", 64 << 20: "64.0MiB", 3 << 40: "3.0TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if SignedBytes(-4096) != "-4.0KiB" || SignedBytes(1<<20) != "+1.0MiB" {
		t.Error("SignedBytes")
	}
}

func TestLevel(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", -1: "-1B", 4096: "4.0KiB", -(1 << 20): "-1.0MiB"} {
		if got := Level(n); got != want {
			t.Errorf("Level(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRate(t *testing.T) {
	for _, c := range []struct {
		bps, bound float64
		want       string
	}{
		{0.49, 1e9, "0B"}, {-0.49, 1e9, "0B"}, {0.5, 1e9, "+1B"}, {-1536, 1e9, "-1.5KiB"},
		{1.5 * (1 << 20), 1e9, "+1.5MiB"},
		{1 << 40, 1 << 30, "+1.0GiB"}, {math.Inf(-1), 1 << 30, "-1.0GiB"}, // held within the bound
	} {
		if got := Rate(c.bps, c.bound); got != c.want {
			t.Errorf("Rate(%v, %v) = %q, want %q", c.bps, c.bound, got, c.want)
		}
	}
}
