// Package remote pushes the series of /metrics to a Prometheus remote-write
// receiver (protocol 1.0: protobuf and snappy), for nodes that are gone
// before anyone scrapes them.
//
// Each Push gathers the metrics registry, the one /metrics serves, so the
// pushed series and the scraped ones cannot differ. Snapshots wait in a
// bounded queue while the receiver is unreachable and are sent oldest first
// once it answers; whatever the queue had to give up is counted.
package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/klauspost/compress/snappy"
	promremote "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueSpan is how much history the queue keeps while the receiver is
// unreachable: QueueSpan/interval snapshots.
const QueueSpan = 10 * time.Minute

// QueueBytes bounds the queue's memory whatever the interval and the number
// of series: snapshots wait snappy-compressed (about 16 bytes a sample),
// and the oldest go first beyond this. 8 MiB keep QueueSpan of about 900
// series at 1s.
const QueueBytes = 8 << 20

// FlushTimeout bounds the flush of the queue at exit; what is left after
// it is dropped (and counted).
const FlushTimeout = 10 * time.Second

// maxBatchBytes bounds one request's protobuf before compression: a backlog
// goes out in several requests, oldest first.
const maxBatchBytes = 1 << 20

// Config says where and how to push.
type Config struct {
	URL       *url.URL
	Headers   http.Header // extra headers, canonical names
	TokenFile string      // bearer token, re-read for each request
	UserAgent string
	Interval  time.Duration // the sampling interval: sizes the queue
	Labels    []Label       // added to every series unless it has the label (job, instance)

	// For tests; zero values take the defaults.
	Client     *http.Client
	MinBackoff time.Duration
	MaxBackoff time.Duration
	FlushWait  time.Duration // FlushTimeout
	BatchBytes int           // maxBatchBytes
}

// Stats is what a Writer did with the samples it was given.
type Stats struct {
	Sent     int64 // accepted by the receiver
	Rejected int64 // refused with a 4xx other than 429: not retried
	Evicted  int64 // pushed out of the full queue
	Unsent   int64 // still queued when the flush at exit ran out of time
}

// Dropped is every sample that did not reach the receiver.
func (s Stats) Dropped() int64 { return s.Rejected + s.Evicted + s.Unsent }

type entry struct {
	data    []byte // snappy of the encoded WriteRequest
	raw     int    // its length before compression
	samples int
}

// Writer queues snapshots and sends them from one goroutine.
type Writer struct {
	cfg    Config
	api    *promremote.API
	gather prometheus.Gatherer
	enc    encoder // used by Push only

	mu     sync.Mutex
	queue  []entry // oldest first
	qbytes int
	// The batch being sent counts against the bounds.
	inflightN, inflightBytes, inflightSamples int
	maxLen                                    int
	stats                                     Stats
	closing                                   bool
	wake                                      chan struct{}

	ctx    context.Context // ends when the flush at exit runs out of time
	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once
	final  Stats

	dropped *prometheus.CounterVec
	sent    prometheus.Counter
}

// New starts a Writer that sends what Push gathers from g.
func New(cfg Config, g prometheus.Gatherer) (*Writer, error) {
	if cfg.Interval <= 0 {
		return nil, errors.New("remote write: no interval")
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = maxBatchBytes
	}
	if cfg.FlushWait == 0 {
		cfg.FlushWait = FlushTimeout
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := *client
	c.Transport = &transport{base: base, headers: cfg.Headers, tokenFile: cfg.TokenFile, userAgent: cfg.UserAgent}
	api, err := promremote.NewAPI(cfg.URL.String(),
		promremote.WithAPIHTTPClient(&c),
		promremote.WithAPIPath(""), // the URL is the endpoint
		promremote.WithAPIBackoff(promremote.BackoffConfig{Min: cfg.MinBackoff, Max: cfg.MaxBackoff}), // no MaxRetries: until the flush deadline
	)
	if err != nil {
		return nil, fmt.Errorf("remote write: %w", err)
	}
	w := &Writer{
		cfg: cfg, api: api, gather: g, enc: encoder{extra: cfg.Labels},
		maxLen: max(1, int(QueueSpan/cfg.Interval)),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oomtrace_remote_write_dropped_samples_total",
			Help: "Samples --remote-write gave up: rejected by the receiver (4xx), evicted from the full queue, or unsent at exit.",
		}, []string{"reason"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oomtrace_remote_write_sent_samples_total",
			Help: "Samples --remote-write delivered to the receiver.",
		}),
	}
	for _, r := range []string{"rejected", "queue_full", "exit"} {
		w.dropped.WithLabelValues(r)
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.loop()
	return w, nil
}

// Collectors are the Writer's own counters, to register where /metrics
// serves them (and so where Push gathers them).
func (w *Writer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.dropped, w.sent}
}

// Push gathers the registry now, stamps the samples with t and queues
// them. It does not block on the network.
func (w *Writer) Push(t time.Time) error {
	fams, err := w.gather.Gather()
	if len(fams) == 0 && err != nil {
		return err
	}
	// A collector's error leaves the rest gathered, as /metrics serves it.
	raw, n := w.enc.encode(fams, t.UnixMilli())
	e := entry{data: snappy.Encode(nil, raw), raw: len(raw), samples: n}
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return nil
	}
	w.queue = append(w.queue, e)
	w.qbytes += len(e.data)
	var evicted int
	for len(w.queue) > 1 && (len(w.queue)+w.inflightN > w.maxLen || w.qbytes+w.inflightBytes > QueueBytes) {
		evicted += w.queue[0].samples
		w.qbytes -= len(w.queue[0].data)
		w.queue[0] = entry{}
		w.queue = w.queue[1:]
	}
	w.stats.Evicted += int64(evicted)
	w.mu.Unlock()
	if evicted > 0 {
		w.dropped.WithLabelValues("queue_full").Add(float64(evicted))
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// take removes the oldest snapshots, up to BatchBytes, and marks them in
// flight; ok is false once closing with nothing left.
func (w *Writer) take() (batch []entry, ok bool) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			size := 0
			n := 0
			for n < len(w.queue) && (n == 0 || size+w.queue[n].raw <= w.cfg.BatchBytes) {
				size += w.queue[n].raw
				n++
			}
			batch = append([]entry(nil), w.queue[:n]...)
			clear(w.queue[:n])
			w.queue = w.queue[n:]
			w.inflightN = n
			for _, e := range batch {
				w.qbytes -= len(e.data)
				w.inflightBytes += len(e.data)
				w.inflightSamples += e.samples
			}
			w.mu.Unlock()
			return batch, true
		}
		closing := w.closing
		w.mu.Unlock()
		if closing {
			return nil, false
		}
		select {
		case <-w.wake:
		case <-w.ctx.Done():
		}
	}
}

// rawRequest is an encoded WriteRequest; client_golang/exp's Write takes
// it through the Size/MarshalToSizedBuffer methods of gogo protobuf.
type rawRequest []byte

func (r rawRequest) Size() int                                  { return len(r) }
func (r rawRequest) MarshalToSizedBuffer(b []byte) (int, error) { return copy(b, r), nil }

func (w *Writer) loop() {
	defer close(w.done)
	var req, scratch []byte
	var failingSince time.Time
	loggedReject := false
	for {
		batch, ok := w.take()
		if !ok {
			return
		}
		req = req[:0]
		samples, corrupt := 0, 0
		for _, e := range batch {
			out, err := snappy.Decode(scratch[:cap(scratch)], e.data)
			if err != nil { // cannot happen: Push encoded it
				corrupt += e.samples
				continue
			}
			scratch = out
			req = append(req, out...)
			samples += e.samples
		}
		_, err := w.api.Write(w.ctx, promremote.WriteV1MessageType, rawRequest(req),
			promremote.WithWriteRetryCallback(func(err error) {
				if failingSince.IsZero() {
					failingSince = time.Now()
					slog.Warn("remote write failing; queueing and retrying", "url", w.cfg.URL.Redacted(), "err", err)
				}
			}))
		w.mu.Lock()
		w.inflightN, w.inflightBytes, w.inflightSamples = 0, 0, 0
		w.stats.Rejected += int64(corrupt)
		reason := ""
		switch {
		case err == nil:
			w.stats.Sent += int64(samples)
		case w.ctx.Err() != nil:
			w.stats.Unsent += int64(samples)
			reason = "exit"
		default:
			w.stats.Rejected += int64(samples)
			reason = "rejected"
		}
		backlog := len(w.queue)
		w.mu.Unlock()
		if corrupt > 0 {
			w.dropped.WithLabelValues("rejected").Add(float64(corrupt))
		}
		if err == nil {
			w.sent.Add(float64(samples))
		} else {
			w.dropped.WithLabelValues(reason).Add(float64(samples))
		}
		if err == nil && !failingSince.IsZero() {
			slog.Info("remote write recovered", "url", w.cfg.URL.Redacted(), "after", time.Since(failingSince).Round(time.Second), "backlog_snapshots", backlog)
			failingSince = time.Time{}
		}
		if reason == "rejected" && !loggedReject {
			loggedReject = true
			slog.Warn("remote write rejected; dropping, not retrying (logged once)", "url", w.cfg.URL.Redacted(), "samples", samples, "err", err)
		}
	}
}

// Close stops taking snapshots, sends what is queued within the flush
// timeout, counts what is left as dropped and returns the totals.
func (w *Writer) Close() Stats {
	w.closed.Do(func() {
		w.mu.Lock()
		w.closing = true
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
		t := time.NewTimer(w.cfg.FlushWait)
		select {
		case <-w.done:
		case <-t.C:
			w.cancel()
			<-w.done
		}
		t.Stop()
		w.cancel()
		w.mu.Lock()
		var left int64
		for _, e := range w.queue {
			left += int64(e.samples)
		}
		w.queue = nil
		w.stats.Unsent += left
		w.final = w.stats
		w.mu.Unlock()
		w.dropped.WithLabelValues("exit").Add(float64(left))
	})
	return w.final
}

// Stats are the totals so far.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Pending is the number of samples queued or in flight.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.inflightSamples
	for _, e := range w.queue {
		n += e.samples
	}
	return n
}
