package python

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of what is read from a process for one code object.
const (
	maxNameChars  = 256      // qualname and file name, characters kept
	maxLinetable  = 64 << 10 // co_linetable bytes
	codesPerProc  = 4096     // cached code objects per process; reset when full
	headerReadLen = 256      // the PyCodeObject fields read at once
)

// code is a code object's names, read once per process and address.
type code struct {
	ok             bool // read and checked; false: not a code object
	qualname, file string
	firstLine      int
	firstTraceable uint64
	linetable      []byte
}

// mem reads a process's memory through /proc/PID/mem.
type mem struct{ f *os.File }

func openMem(pid int) (mem, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
	return mem{f}, err
}

func (m mem) read(addr uint64, b []byte) bool {
	if m.f == nil || addr == 0 || addr > 1<<47 {
		return false
	}
	n, err := m.f.ReadAt(b, int64(addr))
	return err == nil && n == len(b)
}

func (m mem) u64(addr uint64) (uint64, bool) {
	var b [8]byte
	if !m.read(addr, b[:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// readCode reads the code object at addr; a pointer that is not one (its
// type is not PyCode_Type where that is known) gives ok false.
func readCode(m mem, in *Interp, addr uint64) code {
	o := in.Offsets
	var h [headerReadLen]byte
	if o.CodeCodeAdaptive > headerReadLen || !m.read(addr, h[:]) {
		return code{}
	}
	word := func(off uint64) uint64 { return binary.LittleEndian.Uint64(h[off:]) }
	if in.CodeType != 0 && word(o.ObType) != in.CodeType {
		return code{}
	}
	c := code{ok: true, firstLine: int(int32(binary.LittleEndian.Uint32(h[o.CodeFirstLineno:]))),
		firstTraceable: uint64(binary.LittleEndian.Uint32(h[o.CodeFirstTraceable:]))}
	c.qualname = readStr(m, in, word(o.CodeQualname))
	c.file = readStr(m, in, word(o.CodeFilename))
	if lt := word(o.CodeLinetable); lt != 0 {
		if n, ok := m.u64(lt + o.BytesSize); ok && n > 0 && n <= maxLinetable {
			b := make([]byte, n)
			if m.read(lt+o.BytesSval, b) {
				c.linetable = b
			}
		}
	}
	return c
}

// readStr reads a compact str object as valid UTF-8, at most maxNameChars
// characters ("?" when it cannot be read).
func readStr(m mem, in *Interp, addr uint64) string {
	o := in.Offsets
	var h [80]byte
	if o.UnicodeCompactSize > uint64(len(h)) || !m.read(addr, h[:o.UnicodeCompactSize]) {
		return "?"
	}
	if in.StrType != 0 && binary.LittleEndian.Uint64(h[o.ObType:]) != in.StrType {
		return "?"
	}
	n := binary.LittleEndian.Uint64(h[o.UnicodeLength:])
	state := binary.LittleEndian.Uint32(h[o.UnicodeState:])
	kind, compact, ascii := uint64(state>>2&7), state>>5&1 == 1, state>>6&1 == 1
	if !compact || kind != 1 && kind != 2 && kind != 4 {
		return "?"
	}
	cut := n > maxNameChars
	n = min(n, maxNameChars)
	data := addr + o.UnicodeCompactSize
	if ascii {
		data, kind = addr+o.UnicodeASCIISize, 1
	}
	b := make([]byte, n*kind)
	if !m.read(data, b) {
		return "?"
	}
	var sb strings.Builder
	for i := uint64(0); i < n; i++ {
		var r rune
		switch kind {
		case 1:
			r = rune(b[i])
		case 2:
			r = rune(binary.LittleEndian.Uint16(b[i*2:]))
		case 4:
			r = rune(binary.LittleEndian.Uint32(b[i*4:]))
		}
		if !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		sb.WriteRune(r)
	}
	if cut {
		sb.WriteString("…")
	}
	return sb.String()
}

// lineAt is the line of code unit index unit in a 3.11 location table
// (Objects/locations.md), 0 when the table does not cover it or says the
// instruction has no line.
func lineAt(table []byte, firstLine int, unit uint64) int {
	line, pos := firstLine, uint64(0)
	i := 0
	varint := func() (uint64, bool) {
		var v uint64
		for shift := 0; i < len(table) && shift < 64; shift += 6 {
			b := table[i]
			i++
			v |= uint64(b&63) << shift
			if b&64 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	svarint := func() (int, bool) {
		v, ok := varint()
		if v&1 != 0 {
			return -int(v >> 1), ok
		}
		return int(v >> 1), ok
	}
	for i < len(table) {
		b := table[i]
		i++
		if b&0x80 == 0 {
			return 0 // not at an entry's start: corrupt
		}
		code, length := b>>3&15, uint64(b&7)+1
		valid := true
		switch {
		case code == 15: // no location
			valid = false
		case code == 14: // long form
			d, ok := svarint()
			if !ok {
				return 0
			}
			line += d
			varint()
			varint()
			varint()
		case code == 13: // no column
			d, ok := svarint()
			if !ok {
				return 0
			}
			line += d
		case code >= 10: // one line, columns in two bytes
			line += int(code) - 10
			i += 2
		default: // short form, column in one byte
			i++
		}
		if unit < pos+length {
			if !valid {
				return 0
			}
			return line
		}
		pos += length
	}
	return 0
}
