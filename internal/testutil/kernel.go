package testutil

import (
	"fmt"
	"os"
	"runtime"
	"testing"
)

// ReadFile returns a file's text (a /proc or /sys file, mostly), failing the
// test when it cannot be read.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// CounterSlack is how far one of a process's memory counters, as BPF reads
// it (the kernel's per-CPU counters as last folded), may be from the exact
// sum /proc shows: a batch of pages per CPU (percpu_counter_batch).
func CounterSlack() uint64 {
	cpus := uint64(runtime.NumCPU())
	return cpus * max(32, 2*cpus) * uint64(os.Getpagesize())
}

// KernelAtLeast says whether a kernel release such as "6.1.0-28-amd64" is at
// least major.minor.
func KernelAtLeast(release string, major, minor int) bool {
	var ma, mi int
	fmt.Sscanf(release, "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}
