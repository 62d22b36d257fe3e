package dump

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
)

// Bounds of the growth stacks a dump carries: at most MaxStacks stacks of at
// most MaxFrames frames on each of at most MaxStackServices services, so
// about 8 × 16 × 64 frames (some 2 MiB of JSON at worst).
const (
	MaxStackServices = 8
	MaxStacks        = 16
	MaxFrames        = 64
	// maxFrameString bounds each string of a frame in a decoded dump.
	maxFrameString = 4096
)

// AttachStacks gives the services of d that matter their growth stacks, as
// stacksOf returns them (the last ones seen; nil for none): the victims' of
// the kills first, then the trigger's, then the top growers', up to
// MaxStackServices services that have some. Each keeps its MaxStacks stacks
// that hold most, each cut to its MaxFrames innermost frames (and then
// marked truncated); stacks without frames are dropped. The stacks are
// copied, so d shares nothing with stacksOf's.
func AttachStacks(d *Dump, stacksOf func(service string) []aggregate.Stack) {
	var names []string
	for _, k := range kills(d) {
		names = append(names, k.Victim.Service, k.Trigger.Service)
	}
	top, _ := topServices(d, 0)
	for _, s := range top {
		names = append(names, s.Name)
	}
	index := map[string]int{}
	for i, s := range d.Services {
		index[s.Name] = i
	}
	done := map[string]bool{}
	n := 0
	for _, name := range names {
		i, ok := index[name]
		if !ok || done[name] || n == MaxStackServices {
			continue
		}
		done[name] = true
		if st := boundStacks(stacksOf(name)); len(st) > 0 {
			d.Services[i].Stacks = st
			n++
		}
	}
}

// boundStacks returns a copy of the MaxStacks stacks that hold most (then
// grew most), frames cut to MaxFrames.
func boundStacks(in []aggregate.Stack) []aggregate.Stack {
	var out []aggregate.Stack
	for _, s := range in {
		if len(s.Frames) == 0 {
			continue
		}
		if len(s.Frames) > MaxFrames {
			s.Frames, s.Truncated = s.Frames[:MaxFrames], true
		}
		s.Frames = slices.Clone(s.Frames)
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b aggregate.Stack) int {
		if c := cmp.Compare(b.HeldBytes, a.HeldBytes); c != 0 {
			return c
		}
		return cmp.Compare(b.GrownBytes, a.GrownBytes)
	})
	if len(out) > MaxStacks {
		out = out[:MaxStacks]
	}
	return out
}

// checkStacks rejects stacks no writer produces: too many, too deep, without
// frames, a negative line or an oversized string. Strings are otherwise
// untrusted and escaped where they are shown.
func checkStacks(d *Dump) error {
	n := 0
	for _, s := range d.Services {
		if len(s.Stacks) == 0 {
			continue
		}
		if n++; n > MaxStackServices {
			return fmt.Errorf("corrupt dump: stacks on more than %d services", MaxStackServices)
		}
		if len(s.Stacks) > MaxStacks {
			return fmt.Errorf("corrupt dump: service %.60q has %d stacks, more than %d", s.Name, len(s.Stacks), MaxStacks)
		}
		for j, st := range s.Stacks {
			if err := checkStack(st); err != nil {
				return fmt.Errorf("corrupt dump: service %.60q stack %d: %w", s.Name, j+1, err)
			}
		}
	}
	return nil
}

func checkStack(st aggregate.Stack) error {
	switch {
	case len(st.Frames) == 0:
		return errors.New("no frames")
	case len(st.Frames) > MaxFrames:
		return fmt.Errorf("%d frames, more than %d", len(st.Frames), MaxFrames)
	}
	for i, f := range st.Frames {
		if f.Line < 0 {
			return fmt.Errorf("frame %d: line %d", i+1, f.Line)
		}
		for _, s := range []string{f.Function, f.File, f.Module, f.Kind} {
			if len(s) > maxFrameString {
				return fmt.Errorf("frame %d: a name of %d bytes, more than %d", i+1, len(s), maxFrameString)
			}
		}
	}
	return nil
}

// stackServices returns the services of d that have stacks, the victim's
// first, then most grown first.
func stackServices(d *Dump) []Service {
	top, _ := topServices(d, 0)
	var out []Service
	for _, s := range top {
		if len(s.Stacks) > 0 {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Service) int {
		switch {
		case a.Victim == b.Victim:
			return 0
		case a.Victim:
			return -1
		}
		return 1
	})
	return out
}

// frameName names a frame for display, sanitized: its function, else
// module+0xoffset, else "?".
func frameName(f aggregate.Frame) string {
	switch {
	case f.Function != "":
		return safe.Text(f.Function)
	case f.Module != "":
		return fmt.Sprintf("%s+0x%x", safe.Text(f.Module), f.Offset)
	}
	return "?"
}

// frameWhere is a frame's file:line, sanitized, or "".
func frameWhere(f aggregate.Frame) string {
	switch {
	case f.File == "":
		return ""
	case f.Line > 0:
		return fmt.Sprintf("%s:%d", safe.Text(f.File), f.Line)
	}
	return safe.Text(f.File)
}

// frameModule is a frame's module, sanitized, or "" when frameName holds it.
func frameModule(f aggregate.Frame) string {
	if f.Function == "" {
		return ""
	}
	return safe.Text(f.Module)
}

// heldTotal sums the held bytes of stacks.
func heldTotal(st []aggregate.Stack) uint64 {
	var t uint64
	for _, s := range st {
		t = satAdd(t, s.HeldBytes)
	}
	return t
}

// satAdd adds without wrapping around: a decoded dump may hold any figure.
func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}
