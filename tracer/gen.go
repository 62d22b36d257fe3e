package tracer

// The bpf2go output (*_bpfel.go and .o) is committed so that `go build`
// needs no clang. Regenerate with clang 19:
//
//	BPF2GO_CC=clang-19 BPF2GO_STRIP=llvm-strip-19 go generate ./...
//
//go:generate sh ../bpf/gen.sh
