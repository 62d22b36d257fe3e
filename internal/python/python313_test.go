package python

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
	"github.com/oomtrace/oomtrace/tracer"
)

// startLive313 runs testdata/live.py under trixie's python3.13 in its
// chroot.
func startLive313(t *testing.T) (int, []liveCode, uint64, []liveTable, string) {
	t.Helper()
	root := testutil.TrixieRoot(t)
	inside, outside := testutil.TrixieDir(t, root)
	b, err := os.ReadFile("testdata/live.py")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "live.py"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	script := inside + "/live.py"
	pid, codes, notCode, tables := startLiveCmd(t, testutil.InTrixie(root, "/usr/bin/python3.13", script))
	return pid, codes, notCode, tables, script
}

// walkThreads is the BPF walk of PyThreadList (bpf/python.h) done from
// outside: the thread state of tid in the first interpreter's list, then
// its frames, innermost first.
func walkThreads(t *testing.T, m mem, in *Interp, tid int) tracer.PyStack {
	t.Helper()
	o := in.Offsets
	interp, ok := m.u64(in.Runtime + o.RuntimeInterpsHead)
	if !ok || interp == 0 {
		t.Fatalf("interpreters.head at %#x: %#x %v", in.Runtime+o.RuntimeInterpsHead, interp, ok)
	}
	ts, _ := m.u64(interp + uint64(o.BPF.InterpThreadsHead))
	for i := 0; ts != 0 && i < 32; i++ {
		if id, _ := m.u64(ts + uint64(o.BPF.TstateNativeThreadID)); id == uint64(tid) {
			break
		}
		ts, _ = m.u64(ts + uint64(o.BPF.TstateNext))
	}
	if ts == 0 {
		t.Fatalf("no thread state with native_thread_id %d", tid)
	}
	var st tracer.PyStack
	frame, _ := m.u64(ts + uint64(o.BPF.TstateCframe))
	for i := 0; frame != 0 && i < 64; i++ {
		var b [pyFrameRead]byte
		if !m.read(frame, b[:]) {
			t.Fatalf("frame %#x unreadable", frame)
		}
		w := func(off uint32) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
		st.Frames = append(st.Frames, tracer.PyFrame{Code: w(o.BPF.FrameCode), Instr: w(o.BPF.FramePrevInstr), Owner: b[o.BPF.FrameOwner]})
		frame = w(o.BPF.FramePrevious)
	}
	st.Status = tracer.PyDone
	return st
}

// CPython 3.13 read through its own _Py_DebugOffsets: the code objects of
// a live python3.13 (trixie's, in its chroot) named as CPython names them,
// its line tables read as in 3.11, and the main thread's frames, found
// through the interpreter's list of threads as the BPF walk finds them,
// are waiting() at the line it waits on, then <module>, the end of the
// run of frames its eval loop call ran.
func TestReadLive313(t *testing.T) {
	pid, codes, notCode, tables, script := startLive313(t)
	checkLive(t, pid, "3.13", codes, notCode, tables)

	in, err := Find(pid)
	if err != nil {
		t.Fatal(err)
	}
	if in.Offsets.BPF.Flags&tracer.PyThreadList == 0 {
		t.Fatalf("3.13 offsets without PyThreadList: %+v", in.Offsets.BPF)
	}
	m, err := openMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer m.f.Close()
	st := walkThreads(t, m, in, pid)
	r := NewReader(nil)
	frames, ok := r.Frames(uint32(pid), st)
	var src []byte
	if src, err = os.ReadFile("testdata/live.py"); err != nil {
		t.Fatal(err)
	}
	waitLine := 0
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "# the line where the main thread waits") {
			waitLine = i + 1
		}
	}
	t.Logf("%d frames read: %+v", len(st.Frames), frames)
	if !ok || len(frames) != 2 || frames[0].Qualname != "waiting" || frames[0].File != script || frames[0].Line != waitLine ||
		frames[0].Entry || frames[1].Qualname != "<module>" || !frames[1].Entry {
		t.Errorf("main thread's frames %+v (ok %v), want waiting at %s:%d, then <module> ending the run", frames, ok, script, waitLine)
	}
}

// Debug offsets that do not check out give no layout (and so native
// frames only): the live process's own, each spoilt in one way.
func TestDebugOffsetsRefused(t *testing.T) {
	pid, _, _, _, _ := startLive313(t)
	in, err := Find(pid)
	if err != nil {
		t.Fatal(err)
	}
	m, err := openMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer m.f.Close()
	good := make([]byte, 8+8*debugWords)
	if !m.read(in.Runtime, good) {
		t.Fatal("unreadable")
	}
	if _, err := parseDebugOffsets(good, "3.13"); err != nil {
		t.Fatalf("the process's own offsets: %v", err)
	}
	put := func(b []byte, word int, v uint64) { binary.LittleEndian.PutUint64(b[8+8*word:], v) }
	for name, spoil := range map[string]func(b []byte) ([]byte, string){
		"cookie":              func(b []byte) ([]byte, string) { b[0] = 'y'; return b, "3.13" },
		"other version":       func(b []byte) ([]byte, string) { return b, "3.14" },
		"version word":        func(b []byte) ([]byte, string) { put(b, dVersion, 0x030c00f0); return b, "3.13" },
		"free-threaded":       func(b []byte) ([]byte, string) { put(b, dFreeThreaded, 1); return b, "3.13" },
		"frame field outside": func(b []byte) ([]byte, string) { put(b, dFramePrevious, 1<<20); return b, "3.13" },
		"frame past BPF read": func(b []byte) ([]byte, string) {
			put(b, dFrameSize, 200)
			put(b, dFrameInstrPtr, 120)
			return b, "3.13"
		},
		"misaligned pointer": func(b []byte) ([]byte, string) { put(b, dTstateNext, 13); return b, "3.13" },
		"huge struct":        func(b []byte) ([]byte, string) { put(b, dTstateSize, 1<<40); return b, "3.13" },
		"code header too big": func(b []byte) ([]byte, string) {
			put(b, dCodeSize, 4096)
			put(b, dCodeAdaptive, 4000)
			return b, "3.13"
		},
		"short": func(b []byte) ([]byte, string) { return b[:100], "3.13" },
	} {
		b, ver := spoil(append([]byte(nil), good...))
		if o, err := parseDebugOffsets(b, ver); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
}
