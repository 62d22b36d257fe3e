// Package dump holds the flight recorder's dump: its JSON schema, the atomic
// writer of its three files (.json, .html, .txt) and their renderers.
package dump

import (
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/schema"
)

// Version is the schema version written in every dump.
const Version = 1

// Kinds of dump.
const (
	KindOOM      = "oom"      // written after an OOM kill
	KindSnapshot = "snapshot" // on SIGUSR2
	KindWarn     = "warn"     // the time-to-OOM estimate fell below --warn-at
	KindSummary  = "summary"  // end of `oomtrace run`
)

// Dump is one flight-recorder dump.
type Dump struct {
	Version int       `json:"version"`
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time"`
	Host    Host      `json:"host"`
	Window  Window    `json:"window"`
	// Kills lists the OOM kills this dump is about: one for an oom dump,
	// every kill of the run for a summary. Victim, Trigger, Constraint and
	// the memcgs repeat the first kill's, for readers that want one.
	Kills      []Kill  `json:"kills,omitempty"`
	Victim     *Victim `json:"victim,omitempty"`
	Trigger    *Task   `json:"trigger,omitempty"`
	Constraint string  `json:"constraint,omitempty"`
	OOMMemcg   string  `json:"oom_memcg,omitempty"`
	TaskMemcg  string  `json:"task_memcg,omitempty"`
	// Warning is set on a warn dump: the estimate that crossed --warn-at.
	Warning *aggregate.TimeToOOM `json:"warning,omitempty"`
	// System is the machine at the time of the dump.
	System aggregate.System `json:"system"`
	// Services over the window, most grown first.
	Services []Service `json:"services"`
	// SystemSamples is used and available memory over the window.
	SystemSamples []SystemSample `json:"system_samples"`
	// Events are the significant events in the window, oldest first.
	Events     []schema.Event    `json:"events"`
	LostEvents map[string]uint64 `json:"lost_events"`
	// OOMKillsKernel is the kernel's count (/proc/vmstat oom_kill) since the
	// recorder started; Kills covers each of them unless Missed says otherwise.
	OOMKillsKernel uint64 `json:"oom_kills_kernel"`
	Missed         uint64 `json:"missed_kills,omitempty"`
	// Run is set on a summary of `oomtrace run`.
	Run *Run `json:"run,omitempty"`
	// Domains are the memory the kills ran out of, or the warning's (see domain.go).
	Domains []Domain `json:"domains,omitempty"`
}

// Host names the machine a dump was taken on.
type Host struct {
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
	Oomtrace string `json:"oomtrace"`
}

// Window is the span of time the samples cover.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Kill is one OOM kill: who died, who caused it, and what the kernel said.
type Kill struct {
	Time       time.Time `json:"time"`
	Victim     Victim    `json:"victim"`
	Trigger    Task      `json:"trigger"`
	Constraint string    `json:"constraint"` // from the kernel's report; "" if it could not be read
	OOMMemcg   string    `json:"oom_memcg"`
	TaskMemcg  string    `json:"task_memcg"`
	// MemcgOOMKills is the victim cgroup's own oom_kill counter after the
	// kill, a cross-check (-1 when unreadable).
	MemcgOOMKills int64 `json:"memcg_oom_kills"`
	KernelReport  bool  `json:"kernel_report"` // the /dev/kmsg report was found and joined
	// ConstraintInferred: the kernel printed no constraint (it rate-limits
	// its OOM report to 10 per 5 s, all but the "Killed process" line), so
	// CONSTRAINT_MEMCG was inferred: from that line's "Memory cgroup out of
	// memory", or where the kernel prints it bare, from the victim cgroup's
	// counters rising since the previous kill in it (see the recorder).
	ConstraintInferred bool `json:"constraint_inferred,omitempty"`
	// Source is tp_btf or tracepoint (the BPF event), or kmsg: the event was
	// lost and the kill is known from the kernel's report alone.
	Source string `json:"source"`
}

// Task names a process and its service.
type Task struct {
	PID     uint32 `json:"pid"`
	Comm    string `json:"comm"`
	Service string `json:"service"`
}

// Victim is the killed process as the kernel saw it.
//
// Its Cgroup is the victim's memory cgroup, which an oom_kill event calls
// memcg_path (schema.OOMTask). Version 1 keeps both names; the next version
// should call it memcg_path here too.
type Victim struct {
	Task
	Cmdline       string `json:"cmdline,omitempty"` // secrets masked; every argument with --redact-cmdline
	Cgroup        string `json:"cgroup"`
	AnonRSSBytes  uint64 `json:"anon_rss_bytes"`
	FileRSSBytes  uint64 `json:"file_rss_bytes"`
	ShmemRSSBytes uint64 `json:"shmem_rss_bytes"`
	TotalVMBytes  uint64 `json:"total_vm_bytes"`
	PgTablesBytes uint64 `json:"pgtables_bytes"`
	OOMScoreAdj   int32  `json:"oom_score_adj"`
	UID           uint32 `json:"uid"`
}

// Service is one service's history over the window.
type Service struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Victim       bool     `json:"victim"` // the victim of (the first) kill belonged to it
	Procs        int      `json:"procs"`  // at the end of the window
	StartBytes   uint64   `json:"start_rss_bytes"`
	EndBytes     uint64   `json:"end_rss_bytes"`
	PeakBytes    uint64   `json:"peak_rss_bytes"`
	GrowthBytes  int64    `json:"growth_bytes"` // end - start
	GrowthPerSec float64  `json:"growth_bytes_per_s"`
	LeakSuspect  bool     `json:"leak_suspect"`
	OOMKills     int      `json:"oom_kills"`
	Samples      []Sample `json:"samples"`
	// Workers are what a master's workers cost, in the last snapshot the
	// service was seen in while it lived; absent for other services.
	aggregate.Workers
	// Stacks are the service's top growth stacks by held bytes, from the
	// last snapshot it was seen in (see AttachStacks); only on the victim's,
	// the trigger's and the top growers' services.
	Stacks []aggregate.Stack `json:"stacks,omitempty"`
}

// Sample is a service at one moment.
type Sample struct {
	Time  time.Time `json:"t"`
	Procs int       `json:"procs"`
	RSS   uint64    `json:"rss"`
	PSS   uint64    `json:"pss"`
	Anon  uint64    `json:"anon"`
	File  uint64    `json:"file"`
	Shmem uint64    `json:"shmem"`
	Swap  uint64    `json:"swap"`
	Mmap  int64     `json:"mmap"`
	Brk   int64     `json:"brk"`
	// PSSCovered: every member's PSS was read; otherwise RSS stands in
	// for the PSS of those not read yet, and PSS is partial.
	PSSCovered bool `json:"pss_covered"`
}

// SystemSample is the machine at one moment.
type SystemSample struct {
	Time      time.Time `json:"t"`
	Used      uint64    `json:"used"`
	Available uint64    `json:"available"`
}

// Run summarises `oomtrace run -- CMD`.
type Run struct {
	Command  []string  `json:"command"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Dumps    []string  `json:"dumps"` // files written for OOM kills during the run
	// Budgets are the run's --budget results, in the order given.
	Budgets []Budget `json:"budgets,omitempty"`
	// Baseline compares the run (B) with --baseline's summary (A).
	Baseline *Comparison `json:"baseline,omitempty"`
}
