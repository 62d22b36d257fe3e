package dump

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// Geometry of the flame graph (an icicle: the outermost frame on top).
const (
	flameW      = 1180 // px, the width of all held bytes
	flameRow    = 18   // px per frame
	flameMinW   = 0.3  // px: narrower frames are left out, with their callees
	flameCharW  = 6.8  // px per character of an 11 px monospace label
	flameLabelX = 3    // px of padding before a label
)

// flameNode is a frame of the merged tree: stacks that agree from the
// outermost frame down share their nodes.
type flameNode struct {
	frame    aggregate.Frame
	marker   string // the root ("all") or the mark on top of a truncated stack
	held     uint64
	grown    uint64
	samples  uint64
	children []*flameNode
}

// frameKey identifies a frame in the tree: its function, file and module
// (calls from different lines of one function merge), or where it has no
// function, its module and offset.
func frameKey(f aggregate.Frame) string {
	if f.Function == "" {
		return fmt.Sprintf("\x00%s\x00%x\x00%s", f.Module, f.Offset, f.Kind)
	}
	return f.Function + "\x00" + f.File + "\x00" + f.Module + "\x00" + f.Kind
}

// truncatedMark heads the frames of stacks whose unwinding stopped before
// the outermost frame: what is above their first frame is unknown.
const truncatedMark = "[unwinding stopped]"

// flameTree merges stacks into a tree by common prefix from the outermost
// frame; with fold, without the frames aggregate.FoldMask folds.
func flameTree(stacks []aggregate.Stack, fold bool) *flameNode {
	root := &flameNode{marker: "all"}
	add := func(n *flameNode, st aggregate.Stack) {
		n.held = satAdd(n.held, st.HeldBytes)
		n.grown = satAdd(n.grown, st.GrownBytes)
		n.samples = satAdd(n.samples, st.Samples)
	}
	child := func(n *flameNode, key string, mk func() *flameNode) *flameNode {
		for _, c := range n.children {
			if c.key() == key {
				return c
			}
		}
		c := mk()
		n.children = append(n.children, c)
		return c
	}
	for _, st := range stacks {
		n := root
		add(n, st)
		if st.Truncated {
			n = child(n, "\x01"+truncatedMark, func() *flameNode { return &flameNode{marker: truncatedMark} })
			add(n, st)
		}
		var mask []bool
		if fold {
			mask = aggregate.FoldMask(st.Frames)
		}
		for i := len(st.Frames) - 1; i >= 0; i-- {
			if mask != nil && mask[i] {
				continue
			}
			f := st.Frames[i]
			n = child(n, frameKey(f), func() *flameNode { return &flameNode{frame: f} })
			if n.frame.Line != f.Line {
				n.frame.Line = 0 // merged calls from several lines: show the file alone
			}
			add(n, st)
		}
	}
	return root
}

func (n *flameNode) key() string {
	if n.marker != "" {
		return "\x01" + n.marker
	}
	return frameKey(n.frame)
}

// flameView is the drawn flame graph of one service.
type flameView struct {
	Service string
	Victim  bool
	Held    string // total held bytes of its stacks
	Stacks  int
	Empty   string // why there is nothing to draw
	W, H    int
	Rects   []flameRect
	Omitted int    // frames too narrow to draw
	Class   string // of the svg: which of the page's views shows it
}

// flameRect is one frame, already sanitized; X and W are formatted.
type flameRect struct {
	X, Y, W, H, TextX, TextY string
	Fill, Label, Title       string
	x, w                     float64 // for tests
	depth                    int
	name                     string
}

// newFlame lays out the service's held growth: width proportional to the
// bytes held, children under their caller, largest first; with fold,
// Python stacks collapsed.
func newFlame(s Service, fold bool) *flameView {
	v := &flameView{Service: safe.Text(s.Name), Victim: s.Victim, Stacks: len(s.Stacks), W: flameW}
	root := flameTree(s.Stacks, fold)
	v.Held = units.Bytes(root.held)
	if root.held == 0 {
		v.Empty = "Its sampled stacks hold nothing any more: all their growth was given back."
		return v
	}
	total := float64(root.held)
	depth := 0
	var walk func(n *flameNode, x float64, d int)
	walk = func(n *flameNode, x float64, d int) {
		w := float64(n.held) / total * flameW
		if w < flameMinW {
			v.Omitted++
			return
		}
		depth = max(depth, d+1)
		v.Rects = append(v.Rects, flameRectOf(n, x, w, d, root.held))
		kids := slices.Clone(n.children)
		slices.SortStableFunc(kids, func(a, b *flameNode) int { return cmp.Compare(b.held, a.held) })
		for _, c := range kids {
			if c.held == 0 {
				continue
			}
			walk(c, x, d+1)
			x += float64(c.held) / total * flameW
		}
	}
	walk(root, 0, 0)
	v.H = depth * flameRow
	return v
}

func flameRectOf(n *flameNode, x, w float64, depth int, total uint64) flameRect {
	r := flameRect{x: x, w: w, depth: depth,
		X: fmt.Sprintf("%.1f", x), W: fmt.Sprintf("%.1f", w),
		Y: fmt.Sprint(depth * flameRow), H: fmt.Sprint(flameRow - 1),
		TextX: fmt.Sprintf("%.1f", x+flameLabelX), TextY: fmt.Sprint(depth*flameRow + flameRow - 5),
	}
	var lines []string
	switch n.marker {
	case "all":
		r.name, r.Fill = "all", "#c9c9c9"
		lines = append(lines, "all stacks")
	case truncatedMark:
		r.name, r.Fill = truncatedMark, "#e2e2e2"
		lines = append(lines, truncatedMark, "the frames above these stacks' outermost are unknown")
	default:
		f := n.frame
		r.name, r.Fill = frameName(f), frameColor(f)
		lines = append(lines, r.name)
		if w := frameWhere(f); w != "" {
			lines = append(lines, w)
		}
		if f.Module != "" {
			lines = append(lines, "module "+safe.Text(f.Module))
		}
		if f.Kind != "" && f.Kind != "native" {
			lines = append(lines, safe.Text(f.Kind)+" frame")
		}
	}
	lines = append(lines,
		fmt.Sprintf("held %s (%s of the held bytes of the service's stacks)", units.Bytes(n.held), share(n.held, total)),
		fmt.Sprintf("grown %s, %d samples", units.Bytes(n.grown), n.samples))
	r.Title = strings.Join(lines, "\n")
	if fit := int((w - 2*flameLabelX) / flameCharW); fit >= 3 {
		r.Label = r.name
		if utf8.RuneCountInString(r.Label) > fit {
			r.Label = string([]rune(r.Label)[:fit-1]) + "…"
		}
	}
	return r
}

// frameColor is a warm colour for native frames and a green one for Python
// frames, fixed per function so a function keeps its colour across dumps;
// grey where the function is unknown.
func frameColor(f aggregate.Frame) string {
	if f.Function == "" {
		return "#bdbdbd"
	}
	h := fnv.New32a()
	h.Write([]byte(f.Function))
	v := h.Sum32()
	r, g, b := 225+v%30, 80+(v>>8)%140, 40+(v>>16)%40
	if f.Kind == "python" {
		r, g, b = 90+v%60, 180+(v>>8)%50, 90+(v>>16)%50
	}
	return fmt.Sprintf("#%02x%02x%02x", r, g, b)
}
