package native

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// cachedCost sums bytes() over the cached files, to check the cache's
// running total against the files themselves.
func cachedCost(r *Resolver) (n int64, keys []string) {
	for el := r.files.ll.Front(); el != nil; el = el.Next() {
		ent := el.Value.(*lruEntry[string, *elfFile])
		n += ent.v.bytes()
		keys = append(keys, ent.k)
	}
	return n, keys
}

// goCompile maps the Go toolchain's compile (28k FUNC symbols, the kind of
// binary the CI recorder sampled; the test binary itself is stripped by go
// test) executable into this process, and returns the mapping and the PC of
// its function gc.Main.
func goCompile(t *testing.T) (uint32, mapping, uint64) {
	path := filepath.Join(runtime.GOROOT(), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "compile")
	m, pc := mapExec(t, path, "cmd/compile/internal/gc.Main")
	return uint32(os.Getpid()), m, pc
}

// pythonStackOK checks a python3.11 stack is unwound and named to its root.
func pythonStackOK(t *testing.T, st Stack) {
	t.Helper()
	var main bool
	for _, f := range st.Frames {
		main = main || strings.HasPrefix(f.Function, "Py_BytesMain")
	}
	if !main || st.Truncated {
		t.Fatalf("python stack not resolved to Py_BytesMain (truncated=%v %q):\n  %s", st.Truncated, st.Reason, strings.Join(names(st), "\n  "))
	}
}

// TestFileCacheBudget: with a budget that holds python3.11 and libc, or
// compile, but not all three, the cached estimate stays within the budget, the
// running total matches the files, and python's stack is still resolved after
// compile pushed them out. A file bigger than the budget alone is
// not kept and its frames are module+0xoffset.
func TestFileCacheBudget(t *testing.T) {
	py := "/usr/bin/python3.11"
	testutil.NeedFile(t, py, "python3.11")
	cmd := startBlocked(t, unix.SYS_CLOCK_NANOSLEEP, py, "-c", "import time; print('ready', flush=True); time.sleep(600)")
	s := capture(t, cmd.Process.Pid)
	self, text, selfPC := goCompile(t)

	// Sizes, from a resolver without a tight budget.
	big := NewResolver(Limits{})
	pythonStackOK(t, big.Resolve(s.pid, s.start, s.regs, s.stack, nil))
	pyCost, pyKeys := cachedCost(big)
	if len(pyKeys) < 2 {
		t.Fatalf("python's stack cached %d files, want python3.11 and libc", len(pyKeys))
	}
	selfFile := locked(big, func() *elfFile { return big.fileFor(self, big.proc(self, 0), &text) })
	if selfFile == nil || len(selfFile.syms) == 0 {
		t.Fatalf("compile not parsed: %+v %+v", selfFile, text)
	}
	selfCost := selfFile.bytes()
	t.Logf("python3.11+libc %d bytes (%d files), compile %d bytes", pyCost, len(pyKeys), selfCost)
	if selfCost < 64<<10 {
		t.Fatalf("compile estimated at %d bytes: too small to push files out", selfCost)
	}

	// Room for python's files or compile, with their caches, not for both.
	budget := max(pyCost, selfCost) + 32<<10
	if budget >= pyCost+selfCost {
		t.Fatalf("budget %d holds python's files and compile", budget)
	}
	r := NewResolver(Limits{FileCacheBytes: int(budget)})
	check := func(when string) {
		t.Helper()
		sum, keys := cachedCost(r)
		if sum != r.files.cost || sum > budget {
			t.Fatalf("%s: cached %d files estimated at %d, running total %d, budget %d", when, len(keys), sum, r.files.cost, budget)
		}
	}
	pythonStackOK(t, r.Resolve(s.pid, s.start, s.regs, s.stack, nil))
	check("after python")
	fr := locked(r, func() Frame { return r.frame(self, r.proc(self, 0), &text, selfPC, selfPC) })
	if !strings.Contains(fr.Function, "gc.Main") {
		t.Fatalf("compile frame %+v, want gc.Main", fr)
	}
	check("after compile")
	if _, keys := cachedCost(r); len(keys) >= len(pyKeys)+1 {
		t.Fatalf("all %d files cached within a budget that cannot hold them", len(keys))
	}
	r.Forget(s.pid)
	pythonStackOK(t, r.Resolve(s.pid, s.start, s.regs, s.stack, nil))
	check("after python again")

	// A budget below compile alone: not kept, module+0xoffset.
	small := NewResolver(Limits{FileCacheBytes: int(selfCost / 2)})
	fr = locked(small, func() Frame { return small.frame(self, small.proc(self, 0), &text, selfPC, selfPC) })
	if fr.Function != "" || fr.Module != text.path || fr.ModOff != selfPC-text.start+text.off {
		t.Fatalf("frame in a file over the budget: %+v, want %s+%#x", fr, text.path, selfPC-text.start+text.off)
	}
	if sum, keys := cachedCost(small); sum > selfCost/2 || sum != small.files.cost {
		t.Fatalf("over-budget file: %d files cached at %d (total %d)", len(keys), sum, small.files.cost)
	}
}

// TestFileCostHeap: the estimate of a parsed file against the heap it holds
// after a GC, for the biggest file at hand (compile: ~2 MiB estimated).
func TestFileCostHeap(t *testing.T) {
	_, m, _ := goCompile(t)
	f, err := os.Open(m.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	ef, err := openELF(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{}.withDefaults()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := loadELF(ef, "k", "", lim)
	runtime.GC()
	runtime.ReadMemStats(&after)
	est := e.bytes()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(e)
	t.Logf("%s: %d symbols, estimate %d bytes, heap delta %d bytes (%.2f)", m.path, len(e.syms), est, heap, float64(est)/float64(heap))
	// The estimate counts every retained allocation but rounds names to 8
	// bytes where the allocator's size classes round coarser past 32 bytes,
	// and the test's own allocations move HeapAlloc by a few KiB: within 25%.
	if est < heap*3/4 || est > heap*5/4 {
		t.Fatalf("estimate %d bytes, heap holds %d: off by more than 25%%", est, heap)
	}
}
