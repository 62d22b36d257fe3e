package native

import (
	"debug/elf"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// locked runs f under r's lock, as Resolve runs what tests call directly.
func locked[T any](r *Resolver, f func() T) T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f()
}

// mapExec maps path into this process as the loader maps code, and returns
// the mapping and the address of its function sym (.symtab, else .dynsym).
func mapExec(t *testing.T, path, sym string) (mapping, uint64) {
	t.Helper()
	testutil.NeedFile(t, path, "its package")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := ef.Symbols()
	dyn, _ := ef.DynamicSymbols()
	var fileOff uint64
	for _, s := range append(syms, dyn...) {
		if s.Name != sym || elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		for _, p := range ef.Progs {
			if p.Type == elf.PT_LOAD && s.Value >= p.Vaddr && s.Value-p.Vaddr < p.Filesz {
				fileOff = s.Value - p.Vaddr + p.Off
			}
		}
	}
	if fileOff == 0 {
		t.Fatalf("%s: no function %s", path, sym)
	}
	fi, _ := f.Stat()
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	maps, err := readMaps("/proc/self", 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	base := uint64(uintptr(unsafe.Pointer(&b[0])))
	for _, m := range maps {
		if m.start == base {
			return m, base + fileOff
		}
	}
	t.Fatalf("mapping of %s at %#x not in maps", path, base)
	return mapping{}, 0
}

// TestSlowFileParseUnlocked: while one file's first parse is held up (the
// Go compiler, held in the parse hook), a stack in another file (libc)
// resolves, and a second stack in the held file waits for that parse
// instead of parsing it again; both get its name. Ordered by events, not
// by sleeps: the held parse ends only once the other stack is done and the
// second stack is seen waiting (or, as the failure, after 60 s).
func TestSlowFileParseUnlocked(t *testing.T) {
	compile := filepath.Join(runtime.GOROOT(), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "compile")
	mA, pcA := mapExec(t, compile, "cmd/compile/internal/gc.Main")
	mB, pcB := mapExec(t, libcPath, "malloc")
	pid := os.Getpid()
	self, start := uint32(pid), procStart(t, pid)
	ofA := openFile("/proc/"+strconv.Itoa(pid), &mA)
	if ofA == nil {
		t.Fatalf("%s not readable", compile)
	}
	keyA := ofA.key
	ofA.f.Close()

	r := NewResolver(Limits{})
	var mu sync.Mutex
	var events []string
	parses := map[string]int{}
	event := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	started, bDone := make(chan struct{}), make(chan struct{})
	// waiting reports whether a stack waits for keyA's parse; TryLock, as
	// the hook would hold the lock if the parse ran under it.
	waiting := func() bool {
		if !r.mu.TryLock() {
			return false
		}
		defer r.mu.Unlock()
		p := r.loading[keyA]
		return p != nil && p.waiters > 0
	}
	r.parseHook = func(key string) {
		mu.Lock()
		parses[key]++
		mu.Unlock()
		if key != keyA {
			return
		}
		event("A parse starts")
		close(started)
		deadline := time.Now().Add(60 * time.Second)
		select {
		case <-bDone:
		case <-time.After(60 * time.Second):
		}
		for !waiting() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if waiting() {
			event("second A stack waits")
		}
		event("A parse ends")
	}

	resolve := func(pc uint64) Frame {
		st := r.Resolve(self, start, Regs{IP: pc}, nil, nil)
		if len(st.Frames) == 0 {
			return Frame{}
		}
		return st.Frames[0]
	}
	var a1, a2, b Frame
	var wg sync.WaitGroup
	wg.Go(func() { a1 = resolve(pcA) })
	<-started
	wg.Go(func() { a2 = resolve(pcA) })
	b = resolve(pcB)
	event("B resolved")
	close(bDone)
	wg.Wait()

	want := []string{"A parse starts", "B resolved", "second A stack waits", "A parse ends"}
	if !slices.Equal(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
	if parses[keyA] != 1 {
		t.Errorf("%s parsed %d times", compile, parses[keyA])
	}
	for _, f := range []Frame{a1, a2} {
		if f.Function != "cmd/compile/internal/gc.Main" || f.Offset != 0 {
			t.Errorf("frame in %s: %v", compile, f)
		}
	}
	if b.Function == "" || b.Offset != 0 || b.Module != mB.path {
		t.Errorf("frame at malloc in %s: %v", libcPath, b)
	}
	if len(r.loading) != 0 {
		t.Errorf("%d parses left pending", len(r.loading))
	}
}

// TestConcurrentResolveBounds: stacks in two files resolved from 8
// goroutines by a resolver whose budget holds one file at a time (each
// parse evicts the other): the cache's running total matches its files and
// stays within the budget (run with -race).
func TestConcurrentResolveBounds(t *testing.T) {
	compile := filepath.Join(runtime.GOROOT(), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "compile")
	mA, pcA := mapExec(t, compile, "cmd/compile/internal/gc.Main")
	_, pcB := mapExec(t, libcPath, "malloc")
	pid := os.Getpid()
	self, start := uint32(pid), procStart(t, pid)

	sizes := NewResolver(Limits{})
	sizes.Resolve(self, start, Regs{IP: pcA}, nil, nil)
	sizes.Resolve(self, start, Regs{IP: pcB}, nil, nil)
	total, keys := cachedCost(sizes)
	if len(keys) != 2 {
		t.Fatalf("%d files cached, want 2", len(keys))
	}
	eA := locked(sizes, func() *elfFile { return sizes.fileFor(self, sizes.proc(self, start), &mA) })
	budget := max(eA.bytes(), total-eA.bytes()) + 64<<10
	if budget >= total {
		t.Fatalf("budget %d holds both files (%d)", budget, total)
	}

	r := NewResolver(Limits{FileCacheBytes: int(budget)})
	var wg sync.WaitGroup
	var mu sync.Mutex
	named := map[string]int{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				pc := pcA
				if (g+i)%2 == 1 {
					pc = pcB
				}
				st := r.Resolve(self, start, Regs{IP: pc}, nil, nil)
				mu.Lock()
				named[st.Frames[0].Function]++
				mu.Unlock()
				if i%5 == 0 {
					r.Forget(self)
				}
			}
		})
	}
	wg.Wait()
	sum, keys := cachedCost(r)
	t.Logf("names %v; %d files cached at %d bytes, budget %d", named, len(keys), sum, budget)
	if sum != r.files.cost || sum > budget {
		t.Errorf("cached %d files estimated at %d, running total %d, budget %d", len(keys), sum, r.files.cost, budget)
	}
	if named["cmd/compile/internal/gc.Main"] != 80 || named[""] != 0 {
		t.Errorf("names %v: want gc.Main 80 times and malloc's 80 named", named)
	}
	if len(r.loading) != 0 {
		t.Errorf("%d parses left pending", len(r.loading))
	}
}

// TestParsePanicUnlocked: a panic in a file's parse, which runs unlocked,
// is recovered at Resolve with the lock taken back (the next Resolve does
// not fail on it), leaves no parse pending and is not retried while cached.
func TestParsePanicUnlocked(t *testing.T) {
	mB, pcB := mapExec(t, libcPath, "malloc")
	pid := os.Getpid()
	self, start := uint32(pid), procStart(t, pid)
	r := NewResolver(Limits{})
	n := 0
	r.parseHook = func(string) { n++; panic("hostile file") }
	for range 2 {
		st := r.Resolve(self, start, Regs{IP: pcB}, nil, nil)
		if !st.Truncated || len(st.Frames) != 1 || st.Frames[0].Function != "" {
			t.Errorf("stack %+v", st)
		}
	}
	if r.Panics() != 1 || n != 1 || len(r.loading) != 0 {
		t.Errorf("panics %d, parses %d, pending %d; want 1, 1, 0", r.Panics(), n, len(r.loading))
	}
	if fr := locked(r, func() Frame { return r.frame(self, r.proc(self, start), &mB, pcB, pcB) }); fr.Function != "" || fr.Module != mB.path {
		t.Errorf("frame after the panic: %+v", fr)
	}
}
