package dump

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// testDumpPython is testDump with the victim's service holding the stacks
// of a real pystacks.py run (internal/aggregate/testdata): keep's first,
// nine native frames inside keep, eleven outside <module>.
func testDumpPython(t *testing.T) *Dump {
	t.Helper()
	b, err := os.ReadFile("../aggregate/testdata/python-stacks.json")
	if err != nil {
		t.Fatal(err)
	}
	var st []aggregate.Stack
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if f := st[0].Frames; len(f) != 22 || f[9].Function != "keep" || f[10].Function != "<module>" {
		t.Fatalf("fixture: keep's stack is not the first: %+v", f)
	}
	d := testDump()
	d.Services[0].Stacks = st
	return d
}

// The text dump (and report) shows keep's stack with its allocator frames,
// keep and <module> with file and line, and the interpreter's start folded.
func TestTextPythonFolded(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, testDumpPython(t)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	i := strings.Index(out, "  #1  held 64.2MiB")
	j := strings.Index(out, "  #2  held")
	if i < 0 || j < i {
		t.Fatalf("no keep stack in:\n%s", out)
	}
	st := out[i:j]
	for _, re := range []string{
		`(?m)^     __mmap +~?[^ ]*libc\.so\.6$`, `(?m)^     __libc_malloc +`, `(?m)^     keep +~?[^ ]*pystacks\.py:20$`,
		`(?m)^     <module> +~?[^ ]*pystacks\.py:68$`, `(?m)^     \.\.\. 11 native frames$`,
	} {
		if !regexp.MustCompile(re).MatchString(st) {
			t.Errorf("keep's stack lacks %s:\n%s", re, st)
		}
	}
	if strings.Contains(st, "Py_RunMain") {
		t.Errorf("the interpreter's start is not folded:\n%s", st)
	}
	if !strings.Contains(out, "with the interpreter's native frames folded (all are in the JSON dump)") {
		t.Errorf("the head does not say frames are folded:\n%s", out)
	}
}

// The page: where the folded flame graph draws keep's stack, <module> is
// right under "all" and keep under it; the full one, hidden until the
// checkbox is ticked, has _start there and every frame; the stack list marks folded frames and their runs, and names a
// stack by its innermost Python frame.
func TestHTMLPythonFolded(t *testing.T) {
	d := testDumpPython(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.Contains(page, `<input type="checkbox" id="allframes">`) {
		t.Fatal("no checkbox for the folded frames")
	}
	folded, full := svgWithClass(t, page, "flame foldmark"), svgWithClass(t, page, "flame fold")
	// keep's stack, the widest, is drawn from x 0: folded, <module> is
	// right under all and keep under it; in full, _start is.
	at := func(svg string, y int) string {
		m := regexp.MustCompile(`<title>([^\n]*)\n[^<]*</title><rect x="0\.0" y="` + strconv.Itoa(y) + `" `).FindStringSubmatch(svg)
		if m == nil {
			return ""
		}
		return m[1]
	}
	if a, b := at(folded, 18), at(folded, 36); a != "&lt;module&gt;" || b != "keep" {
		t.Errorf("folded flame graph: %q then %q under all, want <module> then keep", a, b)
	}
	if a := at(full, 18); a != "_start" {
		t.Errorf("full flame graph: %q under all, want _start", a)
	}
	for _, fn := range []string{"PyEval_EvalCode", "Py_BytesMain", "&lt;module&gt;", "keep", "__mmap"} {
		if !strings.Contains(full, "<title>"+fn+"\n") {
			t.Errorf("full flame graph lacks %s", fn)
		}
	}
	if !strings.Contains(page, `<li class="foldmark note">… 11 native frames</li>`) || !strings.Contains(page, `<li class="fold"><span class="mono">Py_RunMain</span>`) {
		t.Errorf("stack list: no folded run of 11 or no hidden Py_RunMain")
	}
	if !strings.Contains(page, `64 samples &#8212; <span class="mono">keep</span>`) {
		t.Errorf("keep's stack is not named by keep in the list")
	}
}

func svgWithClass(t *testing.T, page, class string) string {
	t.Helper()
	i := strings.Index(page, `<svg class="`+class+`"`)
	if i < 0 {
		t.Fatalf("no svg of class %q", class)
	}
	return page[i : i+strings.Index(page[i:], "</svg>")]
}

// pprof keeps every frame: keep's sample has 22 locations, keep's a
// function with its file and line.
func TestProfilePythonAllFrames(t *testing.T) {
	d := testDumpPython(t)
	var b bytes.Buffer
	if err := WriteProfile(&b, d); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	want := d.Services[0].Stacks[0]
	i := slices.IndexFunc(p.Sample, func(s *profile.Sample) bool { return s.Value[1] == int64(want.HeldBytes) })
	if i < 0 {
		t.Fatal("no sample of keep's held bytes")
	}
	locs := p.Sample[i].Location
	if len(locs) != len(want.Frames) {
		t.Fatalf("%d locations, want every one of the %d frames", len(locs), len(want.Frames))
	}
	for j, l := range locs {
		fn := l.Line[0].Function
		if fn.Name != frameName(want.Frames[j]) {
			t.Errorf("location %d: %s, want %s", j, fn.Name, frameName(want.Frames[j]))
		}
	}
	keep := locs[9].Line[0]
	if keep.Function.Name != "keep" || filepath.Base(keep.Function.Filename) != "pystacks.py" || keep.Line != 20 || locs[9].Mapping != nil {
		t.Errorf("keep's location: %s in %s:%d, mapping %v", keep.Function.Name, keep.Function.Filename, keep.Line, locs[9].Mapping)
	}
}
