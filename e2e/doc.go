// Package e2e holds the end-to-end tests: they build cmd/oomtrace and the
// workload (testdata/workload.c), run them as root against the live kernel and
// check what they report against /proc, cgroup files and the kernel's own OOM
// report. Shared helpers are in helpers_test.go; the tracer's own end-to-end
// test is tracer_test.go at the repository's root.
package e2e
