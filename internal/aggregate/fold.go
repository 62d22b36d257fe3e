package aggregate

import (
	"path"
	"regexp"
)

// The folding of a stack with Python frames, shared by every view that
// shows stacks collapsed (top's drill-down, the dump's text and page). The
// data (JSON, pprof) keeps every frame.

// interpFileRe names the files that hold the interpreter: the python binary
// or libpython (as internal/python finds them).
var interpFileRe = regexp.MustCompile(`^(lib)?python([0-9]+)\.([0-9]+)[a-z]*(\.so.*)?$|^python[0-9]*$`)

// FoldMask says which frames of a stack (innermost first) fold when it is
// shown collapsed: in a stack with Python frames, the interpreter's own
// native frames between two Python frames (its eval loop, calls and
// wrappers: frames of the python binary or libpython) and every native
// frame outside the outermost Python frame (Py_RunMain, main, _start, a
// thread's start). The native frames inside the innermost Python frame (the
// allocator: PyObject_Malloc, malloc, mmap) stay, and so does a C
// extension's frame between Python frames. nil when nothing folds.
func FoldMask(frames []Frame) []bool {
	inner, outer := -1, -1
	for i, f := range frames {
		if f.Kind == "python" {
			if inner < 0 {
				inner = i
			}
			outer = i
		}
	}
	if inner < 0 {
		return nil
	}
	var mask []bool
	for i, f := range frames {
		fold := f.Kind != "python" && (i > outer || i > inner && interpFileRe.MatchString(path.Base(f.Module)))
		if fold && mask == nil {
			mask = make([]bool, len(frames))
		}
		if fold {
			mask[i] = true
		}
	}
	return mask
}

// Foldable reports whether some of the stacks have frames FoldMask folds.
func Foldable(stacks []Stack) bool {
	for _, st := range stacks {
		if FoldMask(st.Frames) != nil {
			return true
		}
	}
	return false
}

// FrameRow is a row of a stack shown collapsed: one frame, or a run of
// Folded native frames.
type FrameRow struct {
	Frame  Frame // when Folded is 0
	Folded int
}

// Frames is how many of the stack's frames the row stands for.
func (r FrameRow) Frames() int {
	return max(1, r.Folded)
}

// Collapse returns the rows of a stack shown collapsed, innermost first:
// each run of frames FoldMask folds is one row. With room > 0 and more rows
// than room, the native frames inside the innermost Python frame give way
// too, innermost kept, so that the Python frames stay in view; the caller
// cuts what is still past room.
func Collapse(frames []Frame, room int) []FrameRow {
	mask := FoldMask(frames)
	var rows []FrameRow
	for i, f := range frames {
		switch {
		case mask == nil || !mask[i]:
			rows = append(rows, FrameRow{Frame: f})
		case len(rows) > 0 && rows[len(rows)-1].Folded > 0:
			rows[len(rows)-1].Folded++
		default:
			rows = append(rows, FrameRow{Folded: 1})
		}
	}
	if mask == nil || room <= 0 || len(rows) <= room {
		return rows
	}
	leaf := 0 // rows before the innermost Python frame: native, none folded
	for leaf < len(rows) && rows[leaf].Frame.Kind != "python" {
		leaf++
	}
	keep := max(0, room-(len(rows)-leaf)-1)
	if leaf-keep < 2 {
		return rows // a row for one frame saves nothing
	}
	out := append(rows[:keep:keep], FrameRow{Folded: leaf - keep})
	return append(out, rows[leaf:]...)
}
