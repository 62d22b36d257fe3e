package e2e

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// Three multi-process services with known sizes, one growing. `top --json`
// must group every worker with its master, report RSS and PSS within 2% of
// what /proc says at the same moment, and rank and flag the growing one.
func TestTopServicesAgainstProc(t *testing.T) {
	testutil.NeedRoot(t)
	want := map[string][]int{
		"svc-steady": testutil.StartService(t, "svc-steady", 3, 20, 0),
		"svc-grow":   testutil.StartService(t, "svc-grow", 1, 10, 4),
		"svc-small":  testutil.StartService(t, "svc-small", 0, 5, 0),
	}
	var last aggregate.Snapshot
	args := []string{"-d", "500ms", "-n", "14", "--pss-interval", "0", "--leak-window", "5s", "--sort", "growth"}
	lines := topJSON(t, args, func(lines int, line []byte, snap aggregate.Snapshot) bool {
		requiredFields(t, lines, line)
		// Ground truth, read right after the snapshot.
		for _, s := range snap.Services {
			pids, ok := want[s.Name]
			if !ok {
				continue
			}
			var rss, pss uint64
			for _, p := range pids {
				r, ps := smapsRollup(t, p)
				rss += r
				pss += ps
			}
			// svc-grow's master touches 0.4 MiB each 100 ms, so it has grown
			// since the tick began: allow 4 MiB/s for the time since then,
			// and the step in flight.
			var slack, pssSlack uint64
			lag := time.Since(snap.Time)
			if s.Name == "svc-grow" {
				slack = uint64(lag.Seconds()*float64(4<<20)) + 512<<10
				pssSlack = slack + uint64(max(s.PSSAgeS, 0)*float64(4<<20))
			}
			// A PSS not read yet is marked (pss_age_s -1) and RSS stands in.
			if !near(s.RSS, rss, slack) || s.PSSAgeS >= 0 && !near(s.PSS, pss, pssSlack) {
				t.Errorf("snapshot %d, %s: rss %d pss %d (age %.1fs); /proc says %d and %d %v after the tick began", lines, s.Name, s.RSS, s.PSS, s.PSSAgeS, rss, pss, lag.Round(time.Millisecond))
			}
			if lines > 2 && s.PSSAgeS < 0 {
				t.Errorf("snapshot %d, %s: PSS still not read", lines, s.Name)
			}
		}
		last = snap
		return true
	})
	if lines != 14 {
		t.Errorf("%d snapshots, want 14", lines)
	}
	got := map[string]aggregate.Service{}
	for _, s := range last.Services {
		got[s.Name] = s
	}
	for name, pids := range want {
		s, ok := got[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		sort.Ints(pids)
		if s.Procs != len(pids) || !slices.Equal(s.PIDs, pids) {
			t.Errorf("%s has pids %v, want master and workers %v", name, s.PIDs, pids)
		}
		if s.Kind != "tree" {
			t.Errorf("%s kind %s, want tree", name, s.Kind)
		}
		if name == "svc-grow" != s.LeakSuspect {
			t.Errorf("%s leak_suspect=%v growth=%.0f B/s", name, s.LeakSuspect, s.Growth)
		}
	}
	// 8 MiB shared by four processes: PSS counts it once, RSS four times.
	if s := got["svc-steady"]; s.RSS-s.PSS < 20<<20 {
		t.Errorf("svc-steady rss %d pss %d: the shared 8 MiB should be counted once in PSS", s.RSS, s.PSS)
	}
	if g := got["svc-grow"].Growth; g < 3<<20 || g > 5<<20 {
		t.Errorf("svc-grow growth %.0f B/s, want about 4 MiB/s", g)
	}
	// --sort growth: svc-grow comes before the other two. (Unrelated
	// processes on the machine, a compiler say, may grow faster still.)
	var order []string
	for _, s := range last.Services {
		if _, ok := want[s.Name]; ok {
			order = append(order, s.Name)
		}
	}
	if len(order) != 3 || order[0] != "svc-grow" {
		t.Errorf("by growth the test services come as %v, want svc-grow first", order)
	}
}

// requiredFields checks a --json line as a script sees it, decoded into a
// plain map: the fields the issue requires, by name.
func requiredFields(t *testing.T, n int, line []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("line %d: %v", n, err)
	}
	for _, f := range []string{"time", "system", "services"} {
		if m[f] == nil {
			t.Errorf("line %d has no %q", n, f)
		}
	}
	svcs, _ := m["services"].([]any)
	if len(svcs) == 0 {
		t.Fatalf("line %d: no services: %.200s", n, line)
	}
	for _, s := range svcs {
		svc, _ := s.(map[string]any)
		for _, f := range []string{"name", "procs", "pids", "rss_bytes", "pss_bytes", "uss_bytes", "anon_bytes",
			"file_bytes", "shmem_bytes", "swap_bytes", "mmap_bytes", "brk_bytes", "growth_bytes_per_s", "leak_suspect", "oom_kills"} {
			if _, ok := svc[f]; !ok {
				t.Errorf("line %d: service %q has no %q", n, svc["name"], f)
			}
		}
		if _, ok := svc["pids"].([]any); !ok {
			t.Errorf("line %d: service %q: pids %v is not a list", n, svc["name"], svc["pids"])
		}
	}
}
