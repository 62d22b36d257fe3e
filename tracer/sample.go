package tracer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ProcSample is one process as the kernel saw it in one pass: resident
// memory from the mm's per-CPU counters as last folded (what
// /proc/PID/status showed before 6.16; since then status sums the per-CPU
// parts, and the two differ by at most a batch of pages per CPU), and the
// process's counters, exact.
type ProcSample struct {
	PID                     int
	Start                   uint64 // ns since boot
	Anon, File, Shmem, Swap uint64 // bytes
	Counters                Counters
	HasCounters             bool
}

// ErrNoSampler means the kernel could load neither way of reading every
// process at once; callers read /proc per process instead.
var ErrNoSampler = errors.New("no task walk or task iterator")

// How processes are sampled, best first.
const (
	SamplerWalk = "task walk" // raw_tp run on demand, open-coded task iterator, mmapped array
	SamplerIter = "iter/task" // seq_file task iterator, one program run per task
	SamplerProc = "/proc"     // neither loaded
)

const (
	walkTruncated = 0xffffffff // walk_procs: the array was too small
	walkMaxCap    = 1 << 22    // PID_MAX_LIMIT
)

// sampler reads every process in one pass, by the best way the kernel allows.
type sampler struct {
	mu sync.Mutex

	// task walk
	walkSpec *ebpf.CollectionSpec
	opts     ebpf.CollectionOptions
	walk     *ebpf.Collection
	mapped   []byte // the samples array, mapped read-only
	capacity uint32

	// iter/task
	iter *link.Iter
	buf  bytes.Buffer
}

// loadWalk loads the task walk with room for capacity processes.
func (s *sampler) loadWalk(capacity uint32) error {
	spec := s.walkSpec.Copy()
	spec.Maps[walkMapSamples].MaxEntries = capacity
	coll, err := ebpf.NewCollectionWithOptions(spec, s.opts)
	if err != nil {
		return err
	}
	// Mapped by hand, read-only: samples are decoded in place, with no
	// copy out first (ebpf.Memory offers only ReadAt, or unsafe access
	// behind a build tag).
	m := coll.Maps[walkMapSamples]
	size := int(m.ValueSize()) * int(capacity)
	size = (size + os.Getpagesize() - 1) &^ (os.Getpagesize() - 1)
	mapped, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		coll.Close()
		return fmt.Errorf("mmap samples: %w", err)
	}
	if _, err := coll.Programs[walkProgWalkProcs].Run(&ebpf.RunOptions{}); err != nil {
		unix.Munmap(mapped)
		coll.Close()
		return fmt.Errorf("run: %w", err)
	}
	s.closeWalk()
	s.walk, s.mapped, s.capacity = coll, mapped, capacity
	return nil
}

func (s *sampler) closeWalk() {
	if s.mapped != nil {
		unix.Munmap(s.mapped)
		s.mapped = nil
	}
	if s.walk != nil {
		s.walk.Close()
		s.walk = nil
	}
}

// setup picks the task walk, else the task iterator (loaded by load), else
// none; it says which and why.
func (s *sampler) setup(cfg Config, shared map[string]*ebpf.Map, cache *btf.Cache, iterProg *ebpf.Program) (string, error) {
	spec, err := loadWalk()
	if cfg.NoTaskWalk {
		err = errors.New("disabled by configuration")
	}
	if err == nil {
		for name := range spec.Maps {
			if m, ok := shared[name]; ok {
				spec.Maps[name].MaxEntries = m.MaxEntries()
			}
		}
		err = fitSpec(spec, cfg, "task walk", imms(cfg, allocImmMarkerIMM_SLOT_MASK))
	}
	if err == nil {
		s.walkSpec, s.opts = spec, ebpf.CollectionOptions{Cache: cache, MapReplacements: shared}
		if err = s.loadWalk(min(max(cfg.WalkCapacity, 1), walkMaxCap)); err == nil {
			// The cache holds the kernel's BTF (some 4.5 MiB of heap); a
			// reload for a bigger array (rare) reads it again.
			s.opts.Cache = nil
			return SamplerWalk, nil
		}
	}
	walkErr := err
	if iterProg == nil {
		return SamplerProc, walkErr
	}
	it, err := link.AttachIter(link.IterOptions{Program: iterProg})
	if err != nil {
		return SamplerProc, errors.Join(walkErr, err)
	}
	s.iter = it
	return SamplerIter, walkErr
}

func (s *sampler) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	s.closeWalk()
	if s.iter != nil {
		err = s.iter.Close()
		s.iter = nil
	}
	return err
}

// Processes returns every live process in one pass.
func (t *Tracer) Processes() ([]ProcSample, error) { return t.AppendProcesses(nil) }

// AppendProcesses appends every live process to dst, so a caller that
// samples each tick can reuse one slice.
func (t *Tracer) AppendProcesses(dst []ProcSample) ([]ProcSample, error) {
	s := &t.sampler
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.walk != nil:
		return s.walkAppend(dst)
	case s.iter != nil:
		return s.iterAppend(dst)
	}
	return dst, ErrNoSampler
}

func (s *sampler) walkAppend(dst []ProcSample) ([]ProcSample, error) {
	for {
		n, err := s.walk.Programs[walkProgWalkProcs].Run(&ebpf.RunOptions{})
		if err != nil {
			return dst, fmt.Errorf("task walk: %w", err)
		}
		if n != walkTruncated {
			if n > s.capacity {
				return dst, fmt.Errorf("task walk: %d samples in an array of %d", n, s.capacity)
			}
			size := int(unsafe.Sizeof(sampleProcSample{}))
			return decodeSamples(dst, s.mapped[:int(n)*size])
		}
		if s.capacity >= walkMaxCap {
			return dst, fmt.Errorf("task walk: more than %d processes", s.capacity)
		}
		if err := s.loadWalk(s.capacity * 2); err != nil {
			return dst, fmt.Errorf("task walk: grow to %d: %w", s.capacity*2, err)
		}
	}
}

func (s *sampler) iterAppend(dst []ProcSample) ([]ProcSample, error) {
	r, err := s.iter.Open()
	if err != nil {
		return dst, fmt.Errorf("task iterator: %w", err)
	}
	s.buf.Reset()
	_, err = s.buf.ReadFrom(r)
	r.Close()
	if err != nil {
		return dst, fmt.Errorf("task iterator: %w", err)
	}
	return decodeSamples(dst, s.buf.Bytes())
}

// decodeSamples decodes proc_sample records; walk and iter/task share the C struct.
func decodeSamples(out []ProcSample, raw []byte) ([]ProcSample, error) {
	size := int(unsafe.Sizeof(sampleProcSample{}))
	if len(raw)%size != 0 {
		return out, fmt.Errorf("task samples: %d bytes is not a whole number of %d-byte samples", len(raw), size)
	}
	out = slices.Grow(out, len(raw)/size)
	for off := 0; off < len(raw); off += size {
		p, err := view[sampleProcSample](raw[off:])
		if err != nil {
			return out, err
		}
		out = append(out, ProcSample{
			PID: int(p.Pid), Start: p.StartNs,
			Anon: p.AnonPages * pageSize, File: p.FilePages * pageSize, Shmem: p.ShmemPages * pageSize, Swap: p.SwapPages * pageSize,
			Counters: Counters(p.Counters), HasCounters: p.HasCounters != 0,
		})
	}
	return out, nil
}
