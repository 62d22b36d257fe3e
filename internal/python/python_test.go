package python

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oomtrace/oomtrace/internal/native"
	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/tracer"
)

// The interpreters to test with: Debian's (a fixed-address executable) and,
// where present, one built with a shared libpython (loaded at a random
// address), as pyenv builds it.
func pythons(t *testing.T) []string {
	var out []string
	for _, p := range []string{"/usr/bin/python3.11", os.Getenv("OOMTRACE_PYTHON_SHARED")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		testutil.NeedFile(t, "/usr/bin/python3.11", "python3.11")
	}
	return out
}

type liveCode struct {
	id             uint64
	qualname, file string
	firstLine      int
}

type liveTable struct {
	id        uint64
	firstLine int
	table     []byte
	lines     []int
}

// startLive runs testdata/live.py and reads what it says of its code.
func startLive(t *testing.T, py string) (int, []liveCode, uint64, []liveTable) {
	t.Helper()
	return startLiveCmd(t, exec.Command(py, "testdata/live.py"))
}

// startLiveCmd runs cmd, a live.py, and reads what it says of its code.
func startLiveCmd(t *testing.T, cmd *exec.Cmd) (int, []liveCode, uint64, []liveTable) {
	t.Helper()
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	var codes []liveCode
	var tables []liveTable
	var notCode uint64
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	unq := func(s string) string {
		var u string
		if err := json.Unmarshal([]byte(s), &u); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return u
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "code":
			id, _ := strconv.ParseUint(f[1], 10, 64)
			line, _ := strconv.Atoi(f[4])
			codes = append(codes, liveCode{id: id, qualname: unq(f[2]), file: unq(f[3]), firstLine: line})
		case "notcode":
			notCode, _ = strconv.ParseUint(f[1], 10, 64)
		case "lines":
			id, _ := strconv.ParseUint(f[1], 10, 64)
			first, _ := strconv.Atoi(f[2])
			b, err := hex.DecodeString(f[3])
			if err != nil {
				t.Fatal(err)
			}
			lt := liveTable{id: id, firstLine: first, table: b}
			for _, s := range strings.Split(f[4], ",") {
				n, _ := strconv.Atoi(s)
				lt.lines = append(lt.lines, n)
			}
			tables = append(tables, lt)
		case "ready":
			return cmd.Process.Pid, codes, notCode, tables
		}
	}
	t.Fatalf("live.py ended: %v", sc.Err())
	return 0, nil, 0, nil
}

// Code objects of a live interpreter, read from outside: names as CPython
// has them (non-ASCII, UCS-4, control characters kept as valid UTF-8),
// cut at maxNameChars, and a pointer that is not a code object refused.
// The location table gives the line CPython gives each code unit.
func TestReadLive(t *testing.T) {
	testutil.NeedRoot(t) // reads another process's memory
	for _, py := range pythons(t) {
		t.Run(py, func(t *testing.T) {
			pid, codes, notCode, tables := startLive(t, py)
			checkLive(t, pid, "3.11", codes, notCode, tables)
		})
	}
}

// checkLive reads live.py's code objects from outside and compares them
// with what it said.
func checkLive(t *testing.T, pid int, version string, codes []liveCode, notCode uint64, tables []liveTable) {
	t.Helper()
	in, err := Find(pid)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	if in.Version != version || in.CodeType == 0 || in.StrType == 0 {
		t.Fatalf("interp %+v: want %s with PyCode_Type and PyUnicode_Type", in, version)
	}
	m, err := openMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer m.f.Close()
	for _, lc := range codes {
		c := readCode(m, in, lc.id)
		want := lc.qualname
		if n := utf8.RuneCountInString(want); n > maxNameChars {
			want = string([]rune(want)[:maxNameChars]) + "…"
		}
		if !c.ok || c.qualname != want || c.file != lc.file || c.firstLine != lc.firstLine {
			t.Errorf("code %#x: read %v %.40q %q line %d, want %.40q %q line %d", lc.id, c.ok, c.qualname, c.file, c.firstLine, want, lc.file, lc.firstLine)
		}
	}
	for _, addr := range []uint64{notCode, 0, 8, 0xdead0000, 1 << 62} {
		if c := readCode(m, in, addr); c.ok {
			t.Errorf("read %#x as a code object %+v", addr, c)
		}
	}
	for _, lt := range tables {
		c := readCode(m, in, lt.id)
		if string(c.linetable) != string(lt.table) {
			t.Errorf("code %#x: line table read differs from co_linetable", lt.id)
		}
		bad := 0
		for unit, want := range lt.lines {
			if got := lineAt(lt.table, lt.firstLine, uint64(unit)); got != want {
				if bad++; bad <= 5 {
					t.Errorf("code %#x unit %d: line %d, CPython says %d", lt.id, unit, got, want)
				}
			}
		}
		if lineAt(lt.table, lt.firstLine, uint64(len(lt.lines))) != 0 {
			t.Errorf("code %#x: a line past the table's end", lt.id)
		}
	}
}

// Line tables that lie: truncated, unterminated varints, entries that do
// not start with the entry bit; no panic, no line past the table.
func TestLineTableHostile(t *testing.T) {
	for _, tab := range [][]byte{nil, {0x80}, {0xf0}, {0xf0, 0x7f}, {0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x01, 0x02}, {0xe8, 0x40}} {
		for unit := range uint64(20) {
			_ = lineAt(tab, 1, unit)
		}
	}
	if got := lineAt([]byte{0x01}, 5, 0); got != 0 {
		t.Errorf("a table not starting with an entry gave line %d", got)
	}
	// One-line form (code 11: line+1, 2 units) after a short-form entry.
	if got := lineAt([]byte{0x80, 0x00, 0xd9, 0x00, 0x00}, 10, 2); got != 11 {
		t.Errorf("unit 2: line %d, want 11", got)
	}
}

// Python frames replace the eval loop's native frames, run by run (a run
// ends at an entry frame); the native frames between and below stay.
func TestMerge(t *testing.T) {
	n := func(fn string) native.Frame { return native.Frame{Function: fn, Kind: "native"} }
	ns := native.Stack{Frames: []native.Frame{n("mmap"), n("PyObject_Malloc"), n(evalFunction), n("PyObject_Call"), n(evalFunction), n("main")}}
	py := []Frame{{Qualname: "a", Line: 1}, {Qualname: "b", Line: 2, Entry: true}, {Qualname: "c", Line: 3, Entry: true}}
	got := merge(ns, py, true, tracer.PyDone)
	var names []string
	for _, f := range got.Frames {
		names = append(names, f.Kind+":"+f.Function)
	}
	want := "native:mmap native:PyObject_Malloc python:a python:b native:PyObject_Call python:c native:main"
	if strings.Join(names, " ") != want || got.Truncated {
		t.Errorf("merged %v truncated %v, want %s", names, got.Truncated, want)
	}
	// More runs than eval frames (the native unwind stopped early): the
	// rest go below; a truncated walk marks the stack.
	got = merge(native.Stack{Frames: ns.Frames[:3]}, py, true, tracer.PyCycle)
	names = names[:0]
	for _, f := range got.Frames {
		names = append(names, f.Function)
	}
	if strings.Join(names, " ") != "mmap PyObject_Malloc a b c" || !got.Truncated || got.Reason == "" {
		t.Errorf("merged %v truncated %v %q, want mmap PyObject_Malloc a b c, truncated", names, got.Truncated, got.Reason)
	}
	// No Python frames: the native stack as it was.
	if got := merge(ns, nil, true, tracer.PyNoThread); len(got.Frames) != len(ns.Frames) {
		t.Errorf("no python frames changed the stack: %v", got.Frames)
	}
}

// Find recognises the interpreter whatever the binary is called, and
// nothing in a process that is not CPython.
func TestFindNotPython(t *testing.T) {
	if _, err := Find(os.Getpid()); err != ErrNotPython {
		t.Errorf("Find(self): %v, want ErrNotPython", err)
	}
	if _, err := Find(1 << 30); err == nil {
		t.Error("Find of no process: no error")
	}
}
