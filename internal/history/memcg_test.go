package history

import (
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// A memcg's samples come back exact (the kernel's page-sized figures) and
// in [start, end]; beyond MaxMemcgs a cgroup closer to its limit replaces
// the one furthest from its own, and one further from its limit is not kept.
func TestMemcgSeries(t *testing.T) {
	h := New(Config{MaxMemcgs: 2})
	t0 := time.Unix(1_700_000_000, 0)
	dom := func(path string, usage, limit uint64) aggregate.MemcgDomain {
		return aggregate.MemcgDomain{Path: path, UsageBytes: usage, LimitBytes: limit, SwapBytes: 3 << 12, SwapLimitBytes: 1 << 30}
	}
	for i := range 5 {
		s := snap(t0.Add(time.Duration(i)*time.Second), aggregate.Service{Name: "a", Procs: 1})
		s.System.Memcgs = []aggregate.MemcgDomain{dom("/half", 50<<20, 100<<20), dom("/near", uint64(90+i)<<20+4096, 100<<20)}
		h.Add(s)
	}
	got := h.Memcg("/near", t0.Add(time.Second), t0.Add(3*time.Second))
	if len(got) != 3 || !got[0].Time.Equal(t0.Add(time.Second)) || got[2].Usage != 93<<20+4096 || got[2].Limit != 100<<20 ||
		got[2].Swap != 3<<12 || got[2].SwapLimit != 1<<30 {
		t.Fatalf("/near in [1s, 3s]: %+v", got)
	}
	// A third cgroup, fuller than /half, takes its place; an emptier one does not.
	s := snap(t0.Add(5*time.Second), aggregate.Service{Name: "a", Procs: 1})
	s.System.Memcgs = []aggregate.MemcgDomain{dom("/half", 50<<20, 100<<20), dom("/near", 95<<20, 100<<20), dom("/full", 99<<20, 100<<20), dom("/empty", 1<<20, 100<<20)}
	h.Add(s)
	if h.Memcg("/full", t0, t0.Add(time.Hour)) == nil || h.Memcg("/half", t0, t0.Add(time.Hour)) != nil ||
		h.Memcg("/empty", t0, t0.Add(time.Hour)) != nil || len(h.Memcg("/near", t0, t0.Add(time.Hour))) != 6 {
		t.Errorf("kept %v; want /near and /full", len(h.memcgs))
	}
	// Unlimited cgroups are not kept.
	s = snap(t0.Add(6 * time.Second))
	s.System.Memcgs = []aggregate.MemcgDomain{{Path: "/nolimit", UsageBytes: 1 << 20}}
	h.Add(s)
	if h.Memcg("/nolimit", t0, t0.Add(time.Hour)) != nil {
		t.Error("an unlimited cgroup is kept")
	}
}

// A process's service is remembered for at least one generation after it
// was last seen, and forgotten after two.
func TestServiceOfPID(t *testing.T) {
	h := New(Config{})
	t0 := time.Unix(1_700_000_000, 0)
	h.Add(snap(t0, aggregate.Service{Name: "web", Procs: 2, PIDs: []int{10, 11}}))
	h.Add(snap(t0.Add(pidGen), aggregate.Service{Name: "web", Procs: 1, PIDs: []int{10}}))
	if h.ServiceOfPID(11) != "web" || h.ServiceOfPID(10) != "web" || h.ServiceOfPID(12) != "" {
		t.Errorf("after one generation: 11 %q, 10 %q, 12 %q", h.ServiceOfPID(11), h.ServiceOfPID(10), h.ServiceOfPID(12))
	}
	h.Add(snap(t0.Add(2*pidGen), aggregate.Service{Name: "web", Procs: 1, PIDs: []int{10}}))
	if h.ServiceOfPID(11) != "" || h.ServiceOfPID(10) != "web" {
		t.Errorf("after two generations: 11 %q, 10 %q", h.ServiceOfPID(11), h.ServiceOfPID(10))
	}
}
