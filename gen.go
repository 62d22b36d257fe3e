// Package oomtrace holds the end-to-end tests; the program is in cmd/oomtrace.
package oomtrace

// The generated .go and .o files are committed so that `go build` needs no clang.
// Regenerate with clang 19 (CI pins it: BPF2GO_CC=clang-19 BPF2GO_STRIP=llvm-strip-19):
//
//	go generate ./...
//
//go:generate go tool bpf2go -go-package tracer -output-dir tracer -target amd64 -type alloc_event -type event_hdr -type proc_counters -type lost_counters alloc bpf/alloc.bpf.c -- -I./bpf -I./bpf/headers -Wall -Werror
//go:generate go tool bpf2go -go-package tracer -output-dir tracer -target amd64 -type life_event -type event_hdr proc bpf/proc.bpf.c -- -I./bpf -I./bpf/headers -Wall -Werror
//go:generate go tool bpf2go -go-package tracer -output-dir tracer -target amd64 -type oom_event -type event_type -type oom_source oom bpf/oom.bpf.c -- -I./bpf -I./bpf/headers -Wall -Werror
