package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/internal/testutil/tracertest"
)

// A Prometheus scrape of a running recorder returns the per-service series,
// with the service's RSS as /proc says, and passes promtool's checks.
func TestRecordMetricsScrape(t *testing.T) {
	testutil.NeedRoot(t)
	pids := testutil.StartService(t, "svc-metrics", 1, 16, 0)
	port := freePort(t)
	startRecorder(t, "-d", "250ms", "--metrics-addr", fmt.Sprintf(":%d", port))
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)

	re := regexp.MustCompile(`(?m)^oomtrace_service_rss_bytes\{kind="tree",service="svc-metrics"\} (\S+)$`)
	var body []byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if re.Match(body) {
			break
		}
	}
	m := re.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no svc-metrics RSS series in the scrape:\n%.3000s", body)
	}
	got, _ := strconv.ParseFloat(string(m[1]), 64)
	pr := tracertest.ProcReader(t)
	var rss uint64
	for _, p := range pids {
		mem, err := pr.Mem(p)
		if err != nil {
			t.Fatal(err)
		}
		rss += mem.RSS()
	}
	if !within(uint64(got), rss, 0.02) {
		t.Errorf("scraped rss %.0f, /proc says %d", got, rss)
	}
	for _, series := range []string{
		`oomtrace_service_pss_bytes{kind="tree",service="svc-metrics"}`,
		`oomtrace_service_processes{kind="tree",service="svc-metrics"} 2`,
		`oomtrace_service_growth_bytes_per_second{kind="tree",service="svc-metrics",window="1m"}`,
		`oomtrace_events_total{type="exec"}`,
		`oomtrace_memory_available_bytes `,
		`process_resident_memory_bytes `,
		`go_gc_heap_live_bytes `,
	} {
		if !bytes.Contains(body, []byte(series)) {
			t.Errorf("scrape lacks %s", series)
		}
	}
	// Metrics bind to loopback only.
	if ips, _ := net.InterfaceAddrs(); len(ips) > 0 {
		for _, a := range ips {
			ip, _, _ := net.ParseCIDR(a.String())
			if ip == nil || ip.IsLoopback() || ip.To4() == nil {
				continue
			}
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", ip, port), time.Second); err == nil {
				c.Close()
				t.Errorf("metrics reachable on %s, want loopback only", ip)
			}
		}
	}
	cmd := exec.Command(testutil.NeedTool(t, "promtool", "prometheus"), "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
