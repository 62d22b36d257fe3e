package recorder

import (
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/tracer"
)

// A churn of lifecycle events does not push an early large allocation or an
// OOM kill out of a dump; with little churn, allocations take the room.
func TestTrimEvents(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var evs []tracer.Event
	add := func(typ tracer.EventType, n int) {
		for range n {
			evs = append(evs, tracer.Event{Type: typ, Time: t0.Add(time.Duration(len(evs)) * time.Millisecond)})
		}
	}
	add(tracer.EventMmap, 3)
	add(tracer.EventOOMKill, 1)
	add(tracer.EventFork, 10000)
	add(tracer.EventExit, 10000)
	out := trimEvents(evs, 100)
	count := map[tracer.EventType]int{}
	for i, e := range out {
		count[e.Type]++
		if i > 0 && e.Time.Before(out[i-1].Time) {
			t.Fatal("not in time order")
		}
	}
	if len(out) != 100 || count[tracer.EventMmap] != 3 || count[tracer.EventOOMKill] != 1 || count[tracer.EventExit] != 96 {
		t.Errorf("kept %v of %d", count, len(out))
	}
	evs = nil
	add(tracer.EventFork, 10)
	add(tracer.EventMmap, 500)
	if out := trimEvents(evs, 100); len(out) != 100 || out[0].Type != tracer.EventFork || out[99] != evs[len(evs)-1] {
		t.Errorf("little churn: %d kept, first %v", len(out), out[0].Type)
	}
	if out := trimEvents(evs[:50], 100); len(out) != 50 {
		t.Errorf("under the cap: %d", len(out))
	}
}
