package top

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// withPythonStacks is the fixture with nova-api's stacks those of a real
// pystacks.py run (internal/aggregate/testdata): keep's first, its Python
// frames below nine native ones.
func withPythonStacks(t *testing.T) aggregate.Snapshot {
	t.Helper()
	b, err := os.ReadFile("../aggregate/testdata/python-stacks.json")
	if err != nil {
		t.Fatal(err)
	}
	snap := fixture()
	if err := json.Unmarshal(b, &snap.Services[0].Stacks); err != nil {
		t.Fatal(err)
	}
	return snap
}

// A Python service's drill-down shows keep's qualname, file and line and
// the frame that called it, with the interpreter's frames folded; f shows
// every frame of as many stacks as fit, and folds them again.
func TestModelDrillDownPythonFolded(t *testing.T) {
	m := newModel(t, 120, 60)
	m.Push(withPythonStacks(t))
	m = update(t, m, keyDown, keyEnter) // nova-api
	v := m.View()
	for _, want := range []string{"keep  pystacks.py:20", "<module>  pystacks.py:68", "__mmap (libc.so.6)",
		"… 5 native frames (f shows)", "… 11 native frames (f shows)", "f all frames"} {
		if !strings.Contains(v, want) {
			t.Errorf("collapsed drill-down lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "Py_RunMain") || strings.Index(v, "__mmap") > strings.Index(v, "keep ") {
		t.Errorf("collapsed: Py_RunMain shown, or frames not innermost first:\n%s", v)
	}
	checkFits(t, m)

	f := runes("f")
	m = update(t, m, f)
	v = m.View()
	if strings.Contains(v, "native frames (f shows)") || !strings.Contains(v, "__libc_malloc (libc.so.6)") || !strings.Contains(v, "f fold frames") {
		t.Errorf("after f, frames still folded:\n%s", v)
	}
	// Every frame of #1, outermost included: none cut.
	for _, want := range []string{"keep  pystacks.py:20", "<module>  pystacks.py:68", "Py_RunMain"} {
		if !strings.Contains(v, want) || strings.Contains(v, "more\n") {
			t.Errorf("after f, %q not shown or frames cut:\n%s", want, v)
		}
	}
	checkFits(t, m)
	if v = update(t, m, f).View(); !strings.Contains(v, "keep  pystacks.py:20") {
		t.Errorf("f again: keep not shown:\n%s", v)
	}
}

// A service without Python frames has nothing to fold: no f in the help.
func TestModelDrillDownNativeNoFoldKey(t *testing.T) {
	m := newModel(t, 120, 60)
	m.Push(withStacks())
	m = update(t, m, keyDown, keyEnter)
	if v := m.View(); strings.Contains(v, "f all frames") || strings.Contains(v, "native frames (f") {
		t.Errorf("fold key or marker without Python frames:\n%s", v)
	}
}
