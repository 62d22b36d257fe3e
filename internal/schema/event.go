// Package schema holds the JSON shapes oomtrace writes: event lines, and the
// parts of dumps and snapshots built from them.
package schema

import (
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/tracer"
)

// Event is one line of `oomtrace events --json`, and an entry of a dump's events.
type Event struct {
	Type  string `json:"type"`
	Time  string `json:"time"` // RFC 3339, nanoseconds
	PID   uint32 `json:"pid"`
	TID   uint32 `json:"tid"`
	Comm  string `json:"comm"`
	Start uint64 `json:"start_ns"`
	*Alloc
	*Proc
	Victim  *OOMTask `json:"victim,omitempty"`
	Trigger *Task    `json:"trigger,omitempty"`
	Source  string   `json:"source,omitempty"`
	Stack   *Stack   `json:"stack,omitempty"` // a sampled call's
	// Service is the process's service, set in dumps where it was known.
	Service string `json:"service,omitempty"`
}

// Stack is the growth stack of a sampled call: Weight bytes of its
// process's growth since its previous sample stand on it.
type Stack struct {
	Weight    uint64            `json:"weight_bytes"`
	Truncated bool              `json:"truncated"`
	Frames    []aggregate.Frame `json:"frames"` // innermost first
}

// WithStack adds a sampled call's resolved stack to its event; an event
// without a sample is left as it is.
func (e *Event) WithStack(ev *tracer.Event, frames []aggregate.Frame, truncated bool) {
	if ev.Sample == nil {
		return
	}
	if frames == nil {
		frames = []aggregate.Frame{}
	}
	e.Stack = &Stack{Weight: ev.Sample.Weight, Truncated: truncated, Frames: frames}
}

// Alloc holds the fields of mmap, munmap, brk, mremap and mprotect events.
type Alloc struct {
	Addr   uint64 `json:"addr"`
	Len    uint64 `json:"len"`
	Delta  int64  `json:"delta"`
	OldLen uint64 `json:"old_len,omitempty"`
	Flags  uint32 `json:"flags,omitempty"`
	Prot   uint32 `json:"prot"`
}

// Proc holds the fields of fork, exec and exit events.
type Proc struct {
	PPID     uint32  `json:"ppid"`
	ExitCode *uint32 `json:"exit_code,omitempty"`
	Filename string  `json:"filename,omitempty"`
}

// Task names a process.
type Task struct {
	PID  uint32 `json:"pid"`
	TID  uint32 `json:"tid"`
	Comm string `json:"comm"`
}

// OOMTask is the victim of an OOM kill as the kernel saw it.
//
// Its memory cgroup is memcg_path here and "cgroup" in a dump's victim
// (dump.Victim.Cgroup). Schema version 1 keeps both; the next version
// should say memcg_path in both, as oom_memcg, task_memcg and
// memcg_oom_kills do, and new fields should say memcg.
type OOMTask struct {
	Task
	UID           uint32 `json:"uid"`
	OOMScoreAdj   int32  `json:"oom_score_adj"`
	TotalVMBytes  uint64 `json:"total_vm_bytes"`
	AnonRSSBytes  uint64 `json:"anon_rss_bytes"`
	FileRSSBytes  uint64 `json:"file_rss_bytes"`
	ShmemRSSBytes uint64 `json:"shmem_rss_bytes"`
	PgTablesBytes uint64 `json:"pgtables_bytes"`
	MemcgID       uint64 `json:"memcg_id"`
	MemcgPath     string `json:"memcg_path"`
}

// FromEvent converts a tracer event to its JSON shape.
func FromEvent(ev *tracer.Event) Event {
	out := Event{
		Type:  ev.Type.String(),
		Time:  ev.Time.UTC().Format(time.RFC3339Nano),
		PID:   ev.PID,
		TID:   ev.TID,
		Comm:  ev.Comm,
		Start: ev.Start,
	}
	switch {
	case ev.Type.IsAlloc():
		a := ev.Alloc
		out.Alloc = &Alloc{Addr: a.Addr, Len: a.Len, Delta: a.Delta, OldLen: a.OldLen, Flags: a.Flags, Prot: a.Prot}
	case ev.Type.IsLifecycle():
		p := &Proc{PPID: ev.Proc.PPID, Filename: ev.Proc.Filename}
		if ev.Type == tracer.EventExit {
			code := ev.Proc.ExitCode
			p.ExitCode = &code
		}
		out.Proc = p
	case ev.OOM != nil:
		k := ev.OOM
		out.Victim = &OOMTask{
			Task:          Task{PID: k.Victim.PID, TID: k.Victim.TID, Comm: k.Victim.Comm},
			UID:           k.UID,
			OOMScoreAdj:   k.OOMScoreAdj,
			TotalVMBytes:  k.TotalVMBytes,
			AnonRSSBytes:  k.AnonRSSBytes,
			FileRSSBytes:  k.FileRSSBytes,
			ShmemRSSBytes: k.ShmemRSSBytes,
			PgTablesBytes: k.PgTablesBytes,
			MemcgID:       k.MemcgID,
			MemcgPath:     k.MemcgPath,
		}
		out.Trigger = &Task{PID: k.Trigger.PID, TID: k.Trigger.TID, Comm: k.Trigger.Comm}
		out.Source = k.Source
	}
	return out
}
