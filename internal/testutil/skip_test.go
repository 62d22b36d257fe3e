package testutil

import (
	"fmt"
	"strings"
	"testing"
)

// fakeT records what a helper asked of its test instead of ending it.
type fakeT struct {
	testing.TB
	fatal, skip string
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
func (f *fakeT) Skipf(format string, a ...any)  { f.skip = fmt.Sprintf(format, a...) }

func TestSkipOrFail(t *testing.T) {
	for _, ci := range []string{"true", "", "false"} {
		t.Setenv("CI", ci)
		f := &fakeT{TB: t}
		NeedTool(f, "oomtrace-no-such-tool", "nothing")
		if ci == "true" {
			if f.skip != "" || !strings.Contains(f.fatal, "oomtrace-no-such-tool not installed") {
				t.Errorf("CI=%q: fatal %q, skip %q; want a failure naming the tool", ci, f.fatal, f.skip)
			}
		} else if f.fatal != "" || !strings.Contains(f.skip, "apt-get install nothing") {
			t.Errorf("CI=%q: fatal %q, skip %q; want a skip naming the package", ci, f.fatal, f.skip)
		}
	}
	t.Setenv("CI", "true")
	f := &fakeT{TB: t}
	if p := NeedTool(f, "sh", "dash"); p == "" || f.fatal != "" || f.skip != "" {
		t.Errorf("sh: path %q, fatal %q, skip %q", p, f.fatal, f.skip)
	}
	SkipKernel(f, "no %s", "kprobes")
	if f.fatal != "" || f.skip != KernelPrefix+"no kprobes" {
		t.Errorf("SkipKernel under CI: fatal %q, skip %q", f.fatal, f.skip)
	}
}
