package aggregate

import (
	"math"
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
	if s.n != 3 || s.at(0).rss != 2 || s.at(2).rss != 4 {
		t.Errorf("ring holds n=%d first=%v last=%v", s.n, s.at(0), s.at(2))
	}
	if f := s.fitWindow(time.Unix(4, 0), time.Hour); f.N != 3 || math.Abs(f.Slope-1) > 1e-9 {
		t.Errorf("fit %+v", f)
	}
}
