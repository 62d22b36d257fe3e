package native

import (
	"bytes"
	"debug/elf"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTruncatedELF: every prefix of a real binary parses to something or
// nothing, and lookups in it stay in bounds.
func TestTruncatedELF(t *testing.T) {
	bin := buildDeep(t, "deep-trunc", "-O1", "-g")
	full, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 16, 64, 200, 1000, 4096, len(full) / 3, len(full) / 2, len(full) - 100, len(full)} {
		f, err := openELF(bytes.NewReader(full[:n]), int64(n))
		if (err == nil) != (n == len(full)) {
			t.Errorf("%d of %d bytes: %v", n, len(full), err)
		}
		if err != nil {
			continue
		}
		e := loadELF(f, "k", readBuildID(f), DefaultLimits)
		for v := uint64(0); v < 0x3000; v += 7 {
			e.symbolAt(v)
			if fd, ok := e.cfiFor(v); ok {
				fd.rowFor(v)
			}
		}
	}
}

// TestGarbageEHFrame runs a program whose .eh_frame is random bytes (the
// program never reads it): no panic, the leaf and deep_c still named, the
// stack marked truncated.
func TestGarbageEHFrame(t *testing.T) {
	bin := buildDeep(t, "deep-garbage", "-O2", "-fomit-frame-pointer")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	sec := f.Section(".eh_frame")
	f.Close()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := sec.Offset; i < sec.Offset+sec.Size; i++ {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := startBlocked(t, 0, bin)
	s := capture(t, cmd.Process.Pid)
	r := NewResolver(Limits{})
	t0 := time.Now()
	st := r.Resolve(s.pid, s.start, s.regs, s.stack, nil)
	t.Logf("%v (%q) in %v", names(st), st.Reason, time.Since(t0))
	if r.Panics() != 0 {
		t.Errorf("%d panics", r.Panics())
	}
	if !st.Truncated || len(st.Frames) < 2 || !strings.Contains(st.Frames[0].Module, "libc.so") || st.Frames[1].Function != "deep_c" {
		t.Errorf("want [libc, deep_c] truncated, got %v truncated=%v", names(st), st.Truncated)
	}
}

func TestSymbolCap(t *testing.T) {
	bin := buildDeep(t, "deep-syms", "-O1")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all := loadELF(f, "k", "", DefaultLimits)
	capped := loadELF(f, "k", "", Limits{SymbolsPerFile: 3}.withDefaults())
	if len(all.syms) <= 3 || len(capped.syms) != 3 {
		t.Errorf("symbols: %d uncapped, %d with a cap of 3", len(all.syms), len(capped.syms))
	}
}

// TestUnreadableFile: a file that cannot be opened gives module+offset.
func TestUnreadableFile(t *testing.T) {
	r := NewResolver(Limits{})
	ps := &procState{keys: map[uint64]string{}}
	m := mapping{start: 0x1000, end: 0x2000, off: 0x3000, exec: true, inode: 5, path: "/nonexistent/lib.so"}
	fr := locked(r, func() Frame { return r.frame(uint32(os.Getpid()), ps, &m, 0x1234, 0x1233) })
	if fr.Function != "" || fr.ModOff != 0x3234 || fr.String() != "/nonexistent/lib.so+0x3234" {
		t.Errorf("frame %+v = %q", fr, fr.String())
	}
}

func TestFrameString(t *testing.T) {
	f := Frame{Function: "evil\x1b[2J", Offset: 0x12, Module: "/lib/a\nb.so"}
	if got, want := f.String(), `evil\x1b[2J+0x12 (/lib/a\x0ab.so)`; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := (Frame{ModOff: 0x40}).String(); got != "[unknown]+0x40" {
		t.Errorf("%q", got)
	}
}

// TestRecoveredPanic: a panic inside Resolve (here: a Resolver not made by
// NewResolver) gives a truncated leaf and is counted.
func TestRecoveredPanic(t *testing.T) {
	r := &Resolver{}
	st := r.Resolve(1, 0, Regs{IP: 0x1234}, nil, nil)
	if r.Panics() != 1 || !st.Truncated || len(st.Frames) != 1 || st.Frames[0].PC != 0x1234 {
		t.Errorf("panics %d, stack %+v", r.Panics(), st)
	}
}
