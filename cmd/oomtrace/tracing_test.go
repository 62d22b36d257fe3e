package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// A verifier error is printed whole, after its one-line summary, with or
// without --verbose; other errors stay one line.
func TestLoadError(t *testing.T) {
	ve := &ebpf.VerifierError{Cause: errors.New("permission denied"), Log: []string{"0: R1=ctx()", "1: (85) call bpf_task_storage_get#156", "unknown func", "processed 2 insns"}}
	err := fmt.Errorf("load allocation programs: %w", ve)
	for _, verbose := range []bool{false, true} {
		var ce exitCodeError
		if !errors.As(loadError(err, verbose), &ce) || ce.code != 1 {
			t.Fatalf("verbose=%v: %v is not printed as is", verbose, loadError(err, verbose))
		}
		lines := strings.Split(ce.msg, "\n")
		if lines[0] != err.Error() || len(lines) != 2+len(ve.Log) || lines[len(lines)-1] != "\tprocessed 2 insns" {
			t.Errorf("verbose=%v: message\n%s\nwant the summary, then the log in full", verbose, ce.msg)
		}
	}
	plain := errors.New("kernel BTF is required")
	if got := loadError(plain, false); got != plain {
		t.Errorf("plain error became %v", got)
	}
}
