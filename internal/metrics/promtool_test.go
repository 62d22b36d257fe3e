package metrics

import (
	"bytes"
	"os/exec"
	"regexp"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestPromlint lints a full scrape with the client library's linter, which
// runs without promtool.
func TestPromlint(t *testing.T) {
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	body, _ := scrape(t, e.Handler())
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestPromtoolCheckMetrics pipes a full scrape through `promtool check
// metrics`, which parses the exposition and lints names, units, types and
// help texts. promtool comes with Debian's prometheus package.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testutil.NeedTool(t, "promtool", "prometheus")
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	body, _ := scrape(t, e.Handler())

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Errorf("promtool check metrics reported:\n%s", s)
	}
}

// The Go collector exports the live heap, which the churn test compares
// before and after; it agrees with runtime/metrics.
func TestGoHeapLive(t *testing.T) {
	e := New()
	snap, stats := fixture()
	e.Update(snap, stats)
	runtime.GC() // the live heap is 0 until the first GC
	body, _ := scrape(t, e.Handler())
	m := regexp.MustCompile(`(?m)^go_gc_heap_live_bytes (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no go_gc_heap_live_bytes in the scrape")
	}
	got, _ := strconv.ParseFloat(m[1], 64)
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if want := float64(s[0].Value.Uint64()); got <= 0 || got > 2*want || got < want/2 {
		t.Errorf("go_gc_heap_live_bytes %.0f, runtime/metrics says %.0f", got, want)
	}
}
