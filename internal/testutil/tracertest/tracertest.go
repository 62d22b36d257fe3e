// Package tracertest holds the helpers of the tests that run the tracer
// against live workloads: the root package's tracer test and e2e. It is apart
// from testutil so that testutil stays importable from the tracer's own tests.
package tracertest

import (
	"sync"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/proc"
	"github.com/oomtrace/oomtrace/tracer"
)

// Collector keeps every event a tracer delivers.
type Collector struct {
	mu  sync.Mutex
	evs []tracer.Event
}

// Start starts a tracer, closed when the test ends, and collects its events.
func Start(t testing.TB, cfg tracer.Config) (*tracer.Tracer, *Collector) {
	t.Helper()
	tr, err := tracer.New(cfg)
	if err != nil {
		t.Fatalf("tracer.New: %+v", err)
	}
	t.Cleanup(func() { tr.Close() })
	if err := tr.Start(t.Context()); err != nil {
		t.Fatalf("tracer.Start: %+v", err)
	}
	c := &Collector{}
	go func() {
		for ev := range tr.Events() {
			c.mu.Lock()
			c.evs = append(c.evs, ev)
			c.mu.Unlock()
		}
	}()
	return tr, c
}

// Events returns the events so far, in the order they were delivered.
func (c *Collector) Events() []tracer.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tracer.Event(nil), c.evs...)
}

// Matching returns the events so far for which pred holds.
func (c *Collector) Matching(pred func(*tracer.Event) bool) []tracer.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []tracer.Event
	for i := range c.evs {
		if pred(&c.evs[i]) {
			out = append(out, c.evs[i])
		}
	}
	return out
}

// WaitFor returns the first event matching pred, failing after timeout.
func (c *Collector) WaitFor(t testing.TB, what string, timeout time.Duration, pred func(*tracer.Event) bool) tracer.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if evs := c.Matching(pred); len(evs) > 0 {
			return evs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Settle waits until no new event matching pred arrived for quiet.
func (c *Collector) Settle(pred func(*tracer.Event) bool, quiet, limit time.Duration) int {
	n, since, end := -1, time.Now(), time.Now().Add(limit)
	for time.Now().Before(end) {
		m := len(c.Matching(pred))
		if m != n {
			n, since = m, time.Now()
		} else if time.Since(since) >= quiet {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// SlotOwners returns the pids that hold a slot of the tracer's table.
func SlotOwners(t testing.TB, tr *tracer.Tracer) []int {
	t.Helper()
	owners, err := tr.SlotOwners()
	if err != nil {
		t.Fatal(err)
	}
	return owners
}

// ProcReader reads the real /proc.
func ProcReader(t testing.TB) *proc.Reader {
	t.Helper()
	pr, err := proc.NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	return pr
}
