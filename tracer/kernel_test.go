package tracer

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// A verifier error deep in a chain gives its whole log; others give none.
func TestVerifierLog(t *testing.T) {
	ve := &ebpf.VerifierError{Cause: errors.New("permission denied"), Log: []string{"0: R1=ctx()", "0: (79) r2 = *(u64 *)(r1 +0)", "invalid bpf_context access off=0 size=8", "processed 1 insns"}}
	err := fmt.Errorf("load allocation programs: %w", fmt.Errorf("program exit_mmap: %w", ve))
	log, ok := VerifierLog(err)
	if !ok {
		t.Fatal("no verifier log found in the chain")
	}
	for _, l := range ve.Log {
		if !strings.Contains(log, "\n\t"+l) {
			t.Errorf("log lacks %q:\n%s", l, log)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the error itself is not one line: %q", err)
	}
	if _, ok := VerifierLog(errors.New("no BTF")); ok {
		t.Error("a plain error has a verifier log")
	}
}

// sched_process_exit has group_dead from 6.16 on: the kernel's BTF must say
// so on exactly those releases, or handle_exit reads an absent argument
// (refused) or falls back on a kernel that has it.
func TestExitHasGroupDead(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	if _, err := fmt.Sscanf(rel, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("release %q: %v", rel, err)
	}
	got, err := exitHasGroupDead(btf.NewCache())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no kernel BTF: %v", err)
	}
	want := uint64(0)
	if major > 6 || major == 6 && minor >= 16 {
		want = 1
	}
	if got != want {
		t.Errorf("group_dead %d on %s, want %d", got, rel, want)
	}
}
