package history

import (
	"runtime"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/tracer"
)

// A sampled call is an event with the stack copy the tracer took (up to
// 32 KiB): the event ring holds it within the 352 bytes an event is
// budgeted, so a ring full of sampled calls stays in the history's budget.
func TestSampledEventsInBudget(t *testing.T) {
	const n = 2000
	var ms runtime.MemStats
	heap := func() uint64 { runtime.GC(); runtime.ReadMemStats(&ms); return ms.HeapAlloc }
	before := heap()
	h := New(Config{MaxEvents: n, MaxLifecycle: 1})
	t0 := time.Unix(1_700_000_000, 0)
	for i := range n {
		h.AddEvent(&tracer.Event{Type: tracer.EventMmap, PID: 42, Time: t0.Add(time.Duration(i) * time.Millisecond),
			Alloc: tracer.Alloc{Len: 1 << 20}, Sample: &tracer.Sample{Weight: 512 << 10,
				Stack: make([]byte, 32<<10), FramePointers: make([]uint64, 64)}})
	}
	used := heap() - before
	t.Logf("%d sampled events: heap grew %d bytes", n, used)
	if used > n*352 {
		t.Errorf("%d sampled events hold %d bytes, over the %d budgeted", n, used, n*352)
	}
	if evs := h.Events(t0, t0.Add(time.Hour)); len(evs) != n || evs[0].Alloc.Len != 1<<20 {
		t.Errorf("%d events kept, want %d with their sizes", len(evs), n)
	}
	runtime.KeepAlive(h)
}
