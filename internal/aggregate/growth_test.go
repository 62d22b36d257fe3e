package aggregate

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestFitLine(t *testing.T) {
	s := newSeries(100)
	t0 := time.Unix(1000, 0)
	for i := 0; i < 60; i++ {
		s.add(t0.Add(time.Duration(i)*time.Second), 1e6+float64(i)*4096)
	}
	now := t0.Add(59 * time.Second)
	f := s.fitWindow(now, time.Minute)
	if math.Abs(f.Slope-4096) > 1e-6 || f.R2 < 0.999 || f.N != 60 || f.Span != 59*time.Second {
		t.Errorf("fit %+v, want slope 4096 R2 1 over 60 points", f)
	}
	// Only the last 10 s.
	if f := s.fitWindow(now, 10*time.Second); f.N != 11 || math.Abs(f.Slope-4096) > 1e-6 {
		t.Errorf("window fit %+v, want 11 points slope 4096", f)
	}
}

func TestFitFlatAndNoise(t *testing.T) {
	s := newSeries(100)
	t0 := time.Unix(0, 0)
	for i := 0; i < 30; i++ {
		s.add(t0.Add(time.Duration(i)*time.Second), 5e6)
	}
	if f := s.fitWindow(t0.Add(29*time.Second), time.Minute); f.Slope != 0 || f.R2 != 0 {
		t.Errorf("flat fit %+v", f)
	}
	z := newSeries(100)
	for i := 0; i < 30; i++ {
		v := 5e6
		if i%2 == 0 {
			v += 1e6
		}
		z.add(t0.Add(time.Duration(i)*time.Second), v)
	}
	if f := z.fitWindow(t0.Add(29*time.Second), time.Minute); f.R2 > 0.1 {
		t.Errorf("zig-zag fit %+v has a good R2", f)
	}
}

func TestSeriesWraps(t *testing.T) {
	s := newSeries(3)
	for i := 0; i < 5; i++ {
		s.add(time.Unix(int64(i), 0), float64(i))
	}
	if s.len() != 3 || s.at(0).rss != 2 || s.at(2).rss != 4 {
		t.Errorf("ring holds n=%d first=%v last=%v", s.len(), s.at(0), s.at(2))
	}
	if f := s.fitWindow(time.Unix(4, 0), time.Hour); f.N != 3 || math.Abs(f.Slope-1) > 1e-9 {
		t.Errorf("fit %+v", f)
	}
}

// bruteFit is the direct least-squares fit the running sums must equal.
func bruteFit(pts []sample, now time.Time, d time.Duration) fit {
	var in []sample
	for _, p := range pts {
		if p.t >= now.UnixNano()-int64(d) {
			in = append(in, p)
		}
	}
	f := fit{N: len(in)}
	if len(in) < 2 {
		return f
	}
	var n, sx, sy, sxx, sxy, syy float64
	for _, p := range in {
		x, y := float64(p.t-in[0].t)/1e9, p.rss-in[0].rss
		n++
		sx, sy = sx+x, sy+y
		sxx, sxy, syy = sxx+x*x, sxy+x*y, syy+y*y
	}
	f.Span = time.Duration(in[len(in)-1].t - in[0].t)
	vx := n*sxx - sx*sx
	f.Slope = (n*sxy - sx*sy) / vx
	if vy := n*syy - sy*sy; vy > 0 {
		r := (n*sxy - sx*sy) / math.Sqrt(vx*vy)
		f.R2 = r * r
	}
	return f
}

// The running sums give the direct fit on every tick: ragged intervals,
// a wrapping ring, windows longer than the ring, leaks on a large base.
func TestRunningFitMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSeries(capacityFor(15*time.Minute, time.Second))
	var all []sample
	now := time.Unix(1_700_000_000, 0)
	v := 40e9
	for i := 0; i < 5000; i++ {
		now = now.Add(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		switch {
		case i%1000 < 400:
			v += 1 << 20 // a leak
		case i%1000 < 700:
			v += float64(rng.IntN(64<<20)) - 32<<20 // noise
		}
		s.add(now, v)
		all = append(all, sample{now.UnixNano(), v})
		if len(all) > s.len() {
			all = all[len(all)-s.len():]
		}
		for _, d := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour} {
			got, want := s.fitWindow(now, d), bruteFit(all, now, d)
			tol := 1e-6*math.Abs(want.Slope) + 1e-3
			if got.N != want.N || got.Span != want.Span || math.Abs(got.Slope-want.Slope) > tol || math.Abs(got.R2-want.R2) > 1e-6 {
				t.Fatalf("tick %d window %v: running %+v, direct %+v", i, d, got, want)
			}
		}
	}
}
