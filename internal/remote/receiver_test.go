package remote

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// sample is one decoded series of one sample.
type sample struct {
	labels []Label // as sent, in order
	value  float64
	ts     int64
}

func (s sample) get(name string) string {
	for _, l := range s.labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// key is the series' identity without the labels the writer adds.
func (s sample) key() string {
	var b strings.Builder
	for _, l := range s.labels {
		if l.Name != "job" && l.Name != "instance" {
			fmt.Fprintf(&b, "%s=%q,", l.Name, l.Value)
		}
	}
	return b.String()
}

type request struct {
	header  http.Header
	samples []sample
}

// receiver is a remote-write 1.0 endpoint: it decodes each request (snappy,
// then the protobuf, by the field numbers of prompb) and answers with the
// status that status returns (204 when nil).
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	status   func() int
	attempts int       // requests seen, answered or not
	accepted []request // requests answered 2xx
	seen     chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, seen: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() *url.URL {
	u, _ := url.Parse(r.srv.URL + "/api/v1/write")
	return u
}

func (r *receiver) setStatus(f func() int) {
	r.mu.Lock()
	r.status = f
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		r.t.Errorf("request body is not snappy: %v", err)
		http.Error(w, err.Error(), 400)
		return
	}
	samples, err := decodeWriteRequest(raw)
	if err != nil {
		r.t.Errorf("request body: %v", err)
		http.Error(w, err.Error(), 400)
		return
	}
	r.mu.Lock()
	r.attempts++
	code := http.StatusNoContent
	if r.status != nil {
		code = r.status()
	}
	if code/100 == 2 {
		r.accepted = append(r.accepted, request{header: req.Header.Clone(), samples: samples})
	}
	r.mu.Unlock()
	r.seen <- struct{}{}
	w.WriteHeader(code)
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted)
}

func (r *receiver) attemptCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// waitAttempts waits until the receiver has seen n requests.
func (r *receiver) waitAttempts(n int) {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for r.attemptCount() < n {
		select {
		case <-r.seen:
		case <-deadline:
			r.t.Fatalf("receiver saw %d requests, want %d", r.attemptCount(), n)
		}
	}
}

func decodeWriteRequest(b []byte) ([]sample, error) {
	var out []sample
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != fieldTimeseries || typ != protowire.BytesType {
			return fmt.Errorf("WriteRequest: unexpected field %d type %d", num, typ)
		}
		var s sample
		n := 0
		err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			switch {
			case num == fieldLabels && typ == protowire.BytesType:
				var l Label
				return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
					switch num {
					case fieldName:
						l.Name = string(v)
					case fieldValue:
						l.Value = string(v)
						s.labels = append(s.labels, l)
					default:
						return fmt.Errorf("Label: field %d", num)
					}
					return nil
				})
			case num == fieldSamples && typ == protowire.BytesType:
				n++
				return fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
					switch {
					case num == fieldSampleVal && typ == protowire.Fixed64Type:
						s.value = math.Float64frombits(x)
					case num == fieldSampleTS && typ == protowire.VarintType:
						s.ts = int64(x)
					default:
						return fmt.Errorf("Sample: field %d type %d", num, typ)
					}
					return nil
				})
			}
			return fmt.Errorf("TimeSeries: unexpected field %d type %d", num, typ)
		})
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("series %v: %d samples, want 1", s.labels, n)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// fields calls f for each field of the message b: v is a bytes field's
// content, x a varint or fixed64 field's value.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		default:
			return fmt.Errorf("field %d: wire type %d", num, typ)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
