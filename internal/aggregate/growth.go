package aggregate

import (
	"math"
	"time"
)

// sample is one point of a service's memory over time.
type sample struct {
	t   int64 // unix ns
	rss float64
}

// series is a bounded ring of samples with running least-squares sums for
// each window asked of it, so a fit costs O(1) a tick, not a ring scan.
type series struct {
	buf    []sample
	seq    int64 // samples ever added; the newest is seq-1
	origin int64 // x = (t-origin) seconds, y = rss-ref: small numbers
	ref    float64
	wins   []*window
	adds   int
}

// window holds the sums over samples [tail, seq) of one window.
type window struct {
	d                        int64 // ns
	tail                     int64
	n, sx, sy, sxx, sxy, syy float64
}

// resync recomputes the sums exactly this often, shedding rounding drift.
const resync = 512

func newSeries(capacity int) *series { return &series{buf: make([]sample, max(capacity, 2))} }

func (s *series) len() int { return int(min(s.seq, int64(len(s.buf)))) }

func (s *series) get(seq int64) sample { return s.buf[seq%int64(len(s.buf))] }

// at is the i-th sample held, oldest first.
func (s *series) at(i int) sample { return s.get(s.seq - int64(s.len()) + int64(i)) }

func (s *series) last() (sample, bool) {
	if s.seq == 0 {
		return sample{}, false
	}
	return s.get(s.seq - 1), true
}

func (s *series) add(t time.Time, v float64) {
	p := sample{t.UnixNano(), v}
	if s.seq == 0 {
		s.origin, s.ref = p.t, v
	}
	// The slot about to be overwritten leaves every window holding it.
	if old := s.seq - int64(len(s.buf)); old >= 0 {
		for _, w := range s.wins {
			if w.tail == old {
				s.drop(w)
			}
		}
	}
	s.buf[s.seq%int64(len(s.buf))] = p
	s.seq++
	for _, w := range s.wins {
		s.put(w, p, 1)
		s.trim(w, p.t)
	}
	if s.adds++; s.adds >= resync {
		s.rebase()
	}
}

func (s *series) put(w *window, p sample, sign float64) {
	x := float64(p.t-s.origin) / 1e9
	y := p.rss - s.ref
	w.n += sign
	w.sx += sign * x
	w.sy += sign * y
	w.sxx += sign * x * x
	w.sxy += sign * x * y
	w.syy += sign * y * y
}

func (s *series) drop(w *window) {
	s.put(w, s.get(w.tail), -1)
	w.tail++
}

// trim drops samples older than the window before now.
func (s *series) trim(w *window, now int64) {
	for w.tail < s.seq && s.get(w.tail).t < now-w.d {
		s.drop(w)
	}
}

// rebase moves the origin to the oldest sample held and recomputes every sum.
func (s *series) rebase() {
	s.adds = 0
	if s.seq == 0 {
		return
	}
	s.origin = s.at(0).t
	last, _ := s.last()
	s.ref = last.rss
	for _, w := range s.wins {
		s.sum(w)
	}
}

func (s *series) sum(w *window) {
	w.n, w.sx, w.sy, w.sxx, w.sxy, w.syy = 0, 0, 0, 0, 0, 0
	for q := w.tail; q < s.seq; q++ {
		s.put(w, s.get(q), 1)
	}
}

func (s *series) window(d time.Duration, now int64) *window {
	for _, w := range s.wins {
		if w.d == int64(d) {
			return w
		}
	}
	w := &window{d: int64(d), tail: s.seq - int64(s.len())}
	for w.tail < s.seq && s.get(w.tail).t < now-w.d {
		w.tail++
	}
	s.sum(w)
	s.wins = append(s.wins, w)
	return w
}

// fit is a least-squares line through the samples of the last window.
type fit struct {
	Slope float64 // bytes per second
	R2    float64 // goodness of fit, 0..1 (1 for a perfect line; 0 when flat)
	Span  time.Duration
	N     int
}

// covers says the fit spans at least 80% of the window d: a shorter one
// stands on too little history to be that window's figure.
func (f fit) covers(d time.Duration) bool { return f.N >= 2 && f.Span >= d*8/10 }

// fitWindow fits the samples no older than window before now.
func (s *series) fitWindow(now time.Time, d time.Duration) fit {
	w := s.window(d, now.UnixNano())
	s.trim(w, now.UnixNano())
	f := fit{N: int(w.n)}
	if w.n < 2 {
		return f
	}
	last, _ := s.last()
	f.Span = time.Duration(last.t - s.get(w.tail).t)
	n := w.n
	vx := n*w.sxx - w.sx*w.sx
	if vx <= 0 {
		return f
	}
	cov := n*w.sxy - w.sx*w.sy
	f.Slope = cov / vx
	vy := n*w.syy - w.sy*w.sy
	if vy > 0 {
		r := cov / math.Sqrt(vx*vy)
		f.R2 = min(r*r, 1)
	}
	return f
}
