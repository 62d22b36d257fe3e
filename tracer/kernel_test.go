package tracer

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
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
