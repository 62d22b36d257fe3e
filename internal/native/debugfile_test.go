package native

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// buildLinked compiles testdata/linked.c with flags into dir/name (-g, so
// --only-keep-debug keeps line tables too).
func buildLinked(t *testing.T, dir, name string, flags ...string) string {
	t.Helper()
	cc := testutil.NeedTool(t, "cc", "gcc")
	out := filepath.Join(dir, name)
	args := append(append([]string{}, flags...), "-g", "-o", out, "testdata/linked.c")
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, b)
	}
	return out
}

func objcopy(t *testing.T, args ...string) {
	t.Helper()
	oc := testutil.NeedTool(t, "objcopy", "binutils")
	if b, err := exec.Command(oc, args...).CombinedOutput(); err != nil {
		t.Fatalf("objcopy %v: %v\n%s", args, err, b)
	}
}

// funcAt returns the FUNC symbol of path's .symtab covering vaddr, or "".
func funcAt(t *testing.T, path string, vaddr uint64) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, _ := f.Symbols()
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && vaddr >= s.Value && vaddr < s.Value+s.Size {
			return s.Name
		}
	}
	return ""
}

// TestGNUDebugLink: a binary stripped of every symbol, whose .gnu_debuglink
// names its debug file, gets its local function named from that file in
// each of GDB's three places; a debug file of another build at the same
// name (its CRC32 differs) is ignored, though it has a function at that
// address, and so is none.
func TestGNUDebugLink(t *testing.T) {
	dir := t.TempDir()
	full := buildLinked(t, dir, "linked.full", "-O2", "-fomit-frame-pointer")
	other := buildLinked(t, dir, "linked.other", "-O0")
	keep := filepath.Join(dir, "linked.debug")
	otherKeep := filepath.Join(dir, "other.debug")
	objcopy(t, "--only-keep-debug", full, keep)
	objcopy(t, "--only-keep-debug", other, otherKeep)
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "linked")
	objcopy(t, "--strip-all", "--add-gnu-debuglink="+keep, full, bin)

	// Ground truth: the stripped binary names nothing, its link does.
	sf, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sf.Symbols(); err == nil {
		t.Fatalf("%s still has a .symtab", bin)
	}
	name, _, ok := debugLink(sf)
	sf.Close()
	if !ok || name != "linked.debug" {
		t.Fatalf("debuglink %q %v", name, ok)
	}

	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	// resolve gives the first frame in the program and its vaddr there.
	resolve := func() (Frame, uint64) {
		t.Helper()
		st := NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
		for _, f := range st.Frames {
			if f.Module == bin {
				ef, err := elf.Open(bin)
				if err != nil {
					t.Fatal(err)
				}
				defer ef.Close()
				e := loadELF(ef, "k", "", DefaultLimits)
				v, _ := e.vaddr(f.ModOff - 1)
				return f, v
			}
		}
		t.Fatalf("no frame in %s:\n  %s", bin, strings.Join(names(st), "\n  "))
		return Frame{}, 0
	}
	place := func(src, dst string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(dst) })
	}

	if f, _ := resolve(); f.Function != "" {
		t.Fatalf("no debug file installed: frame named %q", f.Function)
	}

	global := filepath.Join("/usr/lib/debug", binDir, "linked.debug")
	t.Cleanup(func() {
		// The directories made for it, deepest first, while empty.
		for d := filepath.Dir(global); d != "/usr/lib/debug" && d != "/"; d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	})
	for _, where := range []string{filepath.Join(binDir, "linked.debug"), filepath.Join(binDir, ".debug", "linked.debug"), global} {
		place(keep, where)
		if f, _ := resolve(); f.Function != "only_in_debug" {
			t.Errorf("debug file at %s: frame %v, want only_in_debug", where, f)
		}
		os.Remove(where)

		// Another build's debug file under the same name: the CRC differs.
		place(otherKeep, where)
		f, v := resolve()
		if wrong := funcAt(t, otherKeep, v); wrong == "" {
			t.Fatalf("the other build has no function at %#x: the case proves nothing", v)
		}
		if f.Function != "" {
			t.Errorf("debug file of another build at %s: frame named %q", where, f.Function)
		}
		os.Remove(where)
	}
}

// TestDebugLinkHostile: a link name that leaves its directory is refused.
func TestDebugLinkHostile(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		ok   bool
	}{
		{append([]byte("a.debug\x00"), 1, 2, 3, 4), true},
		{append([]byte("../../etc/passwd\x00\x00\x00\x00"), 1, 2, 3, 4), false},
		{append([]byte("..\x00\x00"), 1, 2, 3, 4), false},
		{[]byte("a.debug\x00"), false}, // no CRC
		{[]byte("\x00\x00\x00\x00\x01\x02\x03\x04"), false},
	} {
		if _, _, ok := parseDebugLink(tc.data, binary.LittleEndian); ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.data, ok, tc.ok)
		}
	}
}

// strippedLinked builds testdata/linked.c with flags, keeps its debug file at
// keep and writes the stripped program, linked to it, at bin.
func strippedLinked(t *testing.T, keep, bin string, flags ...string) {
	t.Helper()
	full := buildLinked(t, t.TempDir(), "linked.full", flags...)
	for _, p := range []string{keep, bin} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	objcopy(t, "--only-keep-debug", full, keep)
	objcopy(t, "--strip-all", "--add-gnu-debuglink="+keep, full, bin)
}

// TestGNUDebugLinkChroot: a static program run in a chroot with its debug
// file in .debug/ beside it. /proc/PID/maps shows its path from our root,
// not from the chroot, so a lookup inside the process's root alone misses
// the file: the frame must still be named.
func TestGNUDebugLinkChroot(t *testing.T) {
	testutil.NeedRoot(t)
	root := t.TempDir()
	bin := filepath.Join(root, "bin", "linked")
	strippedLinked(t, filepath.Join(root, "bin", ".debug", "linked.debug"), bin, "-O2", "-static")
	cmd := exec.Command("/bin/linked")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	startCmdBlocked(t, 0, cmd)
	s := capture(t, cmd.Process.Pid)
	st := NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
	for _, f := range st.Frames {
		if f.Function == "only_in_debug" && f.Module == bin {
			return
		}
	}
	t.Errorf("no only_in_debug frame in %s:\n  %s", bin, strings.Join(names(st), "\n  "))
}

// TestDebugLinkInRoot: inside another process's root (here a directory
// standing for /proc/PID/root), an absolute symlink to the debug file
// resolves in that root; one to a matching debug file outside it is not
// followed out.
func TestDebugLinkInRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	bin := filepath.Join(root, "bin", "linked")
	strippedLinked(t, filepath.Join(outside, "linked.debug"), bin, "-O2")
	store := filepath.Join(root, "store", "linked.debug")
	if err := os.MkdirAll(filepath.Dir(store), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(outside, "linked.debug"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	link := filepath.Join(root, "bin", "linked.debug")
	for _, tc := range []struct {
		target string
		found  bool
	}{
		{"/store/linked.debug", true},
		{"../../../../../../store/linked.debug", true}, // .. stops at the root
		{filepath.Join(outside, "linked.debug"), false},
	} {
		os.Remove(link)
		if err := os.Symlink(tc.target, link); err != nil {
			t.Fatal(err)
		}
		d := findDebugFile(ef, "", root, "/bin/linked")
		if (d != nil) != tc.found {
			t.Errorf("symlink to %s: found %v, want %v", tc.target, d != nil, tc.found)
		}
		if d != nil && d.path != root+"/bin/linked.debug" {
			t.Errorf("symlink to %s: path %s", tc.target, d.path)
		}
		d.close()
	}
}
