package top

import (
	"fmt"
	"math"
	"path"
	"strconv"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// stackShapes are the drill-down's ways to show a service's growth stacks,
// most first: how many stacks, how many frames of each. The first that
// fits the room left above the processes is used.
var stackShapes = []stackShape{{3, 8}, {3, 5}, {2, 4}, {1, 4}, {1, 2}}

// unfoldedShapes serve once f has unfolded the stacks: every frame of as
// many stacks as fit first, then the shapes that cut them.
var unfoldedShapes = append([]stackShape{{3, math.MaxInt}, {2, math.MaxInt}, {1, math.MaxInt}}, stackShapes...)

type stackShape struct{ stacks, frames int }

// minProcRows is the room the processes keep below the stacks.
const minProcRows = 3

// stackLines is the drill-down's block of the service's top held-growth
// stacks, innermost frame first, fitted to the screen; nil when the
// service has none or no shape fits.
func (m Model) stackLines(s aggregate.Service) []string {
	if len(s.Stacks) == 0 {
		return nil
	}
	room := -1
	if m.height > 0 {
		room = m.height - len(m.header()) - len(m.help()) - len(m.summary(s)) - 1 - min(minProcRows, max(1, len(m.processes())))
	}
	shapes := stackShapes
	if m.allFrames {
		shapes = unfoldedShapes
	}
	for _, sh := range shapes {
		if out := m.renderStacks(s.Stacks, sh.stacks, sh.frames); room < 0 || len(out) <= room {
			return out
		}
	}
	return nil
}

func (m Model) renderStacks(stacks []aggregate.Stack, n, frames int) []string {
	out := []string{truncate(m.st.head.Render("GROWTH STACKS")+" held · grown in window · samples, innermost frame first", m.width)}
	for i, st := range stacks[:min(n, len(stacks))] {
		head := fmt.Sprintf(" #%d held %s  grown %s  %s samples", i+1, units.Bytes(st.HeldBytes), units.Bytes(st.GrownBytes), strconv.FormatUint(st.Samples, 10))
		if st.Truncated {
			head += "  " + m.st.warn.Render("truncated")
		}
		out = append(out, truncate(head, m.width))
		rows := aggregate.Collapse(st.Frames, frames)
		if m.allFrames {
			rows = rows[:0:0]
			for _, f := range st.Frames {
				rows = append(rows, aggregate.FrameRow{Frame: f})
			}
		}
		more := len(st.Frames)
		for _, r := range rows[:min(frames, len(rows))] {
			more -= r.Frames()
			if r.Folded > 0 {
				out = append(out, truncate(m.st.help.Render(fmt.Sprintf("    … %d native frames (f shows)", r.Folded)), m.width))
				continue
			}
			out = append(out, truncate("    "+frameText(r.Frame), m.width))
		}
		if more > 0 {
			out = append(out, truncate(fmt.Sprintf("    … %d more", more), m.width))
		}
	}
	if more := len(stacks) - n; more > 0 {
		out = append(out, truncate(fmt.Sprintf(" … %d more stacks (top --json)", more), m.width))
	}
	return append(out, "")
}

// frameText is "function  file:line", "function (module)" or
// "module+0xoffset", escaped.
func frameText(f aggregate.Frame) string {
	if f.Function == "" {
		mod := f.Module
		if mod == "" {
			mod = "[unknown]"
		}
		return safe.Text(path.Base(mod)) + "+0x" + strconv.FormatUint(f.Offset, 16)
	}
	switch {
	case f.File != "" && f.Line > 0:
		return safe.Text(f.Function) + "  " + safe.Text(path.Base(f.File)) + ":" + strconv.Itoa(f.Line)
	case f.Module != "":
		return safe.Text(f.Function) + " (" + safe.Text(path.Base(f.Module)) + ")"
	}
	return safe.Text(f.Function)
}
