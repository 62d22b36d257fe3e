package proc

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Two zones' watermarks sum; the per-node stats and "pages free" lines do not count.
func TestParseZoneinfo(t *testing.T) {
	const text = `Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 58468
      min_slab_ratio 7
  pages free     3840
        boost    0
        min      12
        low      15
        high     18
Node 0, zone   Normal
  pages free     3018810
        min      14290
        low      18549
        high     22808
`
	w, err := parseZoneinfo(strings.NewReader(text), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if w.Min != (12+14290)*4096 || w.Low != (15+18549)*4096 {
		t.Errorf("watermarks %+v, want min %d low %d", w, (12+14290)*4096, (15+18549)*4096)
	}
	if _, err := parseZoneinfo(strings.NewReader("nothing\n"), 4096); err == nil {
		t.Error("no zones: no error")
	}
	if _, err := parseZoneinfo(strings.NewReader("Node 0, zone DMA\n  min x\n"), 4096); err == nil {
		t.Error("a bad number: no error")
	}
}

// The min watermarks add up to vm.min_free_kbytes, from which the kernel
// derives them (plus the few pages of zones it sizes on their own, such as
// Movable: within 1%, or 64 pages).
func TestReadWatermarksMatchesMinFree(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/vm/min_free_kbytes")
	if err != nil {
		t.Skipf("no vm.min_free_kbytes: %v", err)
	}
	kb, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ReadWatermarks()
	if err != nil {
		t.Fatal(err)
	}
	want := kb * 1024
	slack := max(want/100, 64*uint64(os.Getpagesize()))
	if w.Min+slack < want || w.Min > want+slack || w.Low <= w.Min {
		t.Errorf("watermarks %+v; min_free_kbytes says %d bytes", w, want)
	}
}
