package history

import (
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// A dump's service carries the worker figures of its last snapshot, and a
// service that is gone (an OOM kill took its workers) the figures it had
// while it lived, not the zero it left.
func TestWorkersInDump(t *testing.T) {
	h := New(Config{})
	t0 := time.Unix(1_700_000_000, 0)
	w := aggregate.Workers{Count: 4, USSMean: 20 << 20, USSMax: 22 << 20, Shared: 600 << 20}
	for i := range 5 {
		s := aggregate.Service{Name: "gunicorn", Kind: "tree", Procs: 5, Memory: aggregate.Memory{RSS: 900 << 20}, Workers: w}
		if i == 4 {
			s = aggregate.Service{Name: "gunicorn", Kind: "tree", PIDs: []int{}} // gone
		}
		h.Add(snap(t0.Add(time.Duration(i)*time.Second), s, aggregate.Service{Name: "redis", Kind: "unit", Procs: 1}))
	}
	for _, s := range h.Services(t0, t0.Add(4*time.Second), t0.Add(4*time.Second)) {
		want := w
		if s.Name == "redis" {
			want = aggregate.Workers{}
		}
		if s.Workers != want {
			t.Errorf("%s: workers %+v, want %+v", s.Name, s.Workers, want)
		}
	}
}
