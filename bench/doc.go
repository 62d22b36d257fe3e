// Package bench holds oomtrace's performance harness: run.sh measures the
// kernel-side cost of tracing (syscall loops untraced, under empty BPF
// programs, under oomtrace and under bpftrace), the event flood, and the
// recorder's own CPU and memory with many processes; bench_test.go holds Go
// benchmarks of the userspace hot spots. See docs/performance.md.
package bench
