package aggregate

import (
	"math"
	"time"
)

// sample is one point of a service's memory over time.
type sample struct {
	t   time.Time
	rss float64
}

// series is a bounded ring of samples, oldest first.
type series struct {
	buf   []sample
	start int
	n     int
}

func newSeries(capacity int) *series { return &series{buf: make([]sample, max(capacity, 2))} }

func (s *series) add(t time.Time, v float64) {
	i := (s.start + s.n) % len(s.buf)
	s.buf[i] = sample{t, v}
	if s.n < len(s.buf) {
		s.n++
	} else {
		s.start = (s.start + 1) % len(s.buf)
	}
}

func (s *series) at(i int) sample { return s.buf[(s.start+i)%len(s.buf)] }

func (s *series) last() (sample, bool) {
	if s.n == 0 {
		return sample{}, false
	}
	return s.at(s.n - 1), true
}

// fit is a least-squares line through the samples of the last window.
type fit struct {
	Slope float64 // bytes per second
	R2    float64 // goodness of fit, 0..1 (1 for a perfect line; 0 when flat)
	Span  time.Duration
	N     int
}

// fitWindow fits the samples no older than window before now.
func (s *series) fitWindow(now time.Time, window time.Duration) fit {
	var n, sx, sy, sxx, sxy, syy float64
	var first time.Time
	cut := now.Add(-window)
	for i := 0; i < s.n; i++ {
		p := s.at(i)
		if p.t.Before(cut) {
			continue
		}
		if n == 0 {
			first = p.t
		}
		x := p.t.Sub(first).Seconds()
		n++
		sx += x
		sy += p.rss
		sxx += x * x
		sxy += x * p.rss
		syy += p.rss * p.rss
	}
	f := fit{N: int(n)}
	if n < 2 {
		return f
	}
	last, _ := s.last()
	f.Span = last.t.Sub(first)
	vx := n*sxx - sx*sx
	if vx <= 0 {
		return f
	}
	f.Slope = (n*sxy - sx*sy) / vx
	vy := n*syy - sy*sy
	if vy > 0 {
		r := (n*sxy - sx*sy) / math.Sqrt(vx*vy)
		f.R2 = r * r
	}
	return f
}
