package remote

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/metrics"
	"github.com/oomtrace/oomtrace/tracer"
)

var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

// gaugeRegistry has one gauge, oomtrace_test_value{n}, set to v by set.
func gaugeRegistry(*testing.T) (*prometheus.Registry, func(v float64)) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "oomtrace_test_value", Help: "h"})
	reg.MustRegister(g)
	return reg, g.Set
}

func newWriter(t *testing.T, cfg Config, g prometheus.Gatherer) *Writer {
	t.Helper()
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	w, err := New(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// The pushed series are those /metrics serves, with job and instance added,
// at the push's time; the request is remote-write 1.0 with the configured
// headers and the token file's current content as the bearer token.
func TestPushSeriesAndHeaders(t *testing.T) {
	rcv := newReceiver(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("first-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := metrics.New()
	e.Update(snapshot(), tracer.Stats{Received: map[tracer.EventType]uint64{}, LostRing: map[tracer.EventType]uint64{}, LostMap: map[tracer.EventType]uint64{}})
	w := newWriter(t, Config{URL: rcv.url(), TokenFile: tokenFile, UserAgent: "oomtrace/test",
		Headers: http.Header{"X-Scope-Orgid": {"tenant-1"}},
		Labels:  []Label{{"job", "oomtrace"}, {"instance", "node-7"}}}, e.Gatherer())
	if err := e.Register(w.Collectors()...); err != nil {
		t.Fatal(err)
	}
	if err := w.Push(t0); err != nil {
		t.Fatal(err)
	}
	rcv.waitAttempts(1)
	scraped := scrapeSeries(t, e.Handler())
	if err := os.WriteFile(tokenFile, []byte("rotated-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.Push(t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	rcv.waitAttempts(2)
	st := w.Close()

	reqs := rcv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests accepted, want 2", len(reqs))
	}
	h := reqs[0].header
	for k, want := range map[string]string{
		"Content-Encoding":                  "snappy",
		"Content-Type":                      "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0",
		"User-Agent":                        "oomtrace/test",
		"X-Scope-Orgid":                     "tenant-1",
		"Authorization":                     "Bearer first-token",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if got := reqs[1].header.Get("Authorization"); got != "Bearer rotated-token" {
		t.Errorf("after the token file changed: Authorization = %q, want the new token", got)
	}

	pushed := map[string]float64{}
	for _, s := range reqs[0].samples {
		if s.ts != t0.UnixMilli() {
			t.Errorf("%s: timestamp %d, want %d", s.key(), s.ts, t0.UnixMilli())
		}
		if s.get("job") != "oomtrace" || s.get("instance") != "node-7" {
			t.Errorf("%s: job %q instance %q", s.key(), s.get("job"), s.get("instance"))
		}
		if !slices.IsSortedFunc(s.labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("labels not sorted by name: %v", s.labels)
		}
		pushed[s.key()] = s.value
	}
	for k, v := range scraped {
		got, ok := pushed[k]
		switch {
		case !ok:
			t.Errorf("scraped but not pushed: %s", k)
		case strings.HasPrefix(k, `__name__="oomtrace_`) && !strings.Contains(k, "remote_write") && got != v:
			t.Errorf("%s: pushed %v, scraped %v", k, got, v)
		}
	}
	for k := range pushed {
		if _, ok := scraped[k]; !ok {
			t.Errorf("pushed but not scraped: %s", k)
		}
	}
	rss := `__name__="oomtrace_service_rss_bytes",kind="unit",service="web",`
	if pushed[rss] != 400<<20 {
		t.Errorf("%s = %v, want %v", rss, pushed[rss], 400<<20)
	}
	if want := int64(len(reqs[0].samples) + len(reqs[1].samples)); st.Sent != want || st.Dropped() != 0 {
		t.Errorf("stats %+v, want %d sent and none dropped", st, want)
	}
}

func snapshot() aggregate.Snapshot {
	return aggregate.Snapshot{
		Time:   t0,
		System: aggregate.System{TotalBytes: 16 << 30, AvailableBytes: 6 << 30, UsedBytes: 10 << 30, Procs: 5},
		Services: []aggregate.Service{
			{Name: "web", Kind: "unit", Procs: 4, Memory: aggregate.Memory{RSS: 400 << 20, PSS: 300 << 20, USS: 200 << 20, PSSAgeS: 1}},
			{Name: "db", Kind: "container", Procs: 1, Memory: aggregate.Memory{RSS: 800 << 20, PSS: 800 << 20, PSSAgeS: -1}},
		},
	}
}

// scrapeSeries serves /metrics once and flattens the exposition into
// series (name and labels) and values, as a scrape stores them.
func scrapeSeries(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			put := func(name string, v float64, extra ...string) {
				var ls []Label
				ls = append(ls, Label{"__name__", name})
				for _, l := range m.GetLabel() {
					ls = append(ls, Label{l.GetName(), l.GetValue()})
				}
				if len(extra) == 2 {
					ls = append(ls, Label{extra[0], extra[1]})
				}
				slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
				out[sample{labels: ls}.key()] = v
			}
			switch f.GetType() {
			case dto.MetricType_SUMMARY:
				for _, q := range m.GetSummary().GetQuantile() {
					put(name, q.GetValue(), "quantile", model.FloatString(q.GetQuantile()).String())
				}
				put(name+"_sum", m.GetSummary().GetSampleSum())
				put(name+"_count", float64(m.GetSummary().GetSampleCount()))
			case dto.MetricType_HISTOGRAM:
				for _, b := range m.GetHistogram().GetBucket() {
					put(name+"_bucket", float64(b.GetCumulativeCount()), "le", model.FloatString(b.GetUpperBound()).String())
				}
				put(name+"_sum", m.GetHistogram().GetSampleSum())
				put(name+"_count", float64(m.GetHistogram().GetSampleCount()))
			case dto.MetricType_COUNTER:
				put(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				put(name, m.GetGauge().GetValue())
			default:
				put(name, m.GetUntyped().GetValue())
			}
		}
	}
	return out
}

// While the receiver answers 503, snapshots wait; once it is back, all of
// them arrive, oldest first, in several requests (batches).
func TestOutageBacklogInOrder(t *testing.T) {
	rcv := newReceiver(t)
	rcv.setStatus(func() int { return http.StatusServiceUnavailable })
	reg, set := gaugeRegistry(t)
	// One snapshot is 60-odd bytes encoded: batches of three.
	w := newWriter(t, Config{URL: rcv.url(), BatchBytes: 200}, reg)
	const n = 20
	for i := range n {
		set(float64(i))
		if err := w.Push(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			rcv.waitAttempts(2) // failed and retried
		}
	}
	rcv.setStatus(nil)
	st := w.Close()
	if st.Sent != n || st.Dropped() != 0 {
		t.Fatalf("stats %+v, want %d sent, none dropped", st, n)
	}
	reqs := rcv.requests()
	var ts []int64
	for _, r := range reqs {
		for _, s := range r.samples {
			if want := float64(s.ts-t0.UnixMilli()) / 1000; s.value != want {
				t.Errorf("sample at %d = %v, want %v", s.ts, s.value, want)
			}
			ts = append(ts, s.ts)
		}
	}
	increasing := true
	for i := 1; i < len(ts); i++ {
		increasing = increasing && ts[i] > ts[i-1]
	}
	if len(ts) != n || !increasing {
		t.Fatalf("timestamps received %v: want %d, strictly increasing", ts, n)
	}
	if len(reqs) < n/3 {
		t.Errorf("%d requests for %d snapshots: the backlog went out in one batch, want batches of at most 200 bytes", len(reqs), n)
	}
}

// A queue of five snapshots (QueueSpan/interval) during an outage keeps the
// batch in flight and the newest; the evicted samples are counted, in the
// stats and in oomtrace_remote_write_dropped_samples_total.
func TestQueueOverflowCounted(t *testing.T) {
	rcv := newReceiver(t)
	rcv.setStatus(func() int { return http.StatusBadGateway })
	reg, set := gaugeRegistry(t)
	w := newWriter(t, Config{URL: rcv.url(), Interval: QueueSpan / 5}, reg)
	reg.MustRegister(w.Collectors()...)
	const samplesPer = 5 // the gauge, dropped by three reasons, sent
	const n = 12
	for i := range n {
		set(float64(i))
		if err := w.Push(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			rcv.waitAttempts(1) // snapshot 0 is in flight
		}
	}
	// In flight: 0; queued: the newest four, 8-11; evicted: 1-7.
	wantEvicted := int64(7 * samplesPer)
	if st := w.Stats(); st.Evicted != wantEvicted {
		t.Errorf("evicted %d samples, want %d", st.Evicted, wantEvicted)
	}
	if got := testutil.ToFloat64(w.dropped.WithLabelValues("queue_full")); got != float64(wantEvicted) {
		t.Errorf("oomtrace_remote_write_dropped_samples_total{reason=queue_full} = %v, want %d", got, wantEvicted)
	}
	rcv.setStatus(nil)
	st := w.Close()
	var got []float64
	for _, r := range rcv.requests() {
		for _, s := range r.samples {
			if s.get("__name__") == "oomtrace_test_value" {
				got = append(got, s.value)
			}
		}
	}
	if want := []float64{0, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Errorf("received %v, want %v", got, want)
	}
	if st.Sent != 5*int64(samplesPer) || st.Evicted != wantEvicted || st.Rejected+st.Unsent != 0 {
		t.Errorf("stats %+v", st)
	}
	// The later snapshots carry the count: the receiver sees the drops, up
	// to those of the last Push, which gathered before it evicted.
	var last float64
	for _, r := range rcv.requests() {
		for _, s := range r.samples {
			if s.get("__name__") == "oomtrace_remote_write_dropped_samples_total" && s.get("reason") == "queue_full" {
				last = s.value
			}
		}
	}
	if want := wantEvicted - samplesPer; last != float64(want) {
		t.Errorf("last pushed oomtrace_remote_write_dropped_samples_total{reason=queue_full} = %v, want %d", last, want)
	}
}

// A 4xx other than 429 is not retried: the batch is dropped and counted; a
// 429 and a 5xx are retried until accepted.
func TestStatusHandling(t *testing.T) {
	for _, c := range []struct {
		code    int
		retried bool
	}{{400, false}, {404, false}, {429, true}, {500, true}, {503, true}} {
		t.Run(http.StatusText(c.code), func(t *testing.T) {
			rcv := newReceiver(t)
			answers := []int{c.code, c.code}
			rcv.setStatus(func() int {
				if len(answers) == 0 {
					return http.StatusNoContent
				}
				a := answers[0]
				answers = answers[1:]
				return a
			})
			reg, _ := gaugeRegistry(t)
			w := newWriter(t, Config{URL: rcv.url()}, reg)
			if err := w.Push(t0); err != nil {
				t.Fatal(err)
			}
			st := w.Close()
			attempts := rcv.attemptCount()
			if c.retried {
				if attempts != 3 || st.Sent != 1 || st.Dropped() != 0 {
					t.Errorf("%d attempts, stats %+v: want 3 attempts, 1 sent", attempts, st)
				}
			} else if attempts != 1 || st.Rejected != 1 || st.Sent != 0 {
				t.Errorf("%d attempts, stats %+v: want 1 attempt, 1 rejected", attempts, st)
			}
		})
	}
}

// With the receiver down, Close gives up after the flush timeout and
// counts what it could not send.
func TestFlushDeadline(t *testing.T) {
	rcv := newReceiver(t)
	rcv.setStatus(func() int { return http.StatusServiceUnavailable })
	reg, _ := gaugeRegistry(t)
	const wait = 500 * time.Millisecond
	w := newWriter(t, Config{URL: rcv.url(), FlushWait: wait, BatchBytes: 1}, reg)
	for i := range 3 {
		if err := w.Push(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	rcv.waitAttempts(1)
	start := time.Now()
	st := w.Close()
	took := time.Since(start)
	if took < wait || took > wait+2*time.Second {
		t.Errorf("Close took %v, want the flush timeout %v", took, wait)
	}
	if st.Unsent != 3 || st.Sent != 0 {
		t.Errorf("stats %+v, want 3 unsent", st)
	}
	if got := testutil.ToFloat64(w.dropped.WithLabelValues("exit")); got != 3 {
		t.Errorf("dropped{reason=exit} = %v, want 3", got)
	}
	// A Push after Close is ignored, not queued.
	if err := w.Push(t0.Add(time.Hour)); err != nil || w.Pending() != 0 {
		t.Errorf("Push after Close: %v, %d pending", err, w.Pending())
	}
}

// With the receiver up, Close sends everything still queued.
func TestCloseFlushes(t *testing.T) {
	rcv := newReceiver(t)
	reg, _ := gaugeRegistry(t)
	w := newWriter(t, Config{URL: rcv.url()}, reg)
	for i := range 50 {
		if err := w.Push(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if st := w.Close(); st.Sent != 50 || st.Dropped() != 0 {
		t.Errorf("stats %+v, want 50 sent", st)
	}
}

// An https URL is TLS: verified against the system's roots, a self-signed
// receiver is refused (and the samples count as unsent); with a client that
// trusts its certificate the same receiver gets them.
func TestHTTPS(t *testing.T) {
	var tlsRequests atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			tlsRequests.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	u, err := ParseURL(srv.URL + "/api/v1/write")
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := gaugeRegistry(t)

	w := newWriter(t, Config{URL: u, FlushWait: 300 * time.Millisecond}, reg)
	if err := w.Push(t0); err != nil {
		t.Fatal(err)
	}
	if st := w.Close(); st.Sent != 0 || st.Unsent != 1 || tlsRequests.Load() != 0 {
		t.Errorf("self-signed receiver, system roots: stats %+v, %d requests served; want none sent", st, tlsRequests.Load())
	}

	w = newWriter(t, Config{URL: u, Client: srv.Client()}, reg)
	if err := w.Push(t0); err != nil {
		t.Fatal(err)
	}
	if st := w.Close(); st.Sent != 1 || tlsRequests.Load() != 1 {
		t.Errorf("trusted receiver: stats %+v, %d TLS requests served; want 1 sent over TLS", st, tlsRequests.Load())
	}
}
