#!/bin/sh
# Runs bpf2go (the go.mod tool) for each BPF object, from a fixed directory:
# clang orders some BTF forward declarations by memory address, which shifts
# with the length of the build path, so the same path gives the same bytes.
# Needs clang 19: BPF2GO_CC=clang-19 BPF2GO_STRIP=llvm-strip-19. Run by
# go generate in tracer/ (tracer/gen.go), or from anywhere.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
work=/tmp/oomtrace-bpf2go
rm -rf "$work"
mkdir -p "$work"
cp -r "$repo/bpf" "$repo/go.mod" "$repo/go.sum" "$work/"
cd "$work"
gen() {
	name=$1
	shift
	go tool bpf2go -go-package tracer -output-dir "$repo/tracer" -target amd64 "$@" "$name" "bpf/$name.bpf.c" -- -I./bpf -I./bpf/headers -Wall -Werror
}
gen alloc -type stack_event -type alloc_event -type event_hdr -type proc_counters -type lost_counters -type proc_slot -type imm_marker -type py_proc -type py_walk_stats -type py_stack
gen proc -type life_event -type event_hdr
gen oom -type oom_event -type event_type -type oom_source
gen sample -type proc_sample
gen walk
cd "$repo"
rm -rf "$work"
