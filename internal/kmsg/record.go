package kmsg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Record is one /dev/kmsg record: "PRI,SEQ,TS_USEC,FLAGS[,...];MESSAGE"
// (continuation lines starting with a space are dictionary key=value lines:
// ignore them).
type Record struct {
	Priority int // facility<<3 | level; facility 0 is the kernel itself
	Seq      uint64
	Usec     uint64 // microseconds since boot
	Message  string // with the kernel's \xNN escapes undone
}

// ParseRecord parses one record as read(2) from /dev/kmsg returns it.
func ParseRecord(raw string) (Record, error) {
	line, _, _ := strings.Cut(raw, "\n") // drop dictionary lines
	head, msg, ok := strings.Cut(line, ";")
	if !ok {
		return Record{}, errors.New("kmsg: record has no ';'")
	}
	f := strings.Split(head, ",")
	if len(f) < 4 {
		return Record{}, fmt.Errorf("kmsg: record header %q has fewer than 4 fields", head)
	}
	pri, err := strconv.Atoi(f[0])
	if err != nil || pri < 0 {
		return Record{}, fmt.Errorf("kmsg: bad priority %q", f[0])
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("kmsg: bad sequence %q", f[1])
	}
	usec, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("kmsg: bad timestamp %q", f[2])
	}
	return Record{Priority: pri, Seq: seq, Usec: usec, Message: unescape(msg)}, nil
}

// kernel reports whether the record came from the kernel: user space writing
// to /dev/kmsg always gets a non-zero facility.
func (r Record) kernel() bool { return r.Priority>>3 == 0 }

// unescape undoes the \xNN escapes the kernel applies to control bytes,
// bytes >= 0x7f and the backslash itself.
func unescape(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
