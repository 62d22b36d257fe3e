package python

import "github.com/oomtrace/oomtrace/tracer"

// Offsets locate what oomtrace reads in one CPython version's structures.
type Offsets struct {
	RuntimeTstateCurrent uint64 // _PyRuntimeState.gilstate.tstate_current (3.11)
	RuntimeInterpsHead   uint64 // _PyRuntimeState.interpreters.head (3.13)
	BPF                  tracer.PyProc
	// PyCodeObject
	CodeFilename, CodeQualname, CodeLinetable, CodeFirstLineno uint64
	CodeFirstTraceable, CodeCodeAdaptive                       uint64
	// PyObject.ob_type; PyBytesObject's size and bytes
	ObType, BytesSize, BytesSval uint64
	// PyASCIIObject: length, state bits, and the sizes after which the
	// characters of a compact ASCII and a compact non-ASCII string start
	UnicodeLength, UnicodeState, UnicodeASCIISize, UnicodeCompactSize uint64
	// _PyInterpreterFrame.owner of a generator's frame, and of the eval
	// loop's entry shim (3.13; 0 where there is none)
	FrameOwnedByGenerator, FrameOwnedByCStack uint8
}

// offsets311 is CPython 3.11's layout, from Debian 12's python3.11-dev
// 3.11.2 internal headers (the layout holds for every 3.11 release):
//
//	gcc -I/usr/include/python3.11 -I/usr/include/python3.11/internal \
//	    internal/python/testdata/offsets311.c -o /tmp/off && /tmp/off
var offsets311 = Offsets{
	RuntimeTstateCurrent: 576,
	BPF: tracer.PyProc{
		TstateNativeThreadID: 160,
		TstateCframe:         56,
		CframeCurrentFrame:   8,
		FrameCode:            32,
		FramePrevious:        48,
		FramePrevInstr:       56,
		FrameIsEntry:         68,
		FrameOwner:           69,
	},
	CodeFilename:          112,
	CodeQualname:          128,
	CodeLinetable:         136,
	CodeFirstLineno:       72,
	CodeFirstTraceable:    168,
	CodeCodeAdaptive:      184,
	ObType:                8,
	BytesSize:             16,
	BytesSval:             32,
	UnicodeLength:         16,
	UnicodeState:          32,
	UnicodeASCIISize:      48,
	UnicodeCompactSize:    72,
	FrameOwnedByGenerator: 1,
}

// Versions are the CPython versions (major, minor) oomtrace reads frames of
// from a table; debugOffsetVersions read theirs from the process.
var versions = map[[2]int]*Offsets{{3, 11}: &offsets311}

// 3.12 has no _Py_DebugOffsets and is not read; 3.14 changed the frame
// (tagged stack references) and the code object beyond what was checked.
var debugOffsetVersions = map[[2]int]bool{{3, 13}: true}

// Supported lists the versions oomtrace reads, for doctor.
func Supported() []string { return []string{"3.11", "3.13"} }
