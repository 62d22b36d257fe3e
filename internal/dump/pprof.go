package dump

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/google/pprof/profile"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
)

// HasStacks reports whether any service of d has growth stacks.
func HasStacks(d *Dump) bool {
	for _, s := range d.Services {
		if len(s.Stacks) > 0 {
			return true
		}
	}
	return false
}

// WriteProfile writes the growth stacks of d as a gzipped pprof profile
// with two sample types, grown_space/bytes and held_space/bytes (the
// default): one sample per stack, labelled with its service, one location
// per frame, one mapping per module. Names are sanitized as in the text
// dump, since `go tool pprof` prints them raw. Every mapping says its
// functions are known, so pprof never symbolizes an address against a
// local file that happens to have the module's name.
func WriteProfile(w io.Writer, d *Dump) error {
	if !HasStacks(d) {
		return errors.New("no stacks to write a profile of")
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "grown_space", Unit: "bytes"},
			{Type: "held_space", Unit: "bytes"},
		},
		DefaultSampleType: "held_space",
		TimeNanos:         d.Time.UnixNano(),
	}
	if wl := window(d); wl > 0 {
		p.DurationNanos = wl.Nanoseconds()
	}
	b := profileBuilder{p: p, mappings: map[string]*profile.Mapping{}, functions: map[[2]string]*profile.Function{},
		locations: map[locationKey]*profile.Location{}}
	for _, s := range d.Services {
		name := safe.Text(s.Name)
		for _, st := range s.Stacks {
			sm := &profile.Sample{
				Value:    []int64{clampInt64(st.GrownBytes), clampInt64(st.HeldBytes)},
				Label:    map[string][]string{"service": {name}},
				NumLabel: map[string][]int64{"samples": {clampInt64(st.Samples)}},
			}
			if st.Truncated {
				sm.Label["truncated"] = []string{"true"}
			}
			for _, f := range st.Frames {
				sm.Location = append(sm.Location, b.location(f))
			}
			p.Sample = append(p.Sample, sm)
		}
	}
	if err := p.CheckValid(); err != nil {
		return fmt.Errorf("pprof profile: %w", err)
	}
	return p.Write(w)
}

type locationKey struct {
	module, function, file string
	offset                 uint64
	line                   int
}

type profileBuilder struct {
	p         *profile.Profile
	mappings  map[string]*profile.Mapping
	functions map[[2]string]*profile.Function
	locations map[locationKey]*profile.Location
}

// location returns the one Location of a frame, made on first use.
func (b *profileBuilder) location(f aggregate.Frame) *profile.Location {
	k := locationKey{module: f.Module, function: f.Function, file: f.File, offset: f.Offset, line: f.Line}
	if f.Function != "" {
		k.offset = 0 // as in the text dump, a known function shows no offset
	}
	if l := b.locations[k]; l != nil {
		return l
	}
	name := frameName(f)
	fk := [2]string{name, f.File}
	fn := b.functions[fk]
	if fn == nil {
		fn = &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: name, SystemName: name, Filename: safe.Text(f.File)}
		b.functions[fk] = fn
		b.p.Function = append(b.p.Function, fn)
	}
	l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Mapping: b.mapping(f.Module), Address: k.offset,
		Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
	b.locations[k] = l
	b.p.Location = append(b.p.Location, l)
	return l
}

func (b *profileBuilder) mapping(module string) *profile.Mapping {
	if module == "" {
		return nil
	}
	m := b.mappings[module]
	if m == nil {
		m = &profile.Mapping{ID: uint64(len(b.p.Mapping) + 1), File: safe.Text(module),
			HasFunctions: true, HasFilenames: true, HasLineNumbers: true}
		b.mappings[module] = m
		b.p.Mapping = append(b.p.Mapping, m)
	}
	return m
}

func clampInt64(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}
