package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// oomtrace record pushes to a real Prometheus (Debian's, with its
// remote-write receiver): the service's RSS arrives as /proc has it. Then
// Prometheus is down for 20 s and comes back on the same storage and port:
// the samples of the outage arrive after it, none dropped.
func TestRemoteWritePrometheus(t *testing.T) {
	testutil.NeedRoot(t)
	bin := testutil.NeedTool(t, "prometheus", "prometheus")
	const interval = 250 * time.Millisecond
	prom := newPrometheus(t, bin)
	prom.start(t)

	pids := testutil.StartService(t, "svc-remote", 1, 32, 0)
	// startRecorder's stderr is read only after the recorder ends; this
	// test reads it while the recorder runs.
	stderr := &lockedBuffer{}
	ready := filepath.Join(t.TempDir(), "ready")
	rec := exec.Command(oomtraceBin(t), "record", "--out", filepath.Join(t.TempDir(), "dumps"), "--ready-file", ready,
		"-d", interval.String(), "--remote-write", prom.base+"/api/v1/write")
	rec.Stderr = stderr
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rec.Process.Signal(syscall.SIGTERM)
		rec.Wait()
		if t.Failed() {
			t.Logf("oomtrace record stderr:\n%s", stderr)
		}
	})
	waitFile(t, ready, 15*time.Second)

	// The latest sample is the service's RSS: the master's and the worker's
	// from smaps_rollup, read on its own (the workload does not grow).
	const series = `oomtrace_service_rss_bytes{service="svc-remote",job="oomtrace"}`
	var got float64
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if v, ok := prom.instant(t, series); ok {
			got = v
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no %s in Prometheus after 30s; oomtrace:\n%s", series, stderr)
		}
	}
	var rss uint64
	for _, p := range pids {
		r, _ := smapsRollup(t, p)
		rss += r
	}
	t.Logf("Prometheus has %s = %.0f; /proc: %d", series, got, rss)
	if !within(uint64(got), rss, 0.03) {
		t.Errorf("pushed RSS %.0f, /proc says %d (want within 3%%)", got, rss)
	}

	// The outage: oomtrace must notice it, and it lasts 20 s.
	prom.stop(t)
	down := time.Now()
	for end := down.Add(30 * time.Second); !strings.Contains(stderr.String(), "remote write failing"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("oomtrace did not notice the receiver was down:\n%s", stderr)
		}
	}
	time.Sleep(time.Until(down.Add(20 * time.Second))) // the outage itself, not a wait for a result
	up := time.Now()
	prom.start(t)

	// The outage's samples arrive, oldest first, once Prometheus is back:
	// wait until the last one is there, then check there is no hole.
	window := fmt.Sprintf("%s[%ds]", series, int(time.Since(down).Seconds())+10)
	var ts []float64
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		ts = prom.rangeTimestamps(t, window)
		if n := len(ts); n > 0 && ts[n-1] >= float64(up.UnixMilli())/1000-1 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the outage's samples did not reach Prometheus within 60s: %d samples up to %v; oomtrace:\n%s", len(ts), ts, stderr)
		}
	}
	var inside []float64
	for _, s := range ts {
		if s > float64(down.UnixMilli())/1000 && s < float64(up.UnixMilli())/1000 {
			inside = append(inside, s)
		}
	}
	t.Logf("outage %s: %d samples inside it (one every %s)", up.Sub(down).Round(time.Millisecond), len(inside), interval)
	if len(inside) < int(up.Sub(down)/interval)/2 {
		t.Fatalf("%d samples inside the %s outage, want about %d", len(inside), up.Sub(down), up.Sub(down)/interval)
	}
	for i, s := range inside {
		prev := float64(down.UnixMilli()) / 1000
		if i > 0 {
			prev = inside[i-1]
		}
		if s-prev > 2 {
			t.Errorf("a hole of %.1fs in the outage's samples, after %.3f", s-prev, prev)
		}
	}
	if last := float64(up.UnixMilli())/1000 - inside[len(inside)-1]; last > 2 {
		t.Errorf("the outage's samples stop %.1fs before its end", last)
	}

	// Nothing was dropped: Prometheus has the counter at 0, and so does the
	// exit line once the recorder stops.
	if v, ok := prom.instant(t, `sum(oomtrace_remote_write_dropped_samples_total)`); !ok || v != 0 {
		t.Errorf("oomtrace_remote_write_dropped_samples_total = %v (present %v), want 0", v, ok)
	}
	rec.Process.Signal(syscall.SIGTERM)
	rec.Wait()
	line := ""
	for l := range strings.Lines(stderr.String()) {
		if strings.HasPrefix(l, "oomtrace: remote write:") {
			line = strings.TrimSpace(l)
		}
	}
	t.Logf("%s", line)
	if !strings.Contains(line, " 0 dropped") || strings.Contains(line, " 0 samples sent") {
		t.Errorf("exit line %q, want samples sent and 0 dropped", line)
	}
}

// lockedBuffer is an io.Writer whose content may be read while a command
// writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// prometheus is a Prometheus server on a loopback port with its remote-write
// receiver, started and stopped by the test on one storage directory.
type prometheus struct {
	bin, dir, base string
	port           int
	cmd            *exec.Cmd
	log            *os.File
}

func newPrometheus(t *testing.T, bin string) *prometheus {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &prometheus{bin: bin, dir: dir, port: freePort(t), log: log}
	p.base = fmt.Sprintf("http://127.0.0.1:%d", p.port)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%.4000s", b)
		}
		log.Close()
	})
	return p
}

func (p *prometheus) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin,
		"--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", p.port),
		"--web.enable-remote-write-receiver")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.cmd.Process.Wait(); close(exited) }() //nolint:errcheck // the exit is what counts
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(p.log.Name())
			t.Fatalf("prometheus exited:\n%.4000s", b)
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("prometheus not ready after 30s")
		}
	}
}

func (p *prometheus) stop(t *testing.T) {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
		t.Errorf("prometheus did not stop within 30s of SIGTERM")
	}
	p.cmd = nil
}

type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func (p *prometheus) query(t *testing.T, q string, at time.Time) promResult {
	t.Helper()
	v := url.Values{"query": {q}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	resp, err := http.Get(p.base + "/api/v1/query?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, r.Error)
	}
	return r
}

// instant is the value of a query of one series now; ok is false without one.
func (p *prometheus) instant(t *testing.T, q string) (float64, bool) {
	t.Helper()
	r := p.query(t, q, time.Time{})
	if len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// rangeTimestamps are the timestamps, in seconds, of the raw samples a
// range selector of one series holds now.
func (p *prometheus) rangeTimestamps(t *testing.T, sel string) []float64 {
	t.Helper()
	r := p.query(t, sel, time.Time{})
	if len(r.Data.Result) != 1 {
		return nil
	}
	var ts []float64
	for _, v := range r.Data.Result[0].Values {
		if f, ok := v[0].(float64); ok {
			ts = append(ts, f)
		}
	}
	return ts
}
