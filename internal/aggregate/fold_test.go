package aggregate

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// pythonStacks are the held stacks of e2e/testdata/pystacks.py ("big", 64
// MiB) under python3.11, from `oomtrace top --json`: keep's and churn's
// (Python frames between the allocator and the interpreter's start),
// startup ones with native frames only, and imports (Python frames with the
// interpreter's call frames between them).
func pythonStacks(t *testing.T) []Stack {
	t.Helper()
	b, err := os.ReadFile("testdata/python-stacks.json")
	if err != nil {
		t.Fatal(err)
	}
	var st []Stack
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func pyIndexes(fr []Frame) []int {
	var out []int
	for i, f := range fr {
		if f.Kind == "python" {
			out = append(out, i)
		}
	}
	return out
}

// expand turns rows back into the frames they stand for, a folded run as
// zero frames, checking it only stands for native frames.
func expand(t *testing.T, fr []Frame, rows []FrameRow) (shown []Frame, folded []int) {
	t.Helper()
	i := 0
	for _, r := range rows {
		if r.Folded == 0 {
			if i >= len(fr) || fr[i] != r.Frame {
				t.Fatalf("row %+v at frame %d is not that frame", r.Frame, i)
			}
			shown = append(shown, r.Frame)
			i++
			continue
		}
		for range r.Folded {
			if fr[i].Kind == "python" {
				t.Fatalf("frame %d (%s) is Python and folded", i, fr[i].Function)
			}
			folded = append(folded, i)
			i++
		}
	}
	if i != len(fr) {
		t.Fatalf("rows stand for %d of %d frames", i, len(fr))
	}
	return shown, folded
}

// Collapsed, a Python stack shows every Python frame and the allocator's
// frames inside the innermost one; the interpreter's frames between Python
// frames and everything outside the outermost fold; a stack without Python
// frames is shown whole.
func TestCollapseRealPythonStacks(t *testing.T) {
	stacks := pythonStacks(t)
	var withPy, between, native int
	for n, st := range stacks {
		fr := st.Frames
		py := pyIndexes(fr)
		rows := Collapse(fr, 0)
		shown, folded := expand(t, fr, rows)
		if len(py) == 0 {
			native++
			if FoldMask(fr) != nil || len(folded) > 0 {
				t.Errorf("stack %d has no Python frame and folds frames %v", n, folded)
			}
			continue
		}
		withPy++
		inner, outer := py[0], py[len(py)-1]
		if !slices.Equal(shown[:inner], fr[:inner]) {
			t.Errorf("stack %d: the %d native frames inside the innermost Python frame are not all shown", n, inner)
		}
		for _, i := range py {
			if !slices.Contains(shown, fr[i]) {
				t.Errorf("stack %d: Python frame %s not shown", n, fr[i].Function)
			}
		}
		for i := outer + 1; i < len(fr); i++ {
			if !slices.Contains(folded, i) {
				t.Errorf("stack %d: frame %d (%s) outside the outermost Python frame is shown", n, i, fr[i].Function)
			}
		}
		for i := inner + 1; i < outer; i++ {
			if fr[i].Kind == "python" {
				continue
			}
			between++
			if fr[i].Module != "/usr/bin/python3.11" || !slices.Contains(folded, i) {
				t.Errorf("stack %d: frame %d (%s in %s) between Python frames not folded", n, i, fr[i].Function, fr[i].Module)
			}
		}
		if fr[len(fr)-1].Function != "_start" || rows[len(rows)-1].Folded == 0 {
			t.Errorf("stack %d: outermost row %+v, want _start's run folded", n, rows[len(rows)-1])
		}
	}
	if withPy < 3 || native < 3 || between == 0 {
		t.Fatalf("fixture: %d stacks with Python frames, %d without, %d interpreter frames between Python frames", withPy, native, between)
	}
}

// keep's stack in 8 rows: its allocator frames give way, innermost kept,
// and both Python frames stay.
func TestCollapseRoom(t *testing.T) {
	fr := pythonStacks(t)[0].Frames
	py := pyIndexes(fr)
	if len(py) != 2 || fr[py[0]].Function != "keep" || py[0] < 6 {
		t.Fatalf("fixture's first stack: Python frames at %v", py)
	}
	full := Collapse(fr, 0)
	if len(full) <= 8 {
		t.Fatalf("%d rows uncut: the test needs more than 8", len(full))
	}
	rows := Collapse(fr, 8)
	shown, folded := expand(t, fr, rows)
	if len(rows) != 8 {
		t.Errorf("%d rows, want 8", len(rows))
	}
	if shown[0] != fr[0] || !slices.Contains(shown, fr[py[0]]) || !slices.Contains(shown, fr[py[1]]) {
		t.Errorf("rows %+v: want the leaf frame and both Python frames", rows)
	}
	if !slices.Contains(folded, py[0]-1) {
		t.Errorf("the allocator frame next to keep is shown: the innermost ones should stay")
	}
	if got := Collapse(fr, len(full)); !slices.Equal(got, full) {
		t.Errorf("with room for every row, rows change")
	}
}

// A C extension's frame between Python frames is the service's code, not
// the interpreter's: it stays; libpython's frames fold like the binary's.
func TestFoldMaskModules(t *testing.T) {
	var st Stack
	for _, s := range pythonStacks(t) {
		if py := pyIndexes(s.Frames); len(py) > 2 && py[len(py)-1]-py[0] > len(py) {
			st = s
			break
		}
	}
	fr := st.Frames
	py := pyIndexes(fr)
	if len(py) == 0 {
		t.Fatal("fixture: no stack with native frames between Python frames")
	}
	between := -1
	for i := py[0] + 1; i < py[len(py)-1]; i++ {
		if fr[i].Kind != "python" {
			between = i
			break
		}
	}
	for _, c := range []struct {
		module string
		fold   bool
	}{
		{"/usr/lib/python3/dist-packages/_cffi_backend.cpython-311-x86_64-linux-gnu.so", false},
		{"/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", true},
		{"/opt/py/bin/python3.13t", true},
		{"", false},
	} {
		fr2 := slices.Clone(fr)
		fr2[between].Module = c.module
		if got := FoldMask(fr2)[between]; got != c.fold {
			t.Errorf("frame in %q between Python frames folds %v, want %v", c.module, got, c.fold)
		}
	}
}
