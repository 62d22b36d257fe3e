package kmsg

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Buffer sizes: a /dev/kmsg read must fit a whole record (the kernel
// answers EINVAL otherwise); a line longer than maxLine is dropped.
const (
	readSize = 16 << 10
	maxLine  = 64 << 10
)

// Reader follows /dev/kmsg and returns the OOM-kill reports in it. It also
// reads a saved dump (one record a line, as `cat /dev/kmsg` writes it).
type Reader struct {
	src     io.ReadCloser
	p       Parser
	buf     []byte
	pending []byte
	closed  atomic.Bool
	once    sync.Once
	err     error
}

// Open opens path (normally /dev/kmsg). With fromEnd it seeks to the end so
// that only new records are read. The file is pollable, so Close unblocks a
// pending Next.
func Open(path string, fromEnd bool) (*Reader, error) {
	f, err := os.Open(path) // Go puts /dev/kmsg in non-blocking mode and polls it
	if err != nil {
		return nil, err
	}
	if fromEnd {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, err
		}
	}
	return newReader(f), nil
}

// newReader reads records from src; tests hand it pipes and fakes.
func newReader(src io.ReadCloser) *Reader {
	return &Reader{src: src, buf: make([]byte, readSize)}
}

// Next blocks until a report is complete. It returns io.EOF at the end of a
// regular file and os.ErrClosed once Close was called (use
// context.AfterFunc(ctx, r.Close) to tie it to a context). Records the
// kernel overwrote before they were read (EPIPE) are skipped.
func (r *Reader) Next() (Report, error) {
	for {
		if rep, ok := r.drain(false); ok {
			return rep, nil
		}
		if r.closed.Load() {
			return Report{}, os.ErrClosed
		}
		n, err := r.src.Read(r.buf)
		r.pending = append(r.pending, r.buf[:n]...)
		switch {
		case err == nil:
		case errors.Is(err, syscall.EPIPE):
			r.p.Reset() // the context before the gap is no use
		case r.closed.Load() || errors.Is(err, os.ErrClosed):
			return Report{}, os.ErrClosed
		case errors.Is(err, io.EOF):
			if rep, ok := r.drain(true); ok {
				return rep, nil
			}
			return Report{}, io.EOF
		default:
			return Report{}, err
		}
	}
}

// drain feeds the complete lines in pending to the parser (and, at EOF, a
// last unterminated one) until one completes a report.
func (r *Reader) drain(eof bool) (Report, bool) {
	for len(r.pending) > 0 {
		i := bytes.IndexByte(r.pending, '\n')
		if i < 0 {
			if len(r.pending) > maxLine {
				r.pending = r.pending[:0]
			}
			if !eof {
				return Report{}, false
			}
			i = len(r.pending)
		}
		line := string(r.pending[:i])
		r.pending = r.pending[min(i+1, len(r.pending)):]
		if line == "" || line[0] == ' ' { // dictionary line
			continue
		}
		rec, err := ParseRecord(line)
		if err != nil {
			continue
		}
		if rep, ok := r.p.Feed(rec); ok {
			return rep, true
		}
	}
	r.pending = r.pending[:0]
	return Report{}, false
}

// Close is idempotent and unblocks a pending Next.
func (r *Reader) Close() error {
	r.once.Do(func() {
		r.closed.Store(true)
		r.err = r.src.Close()
	})
	return r.err
}
