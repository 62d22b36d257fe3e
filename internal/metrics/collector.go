package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector emits the Exporter's latest view at each scrape.
type collector struct{ e *Exporter }

var _ prometheus.Collector = (*collector)(nil)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range serviceGauges {
		ch <- g.desc
	}
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	v := c.e.current()
	if v == nil {
		return
	}
	collectSystem(ch, v)
	for i := range v.services {
		collectService(ch, &v.services[i])
	}
	for _, m := range v.memcgs {
		emit(ch, descMemcgUsage, gauge, float64(m.usage), m.path)
		emit(ch, descMemcgLimit, gauge, float64(m.limit), m.path)
		emit(ch, descMemcgOOMKills, counter, float64(m.oomKills), m.path)
		if m.ttoom != nil {
			emit(ch, descMemcgTimeToOOM, gauge, *m.ttoom, m.path)
		}
	}
	for _, h := range v.hooks {
		emit(ch, descHookInfo, gauge, 1, h[0], h[1])
	}
	collectEvents(ch, v)
}

func collectSystem(ch chan<- prometheus.Metric, v *view) {
	s := &v.sys
	if !v.time.IsZero() {
		emit(ch, descSnapshotTime, gauge, float64(v.time.UnixNano())/1e9)
	}
	emit(ch, descMemTotal, gauge, float64(s.TotalBytes))
	emit(ch, descMemAvailable, gauge, float64(s.AvailableBytes))
	emit(ch, descMemUsed, gauge, float64(s.UsedBytes))
	if s.UnexplainedCovered { // else a stand-in's or a negative figure, no fact
		emit(ch, descMemUnexplained, gauge, float64(s.UnexplainedBytes))
	}
	emit(ch, descMemGrowth, gauge, s.GrowthBytesPerS)
	emit(ch, descSwapTotal, gauge, float64(s.SwapTotalBytes))
	emit(ch, descSwapFree, gauge, float64(s.SwapFreeBytes))
	emit(ch, descProcesses, gauge, float64(s.Procs))
	emit(ch, descSystemOOMKills, counter, float64(s.OOMKills))
	if p := v.psi; p != nil {
		for _, w := range []struct {
			window     string
			some, full float64
		}{{"10s", p.Some10, p.Full10}, {"60s", p.Some60, p.Full60}, {"300s", p.Some300, p.Full300}} {
			emit(ch, descPSISome, gauge, w.some/100, w.window)
			emit(ch, descPSIFull, gauge, w.full/100, w.window)
		}
	}
	if t := v.ttoom; t != nil {
		emit(ch, descTimeToOOM, gauge, t.Seconds, t.Domain, t.Service)
	}
}

func collectService(ch chan<- prometheus.Metric, s *service) {
	for _, g := range serviceGauges {
		if v, ok := g.value(s); ok {
			emit(ch, g.desc, gauge, v, s.name, s.kind)
		}
	}
	for _, w := range []struct {
		window string
		v      float64
	}{{"1m", s.growth1m}, {"5m", s.growth5m}, {"15m", s.growth15m}} {
		emit(ch, descServiceGrowth, gauge, w.v, s.name, s.kind, w.window)
	}
	emit(ch, descServiceOOMKills, counter, float64(s.oomKills), s.name)
	if s.ttoom != nil {
		emit(ch, descServiceTimeToOOM, gauge, *s.ttoom, s.name)
	}
}

func collectEvents(ch chan<- prometheus.Metric, v *view) {
	for _, e := range v.events {
		t := e.typ.String()
		if e.received != nil {
			emit(ch, descEvents, counter, float64(*e.received), t)
		}
		if e.ring != nil {
			emit(ch, descEventsLost, counter, float64(*e.ring), t, "ring")
		}
		if e.mapLost != nil {
			emit(ch, descEventsLost, counter, float64(*e.mapLost), t, "map")
		}
	}
	if v.undecoded != nil {
		emit(ch, descEventsUndecoded, counter, float64(*v.undecoded))
	}
	if s := v.stacks; s != nil {
		emit(ch, descStackSamples, counter, float64(s.Samples))
		emit(ch, descStackTruncated, counter, float64(s.Truncated))
	}
}

const (
	gauge   = prometheus.GaugeValue
	counter = prometheus.CounterValue
)

// emit sends one sample. A sample the library refuses is reported as an
// invalid metric: the handler skips it and serves the rest.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}
