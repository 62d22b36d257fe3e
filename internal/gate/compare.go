package gate

import (
	"fmt"
	"os"
	"sort"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/units"
)

// RegressionFloor is the least growth of a peak that counts as a
// regression, whatever its percentage, so that small services don't flap.
const RegressionFloor = 16 << 20

// Figures reads a service's PSS over a dump's window from its samples; ok
// is false when no sample has a process (the service never ran). Samples
// whose PSS is partial (RSS standing in for a member not read yet, which
// overstates it) count only when the service has no other.
func Figures(s *dump.Service) (f dump.Figures, ok bool) {
	covered := false
	for _, p := range s.Samples {
		covered = covered || p.Procs > 0 && p.PSSCovered
	}
	first := true
	for _, p := range s.Samples {
		if covered && !p.PSSCovered {
			continue
		}
		if first {
			f.GrowthBytes, first = -int64(p.PSS), false
		}
		if p.Procs == 0 {
			continue
		}
		if !ok || p.PSS > f.PeakPSSBytes {
			f.PeakPSSBytes, f.PeakTime = p.PSS, p.Time
		}
		f.EndPSSBytes, ok = p.PSS, true
	}
	f.GrowthBytes += int64(f.EndPSSBytes)
	return f, ok
}

func figuresOf(d *dump.Dump, name string) (dump.Figures, bool) {
	for i := range d.Services {
		if d.Services[i].Name == name {
			return Figures(&d.Services[i])
		}
	}
	return dump.Figures{}, false
}

// Compare compares summary b with summary a, the earlier one. With
// maxPct >= 0, a service whose peak PSS grew by more than maxPct percent
// and more than RegressionFloor is a regression; a negative maxPct
// leaves regressions out.
func Compare(a, b *dump.Dump, maxPct float64) *dump.Comparison {
	c := &dump.Comparison{ATime: a.Time, BTime: b.Time, RegressionFloorBytes: RegressionFloor}
	if maxPct >= 0 {
		c.MaxRegressionPct = &maxPct
	}
	fa, fb := figureMap(a), figureMap(b)
	for name, x := range fa {
		s := dump.ServiceChange{Name: name, Status: dump.ChangeVanished, A: x}
		if y, ok := fb[name]; ok {
			s.Status, s.B = dump.ChangeBoth, y
		}
		c.Services = append(c.Services, change(s, maxPct))
	}
	for name, y := range fb {
		if fa[name] == nil {
			c.Services = append(c.Services, change(dump.ServiceChange{Name: name, Status: dump.ChangeNew, B: y}, maxPct))
		}
	}
	sort.Slice(c.Services, func(i, j int) bool {
		x, y := c.Services[i], c.Services[j]
		if x.PeakChangeBytes != y.PeakChangeBytes {
			return x.PeakChangeBytes > y.PeakChangeBytes
		}
		return x.Name < y.Name
	})
	return c
}

// figureMap holds the services of d that ran.
func figureMap(d *dump.Dump) map[string]*dump.Figures {
	m := map[string]*dump.Figures{}
	for i := range d.Services {
		if f, ok := Figures(&d.Services[i]); ok {
			m[d.Services[i].Name] = &f
		}
	}
	return m
}

func change(s dump.ServiceChange, maxPct float64) dump.ServiceChange {
	var a, b dump.Figures // zero for the side a service is missing from
	if s.A != nil {
		a = *s.A
	}
	if s.B != nil {
		b = *s.B
	}
	s.PeakChangeBytes = int64(b.PeakPSSBytes) - int64(a.PeakPSSBytes)
	s.EndChangeBytes = int64(b.EndPSSBytes) - int64(a.EndPSSBytes)
	s.GrowthChangeBytes = b.GrowthBytes - a.GrowthBytes
	if s.Status == dump.ChangeBoth {
		s.PeakChangePct = percent(s.PeakChangeBytes, a.PeakPSSBytes)
		s.EndChangePct = percent(s.EndChangeBytes, a.EndPSSBytes)
		s.Regression = maxPct >= 0 && s.PeakChangePct != nil && *s.PeakChangePct > maxPct && s.PeakChangeBytes > RegressionFloor
	}
	return s
}

func percent(delta int64, base uint64) *float64 {
	if base == 0 {
		return nil
	}
	p := float64(delta) * 100 / float64(base)
	return &p
}

// Regressions lists the regressions as "SERVICE peak PSS regressed X -> Y
// (+P% > max%)".
func Regressions(c *dump.Comparison) []string {
	var out []string
	for _, s := range c.Services {
		if s.Regression {
			out = append(out, fmt.Sprintf("%s peak PSS regressed %s -> %s (%+.1f%% > %g%%)", s.Name, units.Bytes(s.A.PeakPSSBytes), units.Bytes(s.B.PeakPSSBytes), *s.PeakChangePct, *c.MaxRegressionPct))
		}
	}
	return out
}

// ReadSummary reads a summary dump of this schema version, to compare
// with; anything else is a one-line error naming the file.
func ReadSummary(path string) (*dump.Dump, error) {
	d, err := dump.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, err
	}
	if d.Version != dump.Version {
		return nil, fmt.Errorf("%s: schema version %d, this oomtrace compares version %d", path, d.Version, dump.Version)
	}
	if d.Kind != dump.KindSummary {
		return nil, fmt.Errorf("%s: a dump of kind %s, not a run's summary (summary.json)", path, d.Kind)
	}
	return d, nil
}
