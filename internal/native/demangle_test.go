package native

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// TestDemangleName: C++ and Rust (v0 and legacy) names from real binaries
// (rustc 1.95, g++ 12) read as their source spells them; anything else is
// left alone.
func TestDemangleName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"_ZN6Leaker4keepEi", "Leaker::keep(int)"},
		{"_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<int, std::allocator<int> >::push_back(int const&)"},
		{"_ZN6Leaker4keepEi.cold", "Leaker::keep(int) [clone .cold]"},
		{"_RNvMCs6GmmlP4bgsG_1rNtB2_5Hoard4keep", "<r::Hoard>::keep"},
		{"_ZN1r5Hoard4keep17h15c4ce1e1f2844ddE", "r::Hoard::keep"},
		{"_RINvNtCsgEmfK2I1SDS_4core3ptr13drop_in_placeINtNtCslNYArtu3iFV_5alloc3vec3VecINtNtCs4X4t9plMPHF_9addr2line4unit7ResUnitINtNtNtCsduwmD7cSIQq_5gimli4read12endian_slice11EndianSliceNtNtB20_9endianity12LittleEndianEEEECsjrHSEGnQ3l9_3std",
			"core::ptr::drop_in_place::<alloc::vec::Vec<addr2line::unit::ResUnit<gimli::read::endian_slice::EndianSlice<gimli::endianity::LittleEndian>>>>"},
		{"keep_it", "keep_it"},
		{"_Z", "_Z"},                           // not a whole name
		{"_ZN6Leaker5countE", "Leaker::count"}, // no parameters, as a variable
		{"_Zgarbage!", "_Zgarbage!"},
		{"_R", "_R"},
	} {
		if got := demangleName(tc.in); got != tc.want {
			t.Errorf("demangleName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDemangleHostile: a 1 MiB mangled name is shown raw at once, and names
// at the input cap built to expand (nested substitutions, deep nesting,
// many template arguments) cost bounded time and are cut at 1 KiB.
func TestDemangleHostile(t *testing.T) {
	huge := "_ZN" + strings.Repeat("3abc", 1<<18) + "Ev"
	t0 := time.Now()
	if got := demangleName(huge); got != huge {
		t.Errorf("1 MiB name demangled to %d bytes, want it raw", len(got))
	}
	// Each S_ refers back to the previous type, so the output doubles
	// with each pair: exponential without the cap.
	var b strings.Builder
	b.WriteString("_Z1fI")
	b.WriteString("1a")
	for b.Len() < maxMangled-64 {
		b.WriteString("IS_S_E")
	}
	b.WriteString("EvT_")
	nested := b.String()
	n := (maxMangled - 16) / 4
	deep := "_Z1f" + strings.Repeat("PFv", n) + "v" + strings.Repeat("E", n) // f(void (*)(void (*)(…)))
	tmpl := "_Z1fI" + strings.Repeat("St6vectorIiSaIiEE", (maxMangled-16)/17) + "Evv"
	for _, s := range []string{nested, deep, tmpl} {
		if len(s) > maxMangled {
			t.Fatalf("case of %d bytes over the cap", len(s))
		}
		got := demangleName(s)
		if got == s || len(got) > 1<<maxDemangledPow {
			t.Errorf("%.40q… demangled to %d bytes", s, len(got))
		}
		t.Logf("%.24q… (%d bytes): %d bytes, raw %v", s, len(s), len(got), got == s)
	}
	// Not a timing assertion for the pass (a loaded machine), only against
	// a blow-up: an exponential case would take minutes.
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("hostile names took %v", d)
	}
	t.Logf("hostile names: %v", time.Since(t0))
}

// cxx is g++, else clang++-19 (clang-19's package brings libstdc++'s
// headers, and CI installs clang-19 for the BPF code).
func cxx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("g++"); err == nil {
		return p
	}
	return testutil.NeedTool(t, "clang++-19", "clang-19")
}

// TestCxxFrameDemangled: a C++ program that grew 16 MiB in Leaker::keep(int)
// and blocks there in read(): the frame above libc's is the method, named
// as C++ spells it, from the symbol _ZN6Leaker4keepEi; main follows.
func TestCxxFrameDemangled(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "leaker")
	args := []string{"-O2", "-fomit-frame-pointer", "-o", bin, "testdata/leaker.cc"}
	if b, err := exec.Command(cxx(t), args...).CombinedOutput(); err != nil {
		t.Fatalf("c++ %v: %v\n%s", args, err, b)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := f.Symbols()
	f.Close()
	mangled := false
	for _, s := range syms {
		mangled = mangled || s.Name == "_ZN6Leaker4keepEi"
	}
	if !mangled {
		t.Fatalf("%s has no symbol _ZN6Leaker4keepEi", bin)
	}
	cmd := startBlocked(t, 0, bin)
	status := testutil.ReadFile(t, "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/status")
	var rssKiB int
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			rssKiB, _ = strconv.Atoi(strings.Fields(l)[1])
		}
	}
	if rssKiB < 16<<10 {
		t.Fatalf("VmRSS %d KiB: keep did not grow 16 MiB", rssKiB)
	}
	s := capture(t, cmd.Process.Pid)
	st := NewResolver(Limits{}).Resolve(s.pid, s.start, s.regs, s.stack, nil)
	t.Logf("stack (truncated=%v %q):\n  %s", st.Truncated, st.Reason, strings.Join(names(st), "\n  "))
	i := 0
	for i < len(st.Frames) && strings.Contains(st.Frames[i].Module, "libc.so") {
		i++
	}
	if i == 0 || i+1 >= len(st.Frames) {
		t.Fatalf("want libc frames, then the program's")
	}
	if got := st.Frames[i]; got.Function != "Leaker::keep(int)" || got.Module != bin {
		t.Errorf("frame %d: %q in %s, want Leaker::keep(int) in %s", i, got.Function, got.Module, bin)
	}
	if got := st.Frames[i+1].Function; got != "main" {
		t.Errorf("frame %d: %q, want main", i+1, got)
	}
}
