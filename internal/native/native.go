// Package native unwinds and symbolizes the native (C, C++, Rust, Go) part of
// a user stack sampled by BPF: the registers at the syscall, a copy of the
// stack from SP upward and a frame-pointer walk. It unwinds with the mapped
// files' CFI (.eh_frame, .debug_frame) as `perf --call-graph dwarf` does, so
// libraries built without frame pointers (Debian's glibc, python3) are crossed,
// and names frames from .symtab/.dynsym (a separate debug file's, by build id
// or .gnu_debuglink, when installed) and DWARF line tables, C++ and Rust names
// demangled.
//
// Nothing here returns an error: a file that cannot be read gives
// module+0xoffset, a stack that cannot be unwound further is Truncated with a
// Reason, and a panic in the parsers is recovered at Resolve and counted.
package native

import (
	"fmt"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// Regs are the user registers at the sampled syscall.
type Regs struct{ IP, SP, BP uint64 }

// Frame is one resolved native frame.
type Frame struct {
	PC       uint64
	Function string // symbol name, or "" when unknown
	Offset   uint64 // PC - symbol start
	File     string // source file when DWARF line info exists, else ""
	Line     int
	Module   string // mapped file path (as in /proc/PID/maps), or "[vdso]" etc.
	ModOff   uint64 // file offset of PC in Module (for module+0xoff display)
	Kind     string // "native"
}

// Stack is an unwound stack, innermost frame first.
type Stack struct {
	Frames    []Frame
	Truncated bool
	Reason    string // why unwinding stopped early; "" when it reached the outermost frame
}

// Limits bound every cache of a Resolver. Zero fields take the defaults in
// DefaultLimits.
type Limits struct {
	// Files is how many parsed ELF files (symbols, CFI index, line table)
	// stay cached, least recently used evicted; keyed by build id, else by
	// device, inode, size and mtime.
	Files int
	// FileCacheBytes bounds the estimated heap of the cached files (symbols
	// and their names, FDE index, .eh_frame/.debug_frame bytes, caches of
	// named addresses and CFI rows): least recently used files are evicted
	// until the total fits. A file estimated above it alone is not kept (a
	// stub remembers it, so it is not parsed again while cached): its frames
	// are module+0xoffset and the unwinder crosses it by frame pointers.
	FileCacheBytes int
	// Procs is how many processes' mapping lists stay cached (LRU).
	Procs int
	// SymbolsPerFile caps the FUNC symbols kept per file (a hostile or huge
	// table keeps the first ones by address order of the table).
	SymbolsPerFile int
	// FDEsPerFile caps the FDEs indexed per file when there is no usable
	// .eh_frame_hdr table.
	FDEsPerFile int
	// DebugFiles is how many files keep their DWARF data (for file:line)
	// loaded at once, each at most FileBytes of debug sections; the oldest
	// is dropped first. Negative turns line lookup off. glibc's debug file
	// (libc6-dbg) costs ~0.15 s of CPU and ~20 MiB to load.
	DebugFiles int
	// MapsLines caps the lines read from /proc/PID/maps.
	MapsLines int
	// FileBytes is the largest ELF section (symbol table, .eh_frame, line
	// program) read into memory; bigger ones are skipped.
	FileBytes int
	// Frames caps the frames of one stack.
	Frames int
}

// DefaultLimits are the cache sizes used for zero fields: 64 files within
// 256 MiB, 1024 processes, 200000 symbols and 500000 FDEs per file, DWARF of 2 files,
// 8192 maps lines, 64 MiB per section, 128 frames. A cached file costs its
// .eh_frame bytes, 16 bytes per FDE, ~48 bytes per symbol plus names, and
// 4096-entry caches of named addresses and CFI rows (~80 bytes each); a
// process costs ~100 bytes per mapping.
var DefaultLimits = Limits{
	Files:          64,
	FileCacheBytes: 256 << 20,
	Procs:          1024,
	SymbolsPerFile: 200000,
	FDEsPerFile:    500000,
	DebugFiles:     2,
	MapsLines:      8192,
	FileBytes:      64 << 20,
	Frames:         128,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v == 0 || (*v < 0 && v != &l.DebugFiles) {
			*v = def
		}
	}
	set(&l.Files, d.Files)
	set(&l.FileCacheBytes, d.FileCacheBytes)
	set(&l.Procs, d.Procs)
	set(&l.SymbolsPerFile, d.SymbolsPerFile)
	set(&l.FDEsPerFile, d.FDEsPerFile)
	set(&l.DebugFiles, d.DebugFiles)
	set(&l.MapsLines, d.MapsLines)
	set(&l.FileBytes, d.FileBytes)
	set(&l.Frames, d.Frames)
	return l
}

// String gives "func+0x12 (module)" or "module+0xoffset", escaped.
func (f Frame) String() string {
	if f.Function != "" {
		return fmt.Sprintf("%s+0x%x (%s)", safe.Text(f.Function), f.Offset, safe.Text(f.Module))
	}
	m := f.Module
	if m == "" {
		m = "[unknown]"
	}
	return fmt.Sprintf("%s+0x%x", safe.Text(m), f.ModOff)
}
