package metrics

import (
	"fmt"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/tracer"
)

func TestExporterSeries(t *testing.T) {
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	_, fams := scrape(t, e.Handler())

	const mib = 1 << 20
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"oomtrace_service_rss_bytes", svc("web", "unit"), 400 * mib},
		{"oomtrace_service_pss_bytes", svc("web", "unit"), 300 * mib},
		{"oomtrace_service_uss_bytes", svc("web", "unit"), 200 * mib},
		{"oomtrace_service_anon_bytes", svc("web", "unit"), 350 * mib},
		{"oomtrace_service_file_bytes", svc("web", "unit"), 40 * mib},
		{"oomtrace_service_shmem_bytes", svc("web", "unit"), 10 * mib},
		{"oomtrace_service_swap_bytes", svc("web", "unit"), 1 * mib},
		{"oomtrace_service_processes", svc("web", "unit"), 4},
		{"oomtrace_service_leak_suspect", svc("web", "unit"), 1},
		{"oomtrace_service_leak_suspect", svc("db", "container"), 0},
		{"oomtrace_service_mmap_bytes", svc("web", "unit"), 500 * mib},
		{"oomtrace_service_brk_bytes", svc("web", "unit"), -4096},
		{"oomtrace_service_mremap_bytes", svc("web", "unit"), 8192},
		{"oomtrace_service_mprotect_writable_bytes", svc("web", "unit"), 65536},
		{"oomtrace_service_memory_syscalls_per_second", svc("web", "unit"), 12},
		{"oomtrace_service_pss_age_seconds", svc("web", "unit"), 2.5},
		{"oomtrace_service_growth_bytes_per_second", map[string]string{"service": "web", "kind": "unit", "window": "1m"}, 100},
		{"oomtrace_service_growth_bytes_per_second", map[string]string{"service": "web", "kind": "unit", "window": "5m"}, 50},
		{"oomtrace_service_growth_bytes_per_second", map[string]string{"service": "web", "kind": "unit", "window": "15m"}, 25},
		{"oomtrace_oom_kills_total", map[string]string{"service": "web"}, 2},
		{"oomtrace_oom_kills_total", map[string]string{"service": "db"}, 0},
		{"oomtrace_service_time_to_oom_seconds", map[string]string{"service": "db"}, 90},
		{"oomtrace_service_rss_bytes", svc(hostileLabel, "comm"), 1 * mib},

		{"oomtrace_last_snapshot_timestamp_seconds", nil, 1_700_000_000.5},
		{"oomtrace_memory_total_bytes", nil, 16 << 30},
		{"oomtrace_memory_available_bytes", nil, 6 << 30},
		{"oomtrace_memory_used_bytes", nil, 10 << 30},
		{"oomtrace_memory_unexplained_bytes", nil, 4096},
		{"oomtrace_memory_growth_bytes_per_second", nil, 1024},
		{"oomtrace_swap_total_bytes", nil, 2 << 30},
		{"oomtrace_swap_free_bytes", nil, 1 << 30},
		{"oomtrace_processes", nil, 42},
		{"oomtrace_system_oom_kills_total", nil, 3},
		{"oomtrace_psi_memory_some_ratio", map[string]string{"window": "10s"}, 0.125},
		{"oomtrace_psi_memory_some_ratio", map[string]string{"window": "60s"}, 0.05},
		{"oomtrace_psi_memory_some_ratio", map[string]string{"window": "300s"}, 0.01},
		{"oomtrace_psi_memory_full_ratio", map[string]string{"window": "10s"}, 0.025},
		{"oomtrace_psi_memory_full_ratio", map[string]string{"window": "300s"}, 0.0025},
		{"oomtrace_time_to_oom_seconds", map[string]string{"domain": "/sys/fs/cgroup/db.slice", "service": "db"}, 90},
		{"oomtrace_memcg_usage_bytes", map[string]string{"memcg": "/sys/fs/cgroup/db.slice"}, 900 * mib},
		{"oomtrace_memcg_limit_bytes", map[string]string{"memcg": "/sys/fs/cgroup/db.slice"}, 1 << 30},
		{"oomtrace_memcg_oom_kills_total", map[string]string{"memcg": "/sys/fs/cgroup/db.slice"}, 1},
		{"oomtrace_memcg_time_to_oom_seconds", map[string]string{"memcg": "/sys/fs/cgroup/db.slice"}, 90},
		{"oomtrace_memcg_limit_bytes", map[string]string{"memcg": "/sys/fs/cgroup/web.slice"}, 2 << 30},
		{"oomtrace_hook_info", map[string]string{"hook": "mmap", "mechanism": "fentry"}, 1},

		{"oomtrace_events_total", map[string]string{"type": "mmap"}, 100},
		{"oomtrace_events_total", map[string]string{"type": "oom_kill"}, 100 * float64(len(tracer.EventTypes()))},
		{"oomtrace_events_lost_total", map[string]string{"type": "munmap", "reason": "ring"}, 1},
		{"oomtrace_events_lost_total", map[string]string{"type": "munmap", "reason": "map"}, 0},
		{"oomtrace_events_undecoded_total", nil, 7},
	} {
		got, ok := series(fams, c.name, c.labels)
		if !ok {
			t.Errorf("%s%v: missing", c.name, c.labels)
		} else if math.Abs(got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// Absent figures stay absent.
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"oomtrace_service_time_to_oom_seconds", map[string]string{"service": "web"}},
		{"oomtrace_service_pss_age_seconds", svc("db", "container")}, // PSS not read yet
		{"oomtrace_memcg_time_to_oom_seconds", map[string]string{"memcg": "/sys/fs/cgroup/web.slice"}},
	} {
		if _, ok := series(fams, c.name, c.labels); ok {
			t.Errorf("%s%v: present, want absent", c.name, c.labels)
		}
	}

	// Counters are typed as counters.
	for _, n := range []string{"oomtrace_oom_kills_total", "oomtrace_system_oom_kills_total", "oomtrace_memcg_oom_kills_total",
		"oomtrace_events_total", "oomtrace_events_lost_total", "oomtrace_events_undecoded_total"} {
		if got := fams[n].GetType().String(); got != "COUNTER" {
			t.Errorf("%s: type %s, want COUNTER", n, got)
		}
	}
	// Labels are bounded by services, never pids.
	if got := labelValues(fams, "pid"); len(got) != 0 {
		t.Errorf("pid label values %q", got)
	}
	if got, want := labelValues(fams, "service"), []string{"db", hostileLabel, "web"}; !slices.Equal(got, want) {
		t.Errorf("service label values %q, want %q", got, want)
	}
}

// The exposition of the hostile name, byte for byte: the client library
// escapes the quote, newline and backslash; Update made it valid UTF-8.
// Unexplained memory that is not a fact (negative, or RSS standing in for
// PSS not read yet) is not exported.
func TestExporterUnexplainedPartial(t *testing.T) {
	e := New()
	snap, stats := fixture()
	snap.System.UnexplainedBytes, snap.System.UnexplainedCovered = -346<<20, false
	snap.System.PSSUnreadProcs, snap.System.PSSUnreadBytes = 7, 720<<20
	e.Update(snap, stats)
	if _, fams := scrape(t, e.Handler()); fams["oomtrace_memory_unexplained_bytes"] != nil {
		t.Errorf("oomtrace_memory_unexplained_bytes exported while PSS is not read for 7 processes")
	}
}

func TestExporterHostileName(t *testing.T) {
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	want := `
# HELP oomtrace_service_processes Live processes in the service.
# TYPE oomtrace_service_processes gauge
oomtrace_service_processes{kind="container",service="db"} 1
oomtrace_service_processes{kind="comm",service="evil\"q\nnl\\bs` + "\uFFFD\uFFFD\uFFFD" + `}"} 1
oomtrace_service_processes{kind="unit",service="web"} 4
`
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want), "oomtrace_service_processes"); err != nil {
		t.Error(err)
	}
	body, _ := scrape(t, e.Handler())
	if !strings.Contains(body, `service="evil\"q\nnl\\bs`) {
		t.Errorf("escaped hostile name missing from\n%s", body)
	}
}

func TestLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                 "nginx",
		"a\"b\\c\nd\te":         "a\"b\\c\nd\te", // escaped by the library, kept
		"bad\xffutf8\xc3":       "bad\uFFFDutf8\uFFFD",
		"nul\x00esc\x1bdel\x7f": "nul\uFFFDesc\uFFFDdel\uFFFD",
		"日本語":                   "日本語",
		"":                      "",
	} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// Names that sanitize alike are one series, their figures merged.
func TestExporterSanitizedCollision(t *testing.T) {
	e := New()
	e.Update(aggregate.Snapshot{Services: []aggregate.Service{
		{Name: "x\xff", Kind: "comm", Procs: 1, OOMKills: 1, Memory: aggregate.Memory{RSS: 10, PSSAgeS: 3}},
		{Name: "x\xfe", Kind: "comm", Procs: 2, OOMKills: 2, TimeToOOMS: f64(7), Memory: aggregate.Memory{RSS: 20, PSSAgeS: 5}},
	}}, tracer.Stats{})
	_, fams := scrape(t, e.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"oomtrace_service_rss_bytes", svc("x\uFFFD", "comm"), 30},
		{"oomtrace_service_processes", svc("x\uFFFD", "comm"), 3},
		{"oomtrace_service_pss_age_seconds", svc("x\uFFFD", "comm"), 5},
		{"oomtrace_oom_kills_total", map[string]string{"service": "x\uFFFD"}, 3},
		{"oomtrace_service_time_to_oom_seconds", map[string]string{"service": "x\uFFFD"}, 7},
	} {
		if got, ok := series(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if n := len(fams["oomtrace_service_rss_bytes"].GetMetric()); n != 1 {
		t.Errorf("%d rss series, want 1", n)
	}
	// No stats given: no tracer series.
	for _, n := range []string{"oomtrace_events_total", "oomtrace_events_lost_total", "oomtrace_events_undecoded_total"} {
		if fams[n] != nil {
			t.Errorf("%s present without stats", n)
		}
	}
}

func TestExporterVanishedService(t *testing.T) {
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	_, fams := scrape(t, e.Handler())
	if _, ok := series(fams, "oomtrace_oom_kills_total", map[string]string{"service": "web"}); !ok {
		t.Fatal("web missing before it vanished")
	}

	// web's processes are gone, and so is its memory cgroup, PSI and the
	// system's time to OOM.
	snap2, _ := fixture()
	snap2.Services = slices.DeleteFunc(snap2.Services, func(s aggregate.Service) bool { return s.Name == "web" })
	snap2.System.Memcgs = snap2.System.Memcgs[:1]
	snap2.System.PSI, snap2.System.TimeToOOM = nil, nil
	e.Update(snap2, stats)
	_, fams = scrape(t, e.Handler())
	if got, want := labelValues(fams, "service"), []string{"db", hostileLabel}; !slices.Equal(got, want) {
		t.Errorf("service label values %q, want %q", got, want)
	}
	if got, want := labelValues(fams, "memcg"), []string{"/sys/fs/cgroup/db.slice"}; !slices.Equal(got, want) {
		t.Errorf("memcg label values %q, want %q", got, want)
	}
	for _, n := range []string{"oomtrace_psi_memory_some_ratio", "oomtrace_psi_memory_full_ratio", "oomtrace_time_to_oom_seconds"} {
		if fams[n] != nil {
			t.Errorf("%s still exported", n)
		}
	}
}

func TestExporterBeforeUpdate(t *testing.T) {
	_, fams := scrape(t, New().Handler())
	for n := range fams {
		if strings.HasPrefix(n, "oomtrace_") {
			t.Errorf("%s exported before the first Update", n)
		}
	}
	// oomtrace's own process and runtime.
	for _, n := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "go_goroutines", "go_memstats_heap_alloc_bytes"} {
		if fams[n] == nil {
			t.Errorf("%s missing", n)
		}
	}
}

// Update keeps no reference into the snapshot or the stats.
func TestExporterCopies(t *testing.T) {
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	snap.Services[0].Name, snap.Services[0].RSS = "changed", 1
	*snap.Services[1].TimeToOOMS = 1
	snap.System.Memcgs[0].Path = "changed"
	snap.System.PSI.Some10 = 99
	snap.System.Hooks["mmap"] = "changed"
	stats.Received[tracer.EventMmap] = 1
	_, fams := scrape(t, e.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"oomtrace_service_rss_bytes", svc("web", "unit"), 400 << 20},
		{"oomtrace_service_time_to_oom_seconds", map[string]string{"service": "db"}, 90},
		{"oomtrace_memcg_usage_bytes", map[string]string{"memcg": "/sys/fs/cgroup/db.slice"}, 900 << 20},
		{"oomtrace_psi_memory_some_ratio", map[string]string{"window": "10s"}, 0.125},
		{"oomtrace_hook_info", map[string]string{"hook": "mmap", "mechanism": "fentry"}, 1},
		{"oomtrace_events_total", map[string]string{"type": "mmap"}, 100},
	} {
		if got, ok := series(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

func TestExporterConcurrent(t *testing.T) {
	e := New()
	snap, stats := fixture()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 50 {
				s := snap
				s.System.Procs = i*100 + j
				e.Update(s, stats)
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				rec := httptest.NewRecorder()
				e.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				if rec.Code != 200 {
					t.Errorf("status %d", rec.Code)
				}
			}
		}()
	}
	wg.Wait()
}

// Many services: the series stay bounded, the ones with OOM kills and the
// largest are kept, and the rest are summed, not dropped.
func TestExporterCapsServices(t *testing.T) {
	e := New()
	var svcs []aggregate.Service
	total := uint64(0)
	for i := range 2000 {
		s := aggregate.Service{Name: fmt.Sprintf("svc-%04d", i), Kind: "comm", Procs: 1, Memory: aggregate.Memory{RSS: uint64(i+1) << 20}}
		if i == 7 {
			s.OOMKills = 1 // small, but killed: kept
		}
		total += s.RSS
		svcs = append(svcs, s)
	}
	svcs = append(svcs, aggregate.Service{Name: otherServices, Kind: "comm", Procs: 1, Memory: aggregate.Memory{RSS: 1 << 20}}) // a hostile look-alike
	total += 1 << 20
	e.Update(aggregate.Snapshot{Services: svcs}, tracer.Stats{})
	_, fams := scrape(t, e.Handler())
	rss := fams["oomtrace_service_rss_bytes"].GetMetric()
	if len(rss) != MaxServiceSeries {
		t.Fatalf("%d rss series, want %d", len(rss), MaxServiceSeries)
	}
	var sum float64
	for _, m := range rss {
		sum += m.GetGauge().GetValue()
	}
	if uint64(sum) != total {
		t.Errorf("rss sums to %.0f, want %d: the capped services were dropped", sum, total)
	}
	for _, c := range []struct {
		name string
		kind string
	}{{"svc-0007", "comm"}, {"svc-1999", "comm"}, {otherServices, "other"}} {
		if _, ok := series(fams, "oomtrace_service_rss_bytes", svc(c.name, c.kind)); !ok {
			t.Errorf("no series for %s", c.name)
		}
	}
	if _, ok := series(fams, "oomtrace_service_rss_bytes", svc("svc-0008", "comm")); ok {
		t.Error("a small service without kills kept over larger ones")
	}
}
