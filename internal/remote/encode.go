package remote

import (
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// The remote-write 1.0 message, prometheus.WriteRequest, encoded by hand:
// client_golang/exp carries only the 2.0 types, and the prompb package
// comes with all of Prometheus. Field numbers are those of prompb's
// remote.proto and types.proto.
const (
	fieldTimeseries = 1 // WriteRequest.timeseries
	fieldLabels     = 1 // TimeSeries.labels
	fieldSamples    = 2 // TimeSeries.samples
	fieldName       = 1 // Label.name
	fieldValue      = 2 // Label.value
	fieldSampleVal  = 1 // Sample.value (double)
	fieldSampleTS   = 2 // Sample.timestamp (int64, ms)
)

// Label is a label name and value.
type Label struct{ Name, Value string }

// encoder turns gathered metric families into an encoded WriteRequest of
// one sample a series. Encoded WriteRequests concatenate into one: a batch
// is its snapshots' encodings end to end.
type encoder struct {
	extra  []Label // job, instance: what a scrape would add
	buf    []byte
	series []byte
	label  []byte
	labels []Label
}

// encode appends fams as a WriteRequest at timestamp ms (a sample's own
// timestamp wins) and returns the bytes and the number of samples.
func (e *encoder) encode(fams []*dto.MetricFamily, ms int64) ([]byte, int) {
	e.buf = e.buf[:0]
	n := 0
	for _, f := range fams {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			ts := ms
			if m.TimestampMs != nil {
				ts = m.GetTimestampMs()
			}
			add := func(suffix string, v float64, extraName, extraValue string) {
				e.add(name+suffix, m.GetLabel(), extraName, extraValue, v, ts)
				n++
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add("", m.GetCounter().GetValue(), "", "")
			case dto.MetricType_GAUGE:
				add("", m.GetGauge().GetValue(), "", "")
			case dto.MetricType_UNTYPED:
				add("", m.GetUntyped().GetValue(), "", "")
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add("", q.GetValue(), "quantile", formatFloat(q.GetQuantile()))
				}
				add("_sum", s.GetSampleSum(), "", "")
				add("_count", float64(s.GetSampleCount()), "", "")
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.GetBucket() {
					inf = inf || math.IsInf(b.GetUpperBound(), 1)
					add("_bucket", float64(b.GetCumulativeCount()), "le", formatFloat(b.GetUpperBound()))
				}
				if !inf { // as the text exposition adds it
					add("_bucket", float64(h.GetSampleCount()), "le", "+Inf")
				}
				add("_sum", h.GetSampleSum(), "", "")
				add("_count", float64(h.GetSampleCount()), "", "")
			}
		}
	}
	return e.buf, n
}

// add appends one series of one sample. Labels are sorted by name, as the
// protocol requires; empty values are absent labels in Prometheus.
func (e *encoder) add(name string, lps []*dto.LabelPair, extraName, extraValue string, v float64, ts int64) {
	e.labels = append(e.labels[:0], Label{"__name__", name})
	for _, lp := range lps {
		e.labels = append(e.labels, Label{lp.GetName(), lp.GetValue()})
	}
	if extraName != "" {
		e.labels = append(e.labels, Label{extraName, extraValue})
	}
	for _, l := range e.extra {
		if !slices.ContainsFunc(e.labels, func(x Label) bool { return x.Name == l.Name }) {
			e.labels = append(e.labels, l)
		}
	}
	slices.SortFunc(e.labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })

	s := e.series[:0]
	for _, l := range e.labels {
		if l.Value == "" {
			continue
		}
		lb := protowire.AppendTag(e.label[:0], fieldName, protowire.BytesType)
		lb = protowire.AppendString(lb, l.Name)
		lb = protowire.AppendTag(lb, fieldValue, protowire.BytesType)
		lb = protowire.AppendString(lb, l.Value)
		s = protowire.AppendTag(s, fieldLabels, protowire.BytesType)
		s = protowire.AppendBytes(s, lb)
		e.label = lb
	}
	var sb [20]byte
	smp := protowire.AppendTag(sb[:0], fieldSampleVal, protowire.Fixed64Type)
	smp = protowire.AppendFixed64(smp, math.Float64bits(v))
	smp = protowire.AppendTag(smp, fieldSampleTS, protowire.VarintType)
	smp = protowire.AppendVarint(smp, uint64(ts))
	s = protowire.AppendTag(s, fieldSamples, protowire.BytesType)
	s = protowire.AppendBytes(s, smp)
	e.series = s

	e.buf = protowire.AppendTag(e.buf, fieldTimeseries, protowire.BytesType)
	e.buf = protowire.AppendBytes(e.buf, s)
}

// formatFloat writes le and quantile values as the text exposition does,
// so the series are those a scrape of /metrics makes.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
