package python

import (
	"encoding/binary"
	"fmt"

	"github.com/oomtrace/oomtrace/tracer"
)

// CPython 3.13 publishes the offsets an out-of-process reader needs in
// _Py_DebugOffsets, the first member of _PyRuntime (Include/internal/
// pycore_runtime.h). Its layout, as 64-bit words after the 8-byte cookie:
// version, free_threaded, then groups each starting with its structure's
// size. Checked against trixie's libpython3.13-dev 3.13.5 headers
// (testdata/debugoffsets313.c).
const (
	debugCookie = "xdebugpy"
	// word indexes after the cookie
	dVersion           = 0
	dFreeThreaded      = 1
	dRuntimeSize       = 2
	dRuntimeInterpHead = 4
	dInterpSize        = 5
	dInterpThreadsHead = 8
	dTstateSize        = 18
	dTstateNext        = 20
	dTstateFrame       = 22
	dTstateNativeTID   = 24
	dFrameSize         = 27
	dFramePrevious     = 28
	dFrameExecutable   = 29
	dFrameInstrPtr     = 30
	dFrameOwner        = 32
	dCodeSize          = 33
	dCodeFilename      = 34
	dCodeQualname      = 36
	dCodeLinetable     = 37
	dCodeFirstLineno   = 38
	dCodeAdaptive      = 42
	dObjectSize        = 43
	dObjectObType      = 44
	dBytesSize         = 63
	dBytesObSize       = 64
	dBytesSval         = 65
	dUnicodeSize       = 66
	dUnicodeState      = 67
	dUnicodeLength     = 68
	dUnicodeASCIISize  = 69
	debugWords         = 70
)

// What the debug offsets do not give, from trixie's 3.13 headers
// (testdata/debugoffsets313.c): a code object's _co_firsttraceable, the
// size of PyCompactUnicodeObject, and the owner values of a generator's
// frame and of the eval loop's entry shim.
const (
	code313FirstTraceable = 184
	unicode313CompactSize = 56
	owner313Generator     = 1
	owner313CStack        = 3
)

// readDebugOffsets reads and checks the _Py_DebugOffsets at runtime in the
// process and returns the layout they describe. version is the one the
// binary's Py_Version gave ("3.13"): the offsets must say the same.
func readDebugOffsets(m mem, runtime uint64, version string) (*Offsets, error) {
	var b [8 + 8*debugWords]byte
	if !m.read(runtime, b[:]) {
		return nil, fmt.Errorf("_Py_DebugOffsets at %#x: unreadable", runtime)
	}
	return parseDebugOffsets(b[:], version)
}

func parseDebugOffsets(b []byte, version string) (*Offsets, error) {
	if len(b) < 8+8*debugWords || string(b[:8]) != debugCookie {
		return nil, fmt.Errorf("_Py_DebugOffsets: no %q cookie", debugCookie)
	}
	w := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8+8*i:]) }
	hex := w(dVersion)
	if got := fmt.Sprintf("%d.%d", hex>>24, hex>>16&0xff); got != version || hex>>32 != 0 {
		return nil, fmt.Errorf("_Py_DebugOffsets: version %#x, the binary says %s", hex, version)
	}
	if w(dFreeThreaded) != 0 {
		return nil, fmt.Errorf("_Py_DebugOffsets: a free-threaded build")
	}
	// Each offset lies inside its structure, whose size is bounded (1 MiB:
	// _PyRuntimeState is 280 KiB); a
	// pointer field is an aligned word.
	var bad []string
	field := func(size, i int, word bool) uint32 {
		s, v := w(size), w(i)
		if s == 0 || s > 1<<20 || v+4 > s || word && (v%8 != 0 || v+8 > s) {
			bad = append(bad, fmt.Sprintf("word %d = %d (size %d)", i, v, s))
			return 0
		}
		return uint32(v)
	}
	o := &Offsets{
		RuntimeInterpsHead: uint64(field(dRuntimeSize, dRuntimeInterpHead, true)),
		BPF: tracer.PyProc{
			Flags:                tracer.PyThreadList | tracer.PyNoCframe | tracer.PyNoIsEntry,
			InterpThreadsHead:    field(dInterpSize, dInterpThreadsHead, true),
			TstateNext:           field(dTstateSize, dTstateNext, true),
			TstateNativeThreadID: field(dTstateSize, dTstateNativeTID, true),
			TstateCframe:         field(dTstateSize, dTstateFrame, true),
			FrameCode:            field(dFrameSize, dFrameExecutable, true),
			FramePrevious:        field(dFrameSize, dFramePrevious, true),
			FramePrevInstr:       field(dFrameSize, dFrameInstrPtr, true),
			FrameOwner:           field(dFrameSize, dFrameOwner, false),
		},
		CodeFilename:          uint64(field(dCodeSize, dCodeFilename, true)),
		CodeQualname:          uint64(field(dCodeSize, dCodeQualname, true)),
		CodeLinetable:         uint64(field(dCodeSize, dCodeLinetable, true)),
		CodeFirstLineno:       uint64(field(dCodeSize, dCodeFirstLineno, false)),
		CodeFirstTraceable:    code313FirstTraceable,
		CodeCodeAdaptive:      uint64(w(dCodeAdaptive)),
		ObType:                uint64(field(dObjectSize, dObjectObType, true)),
		BytesSize:             uint64(field(dBytesSize, dBytesObSize, true)),
		BytesSval:             uint64(field(dBytesSize, dBytesSval, false)),
		UnicodeLength:         uint64(field(dUnicodeSize, dUnicodeLength, true)),
		UnicodeState:          uint64(field(dUnicodeSize, dUnicodeState, false)),
		UnicodeASCIISize:      w(dUnicodeASCIISize),
		UnicodeCompactSize:    unicode313CompactSize,
		FrameOwnedByGenerator: owner313Generator,
		FrameOwnedByCStack:    owner313CStack,
	}
	o.BPF.FrameIsEntry = o.BPF.FrameOwner // unused under PyNoIsEntry; in bounds
	// co_code_adaptive is where the instructions start, the end of the
	// header: past the fields read from it, within what readCode reads.
	if a := o.CodeCodeAdaptive; a > w(dCodeSize) || a > headerReadLen || a <= code313FirstTraceable+4 ||
		o.CodeQualname+8 > a || o.CodeFilename+8 > a || o.CodeLinetable+8 > a || o.CodeFirstLineno+4 > a {
		bad = append(bad, fmt.Sprintf("co_code_adaptive %d (code size %d)", a, w(dCodeSize)))
	}
	if a := o.UnicodeASCIISize; a > w(dUnicodeSize) || a >= unicode313CompactSize || o.UnicodeState+4 > a || o.UnicodeLength+8 > a {
		bad = append(bad, fmt.Sprintf("PyASCIIObject size %d", a))
	}
	if f := o.BPF; max(f.FrameCode, f.FramePrevious, f.FramePrevInstr)+8 > pyFrameRead || f.FrameOwner >= pyFrameRead {
		bad = append(bad, "frame fields beyond the bytes the BPF walk reads")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("_Py_DebugOffsets: implausible %v", bad)
	}
	return o, nil
}

// pyFrameRead is bpf/python.h PY_FRAME_READ.
const pyFrameRead = 80
