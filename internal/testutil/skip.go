// Package testutil holds the skip rules every package's tests share: outside
// CI a test whose tool or privilege is missing skips, so `go test ./...` works
// on a machine with only Go; under CI=true (.ci/run, which installs the tools
// and runs as root) the same skip is a failure.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// KernelPrefix starts the message of the one kind of skip CI accepts: the
// test cannot apply on the running kernel. .ci/run fails on any other skip.
const KernelPrefix = "not on this kernel: "

// CI reports whether the tests run under CI=true.
func CI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test, or fails it under CI=true.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf("%s (CI=true forbids skipping)", fmt.Sprintf(format, args...))
	} else {
		t.Skipf(format, args...)
	}
}

// SkipKernel skips the test, even under CI=true, because it cannot apply on
// the running kernel; why says which feature the kernel lacks.
func SkipKernel(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Skipf(KernelPrefix+format, args...)
}

// NeedTool returns the path of a host tool the test drives; missing, it
// skips the test, or fails it under CI=true.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, "%s not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// NeedRoot skips the test without root, or fails it under CI=true.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (run: sudo go test ./...)")
	}
}

// NeedFile is NeedTool for a file a package installs (a plugin, not a command).
func NeedFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		SkipOrFail(t, "%s not installed (apt-get install %s)", path, pkg)
	}
}
