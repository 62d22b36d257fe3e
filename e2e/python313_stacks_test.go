package e2e

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// pyWorkload313 is testdata/pystacks.py under trixie's python3.13, in the
// trixie root (.ci/trixie-root.sh) while oomtrace runs outside it, started
// through a link named name (its comm), with pre before the script
// (memray's run, given the workload's directory in the root). inside and
// outside are that directory's paths in the root and outside it.
func pyWorkload313(t *testing.T, name string, env []string, pre func(dir string) []string, args ...string) (c *testutil.Child, inside, outside string) {
	t.Helper()
	root := testutil.TrixieRoot(t)
	inside, outside = testutil.TrixieDir(t, root)
	b, err := os.ReadFile("testdata/pystacks.py")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "pystacks.py"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/bin/python3.13", filepath.Join(outside, name)); err != nil {
		t.Fatal(err)
	}
	argv := []string{inside + "/" + name}
	if pre != nil {
		argv = append(argv, pre(inside)...)
	}
	argv = append(argv, inside+"/pystacks.py")
	cmd := testutil.InTrixie(root, append(argv, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return testutil.StartCommand(t, cmd), inside, outside
}

// Issue 15, CPython 3.13 (read through its _Py_DebugOffsets, the thread
// found in the interpreter's list): the keep/churn service of
// TestPythonStacksKeepChurn under trixie's python3.13 names keep, its file
// and line with at least 80% of the held bytes, churn at most 10%.
func TestPython313StacksKeepChurn(t *testing.T) {
	testutil.NeedRoot(t)
	const name = "py313-big"
	svc := pyStacksOf(t, name, func() *testutil.Child {
		c, _, _ := pyWorkload313(t, name, []string{"MALLOC_MMAP_THRESHOLD_=131072"}, nil, "big", "64")
		return c
	})
	checkKeepChurn(t, svc)
}

// The 3.13 walk is bounded too: corrupt()'s frame made its own previous
// (a loop) or an unmapped address; keep's stacks stop after corrupt,
// truncated, and the workload and oomtrace finish.
func TestPython313StacksCorruptChain(t *testing.T) {
	testutil.NeedRoot(t)
	for _, how := range []string{"loop", "garbage"} {
		t.Run(how, func(t *testing.T) {
			name := "py313-" + how
			svc := pyStacksOf(t, name, func() *testutil.Child {
				c, _, _ := pyWorkload313(t, name, []string{"MALLOC_MMAP_THRESHOLD_=131072", "CORRUPT=" + how}, nil, "corrupt", "64")
				return c
			})
			checkCorruptChain(t, svc)
		})
	}
}

// The in-process reference: the same workload run under trixie's memray
// (python3 -m memray run) while oomtrace reads it from outside. At the
// high-water mark memray (transform csv: the allocations alive at its
// peak, by stack) has the 64 MiB the workload keeps allocated in keep in
// pystacks.py, and of churn's at most the one buffer alive at a time;
// oomtrace's top held stack names keep, holding about the volume kept.
func TestPython313Memray(t *testing.T) {
	testutil.NeedRoot(t)
	const name, mib = "py313-memray", 64
	var c *testutil.Child
	var inside, outside string
	svc := pyStacksOf(t, name, func() *testutil.Child {
		c, inside, outside = pyWorkload313(t, name, []string{"MALLOC_MMAP_THRESHOLD_=131072"},
			func(dir string) []string { return []string{"-m", "memray", "run", "-q", "-o", dir + "/run.bin"} },
			"big", strconv.Itoa(mib))
		return c
	})
	// memray's own memory is the process's too (its 16 MiB record buffer,
	// its thread's stack, its imports): oomtrace holds keep's share of
	// the process, memray of what it tracked. Against the workload: keep
	// holds the volume kept, churn next to nothing.
	_, keep, churn := keepChurnShares(t, svc, pyLine(t, "def keep", "kept.append(bytearray(size))"))
	if len(svc.Stacks) == 0 {
		t.Fatal("oomtrace: no stacks")
	}
	if leaf, ok := pyLeaf(svc.Stacks[0]); !ok || leaf.Function != "keep" || filepath.Base(leaf.File) != "pystacks.py" {
		t.Errorf("oomtrace: top held stack's innermost Python frame is %+v, want keep in pystacks.py", leaf)
	}
	if keep*10 < mib<<20*8 || keep*10 > mib<<20*12 {
		t.Errorf("oomtrace: keep holds %d bytes, want about the %d kept", keep, mib<<20)
	}
	if churn*10 > keep {
		t.Errorf("oomtrace: churn holds %d bytes, keep %d: want at most a tenth", churn, keep)
	}

	// memray writes its capture as the process ends: end it.
	c.In.Close()
	if err := c.Cmd.Wait(); err != nil {
		t.Fatalf("workload under memray: %v", err)
	}
	tr := testutil.InTrixie(testutil.TrixieRoot(t), "/usr/bin/python3.13", "-m", "memray", "transform", "csv", "-f",
		"-o", inside+"/peak.csv", inside+"/run.bin")
	if out, err := tr.CombinedOutput(); err != nil {
		t.Fatalf("memray transform: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(outside, "peak.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 || strings.Join(rows[0], ",") != "allocator,num_allocations,size,tid,thread_name,stack_trace" {
		t.Fatalf("memray's csv: %v, %d rows, header %v", err, len(rows), rows[:min(1, len(rows))])
	}
	var total, mKeep, mChurn uint64
	var top []string
	var topSize uint64
	for _, r := range rows[1:] {
		size, err := strconv.ParseUint(r[2], 10, 64)
		if err != nil {
			t.Fatalf("memray's csv row %v: %v", r, err)
		}
		total += size
		leaf := strings.Split(strings.Split(r[5], "|")[0], ";") // innermost: function;file;line
		if size > topSize {
			top, topSize = leaf, size
		}
		if len(leaf) == 3 && filepath.Base(leaf[1]) == "pystacks.py" {
			switch leaf[0] {
			case "keep":
				mKeep += size
			case "churn":
				mChurn += size
			}
		}
	}
	t.Logf("memray at its peak: %d bytes in %d stacks; keep %d, churn %d; largest %d at %v", total, len(rows)-1, mKeep, mChurn, topSize, top)
	// bytearray(n) allocates n+1 bytes
	if mKeep < mib<<20 || mKeep > mib<<20+mib*64 {
		t.Errorf("memray: keep holds %d bytes at the peak, want the %d kept", mKeep, mib<<20)
	}
	if mChurn > 1<<20+64 {
		t.Errorf("memray: churn holds %d bytes at the peak, want at most one 1 MiB buffer", mChurn)
	}
	if len(top) != 3 || top[0] != "keep" || mKeep*10 < total*8 {
		t.Errorf("memray: largest stack at the peak ends in %v; keep has %d of %d bytes, want keep with at least 80%%", top, mKeep, total)
	}
}
