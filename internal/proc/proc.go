// Package proc reads processes and system memory from /proc, through
// github.com/prometheus/procfs.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

const pfKthread = 0x00200000

// Reader reads one proc filesystem. It is safe for concurrent use.
type Reader struct {
	fs   procfs.FS
	root string
	raw  rawReader // for the per-process files read most
}

// NewReader opens the proc filesystem mounted at root ("/proc").
func NewReader(root string) (*Reader, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return nil, err
	}
	return &Reader{fs: fs, root: root}, nil
}

// Info is what identifies a process and names its service. It changes only on exec.
type Info struct {
	PID, PPID, SID int
	StartTicks     uint64 // start time, clock ticks since boot (/proc/PID/stat field 22)
	Comm           string
	Cmdline        []string
	Exe            string
	Cgroup         string // for unit and container names: v1 name=systemd path, else the v2 path
	Memcg          string // the memory controller's path (v1 memory, else v2)
	Kernel         bool
}

func pickCgroups(cgs []cgroupLine) (unitPath, memcg string) {
	var v2 string
	for _, cg := range cgs {
		if cg.hierarchy == 0 {
			v2 = cg.path
		}
		for _, c := range cg.controllers {
			switch c {
			case "name=systemd":
				unitPath = cg.path
			case "memory":
				memcg = cg.path
			}
		}
	}
	if unitPath == "" || unitPath == "/" && v2 != "/" && v2 != "" {
		unitPath = v2
	}
	if memcg == "" {
		memcg = v2
	}
	return unitPath, memcg
}

// Mem is a process's resident memory from /proc/PID/status, in bytes.
type Mem struct {
	RSSAnon, RSSFile, RSSShmem, Swap uint64
}

// RSS is the sum of the three resident kinds.
func (m Mem) RSS() uint64 { return m.RSSAnon + m.RSSFile + m.RSSShmem }

// Mem reads /proc/PID/status.
func (r *Reader) Mem(pid int) (Mem, error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return Mem{}, err
	}
	s, err := p.NewStatus()
	if err != nil {
		return Mem{}, err
	}
	return Mem{RSSAnon: s.RssAnon, RSSFile: s.RssFile, RSSShmem: s.RssShmem, Swap: s.VmSwap}, nil
}

// Smaps is a process's proportional and unique memory, in bytes.
type Smaps struct {
	RSS, PSS, USS, Swap, SwapPSS uint64
}

// ErrUnsettled: no read of smaps_rollup matched the process's resident
// size. The Smaps returned with it is the closest read.
var ErrUnsettled = errors.New("smaps_rollup does not match the resident size")

// Smaps reads /proc/PID/smaps_rollup, at most three times. The kernel drops
// mmap_lock during the walk when a writer waits, and may then skip a mapping
// or count it twice: a process that maps memory while it is read can be off
// by a whole mapping (8 and 15 MiB jumps seen on Debian's 6.1), and two
// reads in a row can skip the same one. So each read is checked against the
// resident size of /proc/PID/statm, read just before: it is kept when its
// Rss is within 1/32 (at least 1 MiB) of it. Each read walks every mapping.
func (r *Reader) Smaps(pid int) (Smaps, error) {
	p, err := r.fs.Proc(pid)
	if err != nil {
		return Smaps{}, err
	}
	var best Smaps
	var bestOff uint64
	for i := 0; i < 3; i++ {
		rss, err := r.resident(pid)
		if err != nil {
			return Smaps{}, err
		}
		s, err := p.ProcSMapsRollup()
		if err != nil {
			return Smaps{}, err
		}
		cur := Smaps{RSS: s.Rss, PSS: s.Pss, USS: s.PrivateClean + s.PrivateDirty, Swap: s.Swap, SwapPSS: s.SwapPss}
		off := max(cur.RSS, rss) - min(cur.RSS, rss)
		if off <= max(rss/32, 1<<20) {
			return cur, nil
		}
		if i == 0 || off < bestOff {
			best, bestOff = cur, off
		}
	}
	return best, ErrUnsettled
}

// resident reads the resident size from /proc/PID/statm, in bytes.
func (r *Reader) resident(pid int) (uint64, error) {
	path := r.root + "/" + strconv.Itoa(pid) + "/statm"
	rr := &r.raw
	rr.mu.Lock()
	defer rr.mu.Unlock()
	b, err := rr.read(path, 256)
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b) // "size resident shared text lib data dt", in pages
	if len(f) < 2 {
		return 0, fmt.Errorf("%s: %q", path, b)
	}
	n, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n * uint64(os.Getpagesize()), nil
}

// Pids lists every process (thread group) id.
func (r *Reader) Pids() ([]int, error) {
	procs, err := r.fs.AllProcs()
	if err != nil {
		return nil, err
	}
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.PID
	}
	return pids, nil
}

// System is the machine's memory, in bytes, and memory pressure.
type System struct {
	Total, Available, Free, SwapTotal, SwapFree uint64
	PSI                                         *PSI // nil where the kernel has no PSI
}

// Used is memory in use: total minus available.
func (s System) Used() uint64 {
	if s.Available > s.Total {
		return 0
	}
	return s.Total - s.Available
}

// PSI is /proc/pressure/memory: share of time stalled on memory, in percent.
type PSI struct {
	SomeAvg10, SomeAvg60, SomeAvg300 float64
	FullAvg10, FullAvg60, FullAvg300 float64
	SomeTotalUs, FullTotalUs         uint64
}

// System reads /proc/meminfo and /proc/pressure/memory.
func (r *Reader) System() (System, error) {
	mi, err := r.fs.Meminfo()
	if err != nil {
		return System{}, err
	}
	kb := func(v *uint64) uint64 {
		if v == nil {
			return 0
		}
		return *v * 1024
	}
	s := System{Total: kb(mi.MemTotal), Available: kb(mi.MemAvailable), Free: kb(mi.MemFree), SwapTotal: kb(mi.SwapTotal), SwapFree: kb(mi.SwapFree)}
	if psi, err := r.fs.PSIStatsForResource("memory"); err == nil && psi.Some != nil {
		p := &PSI{SomeAvg10: psi.Some.Avg10, SomeAvg60: psi.Some.Avg60, SomeAvg300: psi.Some.Avg300, SomeTotalUs: psi.Some.Total}
		if psi.Full != nil {
			p.FullAvg10, p.FullAvg60, p.FullAvg300, p.FullTotalUs = psi.Full.Avg10, psi.Full.Avg60, psi.Full.Avg300, psi.Full.Total
		}
		s.PSI = p
	}
	return s, nil
}

// String is a short description for logs.
func (in Info) String() string {
	return fmt.Sprintf("%d(%s) %s", in.PID, in.Comm, strings.Join(in.Cmdline, " "))
}
