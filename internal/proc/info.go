package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// rawReader reads small /proc files with plain open/read/close into a
// reused buffer: os.Open costs three more syscalls a file (fcntl and the
// poller's registration), which dominated reading new processes.
type rawReader struct {
	mu  sync.Mutex
	buf []byte
}

// MaxCmdline bounds the command line kept of a process, in bytes. Any user
// can set an argv of megabytes; the recorder keeps one a process (and the
// aggregator a redacted copy), so it is cut when read.
const MaxCmdline = 4096

// maxFile bounds the other small files read (stat, cgroup).
const maxFile = 64 << 10

// read returns up to limit bytes of the file, valid until the next call; the
// caller holds mu.
func (r *rawReader) read(path string, limit int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if r.buf == nil {
		r.buf = make([]byte, 4096)
	}
	n := 0
	for {
		if n >= limit {
			break
		}
		if n == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		m, err := unix.Read(fd, r.buf[n:min(len(r.buf), limit)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return r.buf[:n], nil
}

// Info reads a process's identity from stat, cmdline, exe and cgroup. Exe and
// cmdline may be empty (kernel threads, zombies, permissions).
func (r *Reader) Info(pid int) (Info, error) {
	dir := r.root + "/" + strconv.Itoa(pid) + "/"
	rr := &r.raw
	rr.mu.Lock()
	defer rr.mu.Unlock()
	b, err := rr.read(dir+"stat", maxFile)
	if err != nil {
		return Info{}, err
	}
	in, err := parseStat(b)
	if err != nil {
		return Info{}, fmt.Errorf("%sstat: %w", dir, err)
	}
	in.PID = pid
	if in.Kernel {
		return in, nil
	}
	if b, err := rr.read(dir+"cmdline", MaxCmdline+1); err == nil {
		in.Cmdline = splitCmdline(b, MaxCmdline)
	}
	if n, err := unix.Readlink(dir+"exe", rr.buf[:cap(rr.buf)]); err == nil {
		in.Exe = string(rr.buf[:n])
	}
	if b, err := rr.read(dir+"cgroup", maxFile); err == nil {
		in.Cgroup, in.Memcg = pickCgroups(parseCgroups(b))
	}
	return in, nil
}

var errStat = errors.New("malformed")

// parseStat reads ppid, session, flags and starttime, and comm (which may
// hold spaces and parentheses: it ends at the last ')').
func parseStat(b []byte) (Info, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Info{}, errStat
	}
	f := strings.Fields(string(b[end+1:]))
	// After comm: state(0) ppid(1) pgrp(2) session(3) tty(4) tpgid(5) flags(6) ... starttime(19)
	if len(f) < 20 {
		return Info{}, errStat
	}
	ppid, err1 := strconv.Atoi(f[1])
	sid, err2 := strconv.Atoi(f[3])
	flags, err3 := strconv.ParseUint(f[6], 10, 64)
	start, err4 := strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Info{}, err
	}
	return Info{PPID: ppid, SID: sid, StartTicks: start, Comm: string(b[open+1 : end]), Kernel: flags&pfKthread != 0}, nil
}

// Truncated marks a command line cut at MaxCmdline.
const Truncated = "…"

// splitCmdline splits NUL-separated arguments, as procfs does. More than max
// bytes are cut: whole arguments are kept and a last "…" argument marks the
// cut; a first argument longer than max is cut itself and ends in "…".
func splitCmdline(b []byte, max int) []string {
	cut := len(b) > max && !(len(b) == max+1 && b[max] == 0)
	if cut {
		b = b[:max]
		if bytes.IndexByte(b, 0) < 0 { // one argument, longer than max
			i := len(b) - 1
			for i > 0 && !utf8.RuneStart(b[i]) {
				i--
			}
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			return []string{string(b) + Truncated}
		}
		if b[len(b)-1] != 0 { // the last argument does not fit whole
			b = b[:bytes.LastIndexByte(b, 0)]
		}
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 && !cut {
		return nil
	}
	args := strings.Split(string(b), "\x00")
	if cut {
		args = append(args, Truncated)
	}
	return args
}

type cgroupLine struct {
	hierarchy   int
	controllers []string
	path        string
}

// parseCgroups reads /proc/PID/cgroup: "ID:controllers:path" a line.
func parseCgroups(b []byte) []cgroupLine {
	var out []cgroupLine
	for _, line := range strings.Split(string(b), "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		h, err := strconv.Atoi(id)
		if err != nil {
			continue
		}
		c := cgroupLine{hierarchy: h, path: path}
		if ctrls != "" {
			c.controllers = strings.Split(ctrls, ",")
		}
		out = append(out, c)
	}
	return out
}
