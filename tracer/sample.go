package tracer

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ProcSample is one process as the kernel's task iterator saw it: resident
// memory from the mm's per-CPU counters as last folded (within a batch of
// pages per CPU of /proc/PID/status's exact sum: a cheap change detector),
// and the process's counters, exact.
type ProcSample struct {
	PID                     int
	Start                   uint64 // ns since boot
	Anon, File, Shmem, Swap uint64 // bytes
	Counters                Counters
	HasCounters             bool
}

// ErrNoSampler means the kernel could not load the task iterator; callers
// read /proc per process instead.
var ErrNoSampler = errors.New("task iterator unavailable")

// sampler runs the iter/task program on demand.
type sampler struct {
	mu   sync.Mutex
	iter *link.Iter
	buf  bytes.Buffer
}

func (s *sampler) attach(prog *ebpf.Program) error {
	if prog == nil {
		return ErrNoSampler
	}
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		return err
	}
	s.iter = it
	return nil
}

func (s *sampler) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.iter == nil {
		return nil
	}
	err := s.iter.Close()
	s.iter = nil
	return err
}

// Processes returns every live process in one pass of the task iterator.
func (t *Tracer) Processes() ([]ProcSample, error) {
	s := &t.sampler
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.iter == nil {
		return nil, ErrNoSampler
	}
	r, err := s.iter.Open()
	if err != nil {
		return nil, fmt.Errorf("task iterator: %w", err)
	}
	s.buf.Reset()
	_, err = s.buf.ReadFrom(r)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("task iterator: %w", err)
	}
	return decodeSamples(s.buf.Bytes())
}

func decodeSamples(raw []byte) ([]ProcSample, error) {
	size := int(unsafe.Sizeof(sampleProcSample{}))
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("task iterator: %d bytes is not a whole number of %d-byte samples", len(raw), size)
	}
	out := make([]ProcSample, 0, len(raw)/size)
	for off := 0; off < len(raw); off += size {
		p, err := view[sampleProcSample](raw[off:])
		if err != nil {
			return nil, err
		}
		out = append(out, ProcSample{
			PID: int(p.Pid), Start: p.StartNs,
			Anon: p.AnonPages * pageSize, File: p.FilePages * pageSize, Shmem: p.ShmemPages * pageSize, Swap: p.SwapPages * pageSize,
			Counters: Counters(p.Counters), HasCounters: p.HasCounters != 0,
		})
	}
	return out, nil
}
