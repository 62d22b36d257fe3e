package aggregate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/cgroup"
)

// A limit on a parent cgroup (a slice's MemoryMax, a pod) bounds the
// services below it: the parent is a domain, and each service's time to OOM
// is the soonest over the domains above it.
func TestMemcgDomainsIncludeParents(t *testing.T) {
	root := t.TempDir()
	h := cgroup.Hierarchy{Version: 1, Mount: root}
	set := func(path string, limit, usage uint64) {
		dir := h.Dir(path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		l := "9223372036854771712"
		if limit > 0 {
			l = fmt.Sprint(limit)
		}
		for name, v := range map[string]string{
			"memory.limit_in_bytes": l,
			"memory.usage_in_bytes": fmt.Sprint(usage),
			"memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := newFake()
	f.add(1, 0, 1, "systemd", []string{"/sbin/init"}, 1<<20)
	f.add(10, 1, 10, "alpha", []string{"alpha"}, 8<<20)
	f.add(20, 1, 20, "beta", []string{"beta"}, 8<<20)
	in := f.info[10]
	in.Memcg = "/slice/a" // no limit of its own
	f.info[10] = in
	in = f.info[20]
	in.Memcg = "/slice/b" // a loose limit of its own
	f.info[20] = in
	a := New(Config{Interval: time.Second, PSSInterval: -1, Cgroups: &h}, f, fakeCounters{})

	t0 := time.Unix(1_700_000_000, 0)
	var snap Snapshot
	for i := range 60 {
		used := uint64(100<<20 + i<<20) // the slice grows 1 MiB/s towards 400 MiB
		set("/slice", 400<<20, used)
		set("/slice/a", 0, used-(20<<20))
		set("/slice/b", 2<<30, 20<<20)
		f.sys.Available -= 1 << 20
		var err error
		if snap, err = a.Tick(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	var slice *MemcgDomain
	for i, d := range snap.System.Memcgs {
		if d.Path == "/slice" {
			slice = &snap.System.Memcgs[i]
		}
		if d.Path == "/slice/a" {
			t.Errorf("/slice/a has no limit but is a domain: %+v", d)
		}
	}
	if slice == nil || slice.LimitBytes != 400<<20 || slice.TimeToOOM == nil {
		t.Fatalf("the parent's limit is not a domain: %+v", snap.System.Memcgs)
	}
	// 400 - 159 MiB left at 1 MiB/s.
	if s := slice.TimeToOOM.Seconds; s < 235 || s > 247 {
		t.Errorf("/slice time to OOM %.0f s, want about 241", s)
	}
	for _, name := range []string{"alpha", "beta"} {
		s := find(t, snap, name)
		if s.TimeToOOMS == nil || *s.TimeToOOMS != slice.TimeToOOM.Seconds {
			t.Errorf("%s: time to OOM %v, want the slice's %.0f s", name, s.TimeToOOMS, slice.TimeToOOM.Seconds)
		}
	}
	if b := find(t, snap, "beta"); b.Memcg == nil || b.Memcg.Path != "/slice/b" || b.Memcg.LimitBytes != 2<<30 {
		t.Errorf("beta's own memcg: %+v", b.Memcg)
	}
	if snap.System.TimeToOOM == nil || snap.System.TimeToOOM.Domain != "/slice" {
		t.Errorf("soonest domain %+v, want /slice", snap.System.TimeToOOM)
	}
	// The system's own estimate stays visible behind the sooner slice.
	if e := snap.System.SystemTimeToOOM; e == nil || e.Domain != "system" {
		t.Errorf("system estimate %+v", e)
	}
}
