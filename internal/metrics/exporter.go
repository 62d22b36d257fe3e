// Package metrics serves oomtrace's latest snapshot as Prometheus metrics.
//
// A custom collector emits the figures of the most recent snapshot at scrape
// time, so the series are bounded by the services, memory cgroups and event
// types of that snapshot (never by pid), and a service that vanished from the
// snapshot is no longer exported.
package metrics

import (
	"net/http"
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/tracer"
)

// Exporter holds the latest snapshot and serves it as Prometheus metrics.
// It is safe for concurrent use.
type Exporter struct {
	mu      sync.RWMutex
	view    *view // nil until the first Update
	reg     *prometheus.Registry
	handler http.Handler
}

// New returns an Exporter with its own registry: the snapshot collector plus
// the process and Go runtime collectors of oomtrace itself.
func New() *Exporter {
	e := &Exporter{reg: prometheus.NewRegistry()}
	e.reg.MustRegister(
		&collector{e: e},
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// The live heap (go_gc_heap_live_bytes: what the last GC kept) is
		// the recorder's own state without garbage not yet collected.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
	)
	e.handler = promhttp.InstrumentMetricHandler(e.reg, promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{
		// A metric that fails must not hide all the others.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      e.reg,
	}))
	return e
}

// Update replaces the exported figures with those of snap and stats. It keeps
// no reference to either, so the caller may reuse them.
func (e *Exporter) Update(snap aggregate.Snapshot, stats tracer.Stats) {
	v := newView(snap, stats)
	e.mu.Lock()
	e.view = v
	e.mu.Unlock()
}

// Gatherer gathers what /metrics serves: a pusher gathers it too, so the
// pushed series and the scraped ones are the same.
func (e *Exporter) Gatherer() prometheus.Gatherer { return e.reg }

// Register adds collectors of oomtrace's own to what /metrics serves.
func (e *Exporter) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := e.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Handler serves the metrics in the Prometheus exposition format, for /metrics.
func (e *Exporter) Handler() http.Handler { return e.handler }

func (e *Exporter) current() *view {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.view
}
