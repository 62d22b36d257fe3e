package native

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// What BPF hands the resolver, taken here with ptrace from a process blocked
// in a syscall: the user registers and 32 KiB of stack from RSP.
type sample struct {
	pid   uint32
	start uint64
	regs  Regs
	stack []byte
}

const stackCopy = 32 << 10

// buildDeep compiles testdata/deep.c with flags into the test's temp dir.
func buildDeep(t testing.TB, name string, flags ...string) string {
	t.Helper()
	cc := testutil.NeedTool(t, "cc", "gcc")
	out := filepath.Join(t.TempDir(), name)
	args := append(append([]string{}, flags...), "-o", out, "testdata/deep.c")
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, b)
	}
	return out
}

// startBlocked runs argv, waits for its "ready" line and then for it to sit
// in syscall nr (read: 0, clock_nanosleep: 230), as /proc/PID/syscall shows.
func startBlocked(t testing.TB, nr int, argv ...string) *exec.Cmd {
	t.Helper()
	return startCmdBlocked(t, nr, exec.Command(argv[0], argv[1:]...))
}

// startCmdBlocked is startBlocked for a command set up by the caller.
func startCmdBlocked(t testing.TB, nr int, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	argv := cmd.Args
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("%s: want ready, got %q, %v", argv[0], line, err)
	}
	path := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/syscall"
	want := strconv.Itoa(nr) + " "
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(b), want) {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never blocked in syscall %d: %s", argv[0], nr, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// capture stops pid with PTRACE_SEIZE+INTERRUPT, reads its registers and
// stack, and lets it go.
func capture(t testing.TB, pid int) sample {
	t.Helper()
	testutil.NeedRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(pid); err != nil {
		t.Fatalf("PTRACE_SEIZE %d: %v", pid, err)
	}
	defer unix.PtraceDetach(pid)
	if err := unix.PtraceInterrupt(pid); err != nil {
		t.Fatalf("PTRACE_INTERRUPT: %v", err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		t.Fatalf("wait4: %v, status %v", err, ws)
	}
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		t.Fatalf("PTRACE_GETREGS: %v", err)
	}
	s := sample{pid: uint32(pid), start: procStart(t, pid), regs: Regs{IP: regs.Rip, SP: regs.Rsp, BP: regs.Rbp}}
	s.stack = readMem(t, pid, regs.Rsp, stackCopy)
	return s
}

// readMem reads up to n bytes at addr, stopping at the first unmapped page
// (the top of the stack), as a bounded BPF copy does.
func readMem(t testing.TB, pid int, addr uint64, n int) []byte {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	got := 0
	for got < n {
		m, err := f.ReadAt(buf[got:], int64(addr)+int64(got))
		got += m
		if err != nil || m == 0 {
			break
		}
	}
	if got < 64 {
		t.Fatalf("read %d bytes of stack at %#x", got, addr)
	}
	return buf[:got]
}

func procStart(t testing.TB, pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	v, err := strconv.ParseUint(f[19], 10, 64) // field 22, starttime in ticks
	if err != nil {
		t.Fatal(err)
	}
	return v * 1e7
}

func names(st Stack) []string {
	var out []string
	for _, f := range st.Frames {
		out = append(out, f.String())
	}
	return out
}

// callLine is the line of deep.c holding the read() call.
func callLine(t testing.TB) int {
	b, err := os.ReadFile("testdata/deep.c")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "read(fds[0]") {
			return i + 1
		}
	}
	t.Fatal("no read( call in deep.c")
	return 0
}

// checkDeep asserts libc frames, then deep_c, deep_b, deep_a, main and
// glibc's start functions, in order, and that the stack is complete.
func checkDeep(t *testing.T, st Stack, bin string) {
	t.Helper()
	t.Logf("stack (truncated=%v %q):\n  %s", st.Truncated, st.Reason, strings.Join(names(st), "\n  "))
	if len(st.Frames) == 0 || !strings.Contains(st.Frames[0].Module, "libc.so") {
		t.Fatalf("leaf is not in libc")
	}
	i := 0
	for i < len(st.Frames) && strings.Contains(st.Frames[i].Module, "libc.so") {
		i++
	}
	want := []string{"deep_c", "deep_b", "deep_a", "main"}
	for k, w := range want {
		if i+k >= len(st.Frames) || st.Frames[i+k].Function != w {
			t.Fatalf("frame %d: want %s after the libc frames", i+k, w)
		}
		if st.Frames[i+k].Module != bin {
			t.Errorf("frame %d: module %q, want %q", i+k, st.Frames[i+k].Module, bin)
		}
	}
	// glibc's start code, then crt1's _start, whose CFI ends the stack.
	rest := st.Frames[i+len(want):]
	if len(rest) != 3 || !isLibcStart(t, rest[0]) || rest[1].Function != "__libc_start_main" || rest[2].Function != "_start" {
		t.Fatalf("after main: want %s, __libc_start_main, _start", libcStartWant(t))
	}
	if st.Truncated {
		t.Errorf("truncated: %s", st.Reason)
	}
}

func TestDeepFramePointersDebug(t *testing.T) {
	bin := buildDeep(t, "deep-fp-g", "-O1", "-fno-omit-frame-pointer", "-g")
	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	st := NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
	checkDeep(t, st, bin)
	for _, f := range st.Frames {
		if f.Function == "deep_c" {
			if filepath.Base(f.File) != "deep.c" || f.Line != callLine(t) {
				t.Errorf("deep_c at %s:%d, want deep.c:%d", f.File, f.Line, callLine(t))
			}
		}
	}
}

func TestDeepNoFramePointers(t *testing.T) {
	bin := buildDeep(t, "deep-nofp", "-O2", "-fomit-frame-pointer")
	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	r := NewResolver(Limits{})
	st := r.Resolve(s.pid, s.start, s.regs, s.stack, nil)
	checkDeep(t, st, bin)
	for _, f := range st.Frames {
		if f.Function == "deep_c" && (f.File != "" || f.Line != 0) {
			t.Errorf("deep_c has a line (%s:%d) in a build without -g", f.File, f.Line)
		}
	}

	// The frame cap.
	capped := NewResolver(Limits{Frames: 3}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
	if len(capped.Frames) != 3 || !capped.Truncated || !strings.Contains(capped.Reason, "frame limit") || capped.Frames[2].Function != "deep_b" {
		t.Errorf("3-frame cap: %v truncated=%v %q", names(capped), capped.Truncated, capped.Reason)
	}

	// A copy cut at 64 bytes: the leaf stays right, the rest is marked.
	short := r.Resolve(s.pid, s.start, s.regs, s.stack[:64], nil)
	if !short.Truncated || !strings.Contains(short.Reason, "stack copy ends") {
		t.Errorf("64-byte copy: truncated=%v reason %q", short.Truncated, short.Reason)
	}
	if len(short.Frames) == 0 || short.Frames[0] != st.Frames[0] {
		t.Errorf("64-byte copy: leaf %v, want %v", names(short), st.Frames[0])
	}
	if len(short.Frames) >= len(st.Frames) {
		t.Errorf("64-byte copy unwound %d frames, the full copy %d", len(short.Frames), len(st.Frames))
	}
}

// TestDebugFrame: -g without unwind tables puts the program's CFI in
// .debug_frame only (no frame pointers either).
func TestDebugFrame(t *testing.T) {
	bin := buildDeep(t, "deep-debug-frame", "-O2", "-fomit-frame-pointer", "-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	e := loadELF(f, "k", "", DefaultLimits)
	f.Close()
	var deepC uint64
	for _, s := range e.syms {
		if e.nameOf(s) == "deep_c" {
			deepC = s.start
		}
	}
	if e.dbg == nil || e.eh != nil && e.eh.find(deepC) != nil {
		t.Fatalf("want deep_c's CFI in .debug_frame only")
	}
	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	checkDeep(t, NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil), bin)
}

// TestReplacedBinary deletes the executable after exec and puts another file
// at its path: the frames still come from the mapped inode.
func TestReplacedBinary(t *testing.T) {
	bin := buildDeep(t, "deep-replaced", "-O2", "-fomit-frame-pointer")
	other := buildDeep(t, "deep-other", "-O0", "-g")
	cmd := startBlocked(t, 0, bin)
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, bin); err != nil {
		t.Fatal(err)
	}
	s := capture(t, cmd.Process.Pid)
	st := NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
	checkDeep(t, st, bin+" (deleted)")
}

// TestPython unwinds Debian's python3.11 (no frame pointers) blocked in
// time.sleep through libc and the interpreter to its start.
func TestPython(t *testing.T) {
	py := "/usr/bin/python3.11"
	testutil.NeedFile(t, py, "python3.11")
	cmd := startBlocked(t, unix.SYS_CLOCK_NANOSLEEP, py, "-c", "import time; print('ready', flush=True); time.sleep(600)")
	s := capture(t, cmd.Process.Pid)
	st := NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
	t.Logf("stack (truncated=%v %q):\n  %s", st.Truncated, st.Reason, strings.Join(names(st), "\n  "))
	if len(st.Frames) == 0 || !strings.Contains(st.Frames[0].Module, "libc.so") {
		t.Fatalf("leaf is not in libc")
	}
	// In order, each after the previous one.
	want := []string{"_PyEval_EvalFrameDefault", "Py_BytesMain", libcStartWant(t), "__libc_start_main"}
	k := 0
	for _, f := range st.Frames {
		if k < len(want) && (strings.HasPrefix(f.Function, want[k]) || k == 2 && isLibcStart(t, f)) {
			k++
		}
	}
	if k < len(want) {
		t.Fatalf("missing %s (in order %v)", want[k], want)
	}
	if st.Truncated {
		t.Errorf("truncated: %s", st.Reason)
	}
}

func BenchmarkResolve(b *testing.B) {
	bin := buildDeep(b, "deep-bench", "-O2", "-fomit-frame-pointer")
	cmd := startBlocked(b, 0, bin)
	s := capture(b, cmd.Process.Pid)
	r := NewResolver(Limits{})
	if st := r.Resolve(s.pid, s.start, s.regs, s.stack, nil); len(st.Frames) < 6 {
		b.Fatalf("only %d frames", len(st.Frames))
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve(s.pid, s.start, s.regs, s.stack, nil)
	}
}

// TestFramePointerRule: a build with frame pointers but no unwind tables;
// the CFI of libc reaches deep_c, the frame-pointer rule the rest.
func TestFramePointerRule(t *testing.T) {
	bin := buildDeep(t, "deep-fp-nocfi", "-O1", "-fno-omit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables")
	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	r := NewResolver(Limits{})
	st := r.Resolve(s.pid, s.start, s.regs, s.stack, nil)
	checkDeep(t, st, bin)

	// The first step fails (no CFI in deep_c, rbp zeroed): the BPF
	// frame-pointer walk supplies the callers, and Reason says so.
	var fp []uint64
	for _, f := range st.Frames[2:] {
		fp = append(fp, f.PC)
	}
	regs := Regs{IP: st.Frames[1].PC, SP: s.regs.SP, BP: 0}
	got := r.Resolve(s.pid, s.start, regs, s.stack, fp)
	t.Logf("with fp (%q):\n  %s", got.Reason, strings.Join(names(got), "\n  "))
	if !got.Truncated || !strings.Contains(got.Reason, "frame-pointer walk") {
		t.Errorf("truncated=%v reason %q", got.Truncated, got.Reason)
	}
	if len(got.Frames) != len(st.Frames)-1 || got.Frames[1].Function != "deep_b" || got.Frames[3].Function != "main" {
		t.Errorf("frames %v", names(got))
	}
}

// TestNoCFINoFramePointer: neither unwind tables nor frame pointers in the
// program: unwinding stops in deep_c, marked, without invented frames.
func TestNoCFINoFramePointer(t *testing.T) {
	bin := buildDeep(t, "deep-bare", "-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables")
	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	st := NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
	t.Logf("stack (%q):\n  %s", st.Reason, strings.Join(names(st), "\n  "))
	if !st.Truncated || !strings.Contains(st.Reason, "no CFI") {
		t.Errorf("truncated=%v reason %q", st.Truncated, st.Reason)
	}
	if len(st.Frames) != 2 || !strings.Contains(st.Frames[0].Module, "libc.so") || st.Frames[1].Function != "deep_c" {
		t.Errorf("want [libc read, deep_c], got %v", names(st))
	}
}

// TestForgetAndPidReuse: a new start time, or Forget, makes the resolver
// read the maps again instead of naming frames from the old process.
func TestForgetAndPidReuse(t *testing.T) {
	bin := buildDeep(t, "deep-reuse", "-O2")
	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	r := NewResolver(Limits{})
	r.Resolve(s.pid, s.start, s.regs, s.stack, nil)
	ps, _ := r.procs.get(s.pid)
	for k := range ps.keys {
		ps.keys[k] = "" // a stale cache: every file unreadable
	}
	st := r.Resolve(s.pid, s.start+1, s.regs, s.stack, nil)
	checkDeep(t, st, bin)

	// Same process, maps cached without the code: the first PC outside
	// every mapping makes the resolver read them again.
	ps, _ = r.procs.get(s.pid)
	ps.maps = ps.maps[:0]
	checkDeep(t, r.Resolve(s.pid, s.start+1, s.regs, s.stack, nil), bin)

	r.Forget(s.pid)
	if _, ok := r.procs.get(s.pid); ok {
		t.Errorf("Forget kept the process")
	}
}

const libcPath = "/usr/lib/x86_64-linux-gnu/libc.so.6"

// libcStartName is the name glibc's __libc_start_call_main can be resolved
// to here: Debian strips local symbols from libc.so.6, so only its build-id
// debug file (libc6-dbg) names it; without one the resolver must give "".
func libcStartName(t testing.TB) string {
	t.Helper()
	const name = "__libc_start_call_main"
	has := func(path string) bool {
		f, err := elf.Open(path)
		if err != nil {
			return false
		}
		defer f.Close()
		syms, _ := f.Symbols()
		for _, s := range syms {
			if s.Name == name {
				return true
			}
		}
		return false
	}
	if has(libcPath) {
		return name
	}
	f, err := elf.Open(libcPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer f.Close()
	if id := noteBuildID(f); len(id) > 2 && has("/usr/lib/debug/.build-id/"+id[:2]+"/"+id[2:]+".debug") {
		return name
	}
	return ""
}

// noteBuildID reads the GNU build id note of f as hex, or "".
func noteBuildID(f *elf.File) string {
	sec := f.Section(".note.gnu.build-id")
	if sec == nil {
		return ""
	}
	b, err := sec.Data()
	if err != nil || len(b) < 16 {
		return ""
	}
	namesz, descsz := f.ByteOrder.Uint32(b[0:4]), f.ByteOrder.Uint32(b[4:8])
	off := 12 + (int(namesz)+3)&^3
	if off+int(descsz) > len(b) {
		return ""
	}
	return hex.EncodeToString(b[off : off+int(descsz)])
}

// libcStartWant describes the frame libcStartName expects, for messages.
func libcStartWant(t testing.TB) string {
	if n := libcStartName(t); n != "" {
		return n
	}
	return "an unnamed libc frame"
}

// isLibcStart reports whether f is glibc's start code as it can be named
// here: by name with libc's debug symbols, else libc+0xoffset.
func isLibcStart(t testing.TB, f Frame) bool {
	if n := libcStartName(t); n != "" {
		return f.Function == n
	}
	return f.Function == "" && strings.Contains(f.Module, "libc.so")
}
