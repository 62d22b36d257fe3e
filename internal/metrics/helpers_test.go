package metrics

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/tracer"
)

// hostile is a process name built to break a naive exposition: quotes, a
// newline, a backslash, invalid UTF-8 and control characters.
const hostile = "evil\"q\nnl\\bs\xff\xfe\x00\x1b}"

// hostileLabel is what hostile becomes as a label value.
const hostileLabel = "evil\"q\nnl\\bs\uFFFD\uFFFD\uFFFD}"

func f64(v float64) *float64 { return &v }

func fixture() (aggregate.Snapshot, tracer.Stats) {
	snap := aggregate.Snapshot{
		Time: time.Unix(1_700_000_000, 500_000_000),
		System: aggregate.System{
			TotalBytes: 16 << 30, AvailableBytes: 6 << 30, UsedBytes: 10 << 30,
			SwapTotalBytes: 2 << 30, SwapFreeBytes: 1 << 30,
			PSI:              &aggregate.PSI{Some10: 12.5, Some60: 5, Some300: 1, Full10: 2.5, Full60: 1, Full300: 0.25},
			UnexplainedBytes: 4096, UnexplainedCovered: true, Procs: 42, OOMKills: 3, GrowthBytesPerS: 1024,
			TimeToOOM: &aggregate.TimeToOOM{Domain: "/sys/fs/cgroup/db.slice", Seconds: 90, Service: "db"},
			Memcgs: []aggregate.MemcgDomain{
				{Path: "/sys/fs/cgroup/db.slice", UsageBytes: 900 << 20, LimitBytes: 1 << 30, OOMKills: 1,
					TimeToOOM: &aggregate.TimeToOOM{Domain: "/sys/fs/cgroup/db.slice", Seconds: 90, Service: "db"}},
				{Path: "/sys/fs/cgroup/web.slice", UsageBytes: 100 << 20, LimitBytes: 2 << 30},
			},
			Hooks:  map[string]string{"mmap": "fentry", "oom_kill": "tracepoint"},
			Stacks: &aggregate.StackStats{Samples: 1500, Truncated: 40, Untracked: 2},
		},
		Services: []aggregate.Service{
			{Name: "web", Kind: "unit", Procs: 4, Memory: aggregate.Memory{RSS: 400 << 20, PSS: 300 << 20, USS: 200 << 20,
				Anon: 350 << 20, File: 40 << 20, Shmem: 10 << 20, Swap: 1 << 20, PSSAgeS: 2.5,
				Mmap: 500 << 20, Brk: -4096, Mremap: 8192, Mprotect: 65536}, CallsPerSec: 12,
				Growth: 100, Growth1m: 100, Growth5m: 50, Growth15m: 25, LeakSuspect: true, OOMKills: 2},
			{Name: "db", Kind: "container", Procs: 1, Memory: aggregate.Memory{RSS: 800 << 20, PSS: 800 << 20, USS: 790 << 20,
				PSSAgeS: -1}, Growth1m: 2048, TimeToOOMS: f64(90)},
			{Name: hostile, Kind: "comm", Procs: 1, Memory: aggregate.Memory{RSS: 1 << 20, PSS: 1 << 20}},
		},
	}
	stats := tracer.Stats{
		Received: map[tracer.EventType]uint64{},
		LostRing: map[tracer.EventType]uint64{},
		LostMap:  map[tracer.EventType]uint64{},
	}
	for i, t := range tracer.EventTypes() {
		stats.Received[t] = uint64(100 * (i + 1))
		stats.LostRing[t] = uint64(i)
		stats.LostMap[t] = 0
	}
	stats.Undecoded = 7
	return snap, stats
}

// scrape serves one request to h and parses the exposition.
func scrape(t *testing.T, h http.Handler) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if !utf8.ValidString(body) {
		t.Fatalf("exposition is not valid UTF-8")
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	return body, fams
}

// series finds the sample of name whose labels are exactly want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !equalMaps(got, want) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// labelValues lists the values label takes in the oomtrace_ series.
func labelValues(fams map[string]*dto.MetricFamily, label string) []string {
	var out []string
	for name, mf := range fams {
		if !strings.HasPrefix(name, "oomtrace_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && !slices.Contains(out, l.GetValue()) {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func svc(name, kind string) map[string]string {
	return map[string]string{"service": name, "kind": kind}
}
