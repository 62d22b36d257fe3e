package kmsg

// Report is the kernel's account of one OOM kill, assembled from several lines.
type Report struct {
	Usec       uint64 // timestamp of the "Killed process" line, microseconds since boot
	Trigger    string // comm of the task that "invoked oom-killer" ("" if not seen)
	TriggerPID int    // its pid, from the "CPU: N PID: P Comm: C" line after it (0 if not seen)
	GFPMask    string // e.g. "0xcc0(GFP_KERNEL)"
	Order      int
	Constraint string // CONSTRAINT_MEMCG, CONSTRAINT_NONE, CONSTRAINT_CPUSET, CONSTRAINT_MEMORY_POLICY
	OOMMemcg   string // oom_memcg= of the oom-kill: line ("" when absent, e.g. global OOM)
	TaskMemcg  string // task_memcg=
	PID        int    // victim tgid
	Comm       string // victim comm (may contain spaces or parentheses!)
	UID        int    // -1 when the kernel did not print it

	// Sizes from the "Killed process" line; 0 when not printed.
	TotalVMKB, AnonRSSKB, FileRSSKB, ShmemRSSKB, PgTablesKB uint64

	OOMScoreAdj int // victim's, from the "Killed process" line

	// Reason is what the "Killed process" line begins with: "Memory cgroup
	// out of memory" for a memcg OOM, "Out of memory" for a global one;
	// "" on kernels that print the line bare. The kernel prints this line
	// even when it rate-limits the rest of the report.
	Reason string
}
