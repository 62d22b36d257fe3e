package kmsg

import (
	"strconv"
	"strings"
)

// Parsers for the single lines of an OOM report. Formats differ between
// kernels; each parser takes what is there and leaves the rest zero.

// parseInvoked reads "COMM invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL),
// [nodemask=(null), ]order=0, oom_score_adj=0".
func parseInvoked(msg string) (comm, gfp string, order int, ok bool) {
	comm, args, ok := strings.Cut(msg, " invoked oom-killer: ")
	if !ok {
		return "", "", 0, false
	}
	for _, kv := range splitTop(args) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "gfp_mask":
			gfp = v
		case "order":
			order, _ = strconv.Atoi(v)
		}
	}
	return comm, gfp, order, true
}

// parseCPU reads the dump_stack header the kernel prints after "invoked
// oom-killer": "CPU: 1 [UID: 0 ]PID: 5403 Comm: workload Not tainted ...".
// The comm may hold spaces, so it is returned as far as it can be known: up
// to " Not tainted", " Tainted:" or " Kdump:", else the rest of the line.
func parseCPU(msg string) (pid int, comm string, ok bool) {
	rest, ok := strings.CutPrefix(msg, "CPU: ")
	if !ok {
		return 0, "", false
	}
	_, rest, ok = strings.Cut(rest, " PID: ")
	if !ok {
		return 0, "", false
	}
	n := leadingDigits(rest)
	pid, err := strconv.Atoi(rest[:n])
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	comm, ok = strings.CutPrefix(rest[n:], " Comm: ")
	if !ok {
		return 0, "", false
	}
	for _, end := range []string{" Kdump:", " Not tainted", " Tainted:"} {
		if i := strings.Index(comm, end); i >= 0 {
			comm = comm[:i]
		}
	}
	return pid, comm, true
}

// splitTop splits s at commas outside parentheses and trims each part.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// oomKill is the 4.19+ summary line "oom-kill:constraint=...,nodemask=...,
// cpuset=...,mems_allowed=...,{oom_memcg=...|global_oom},task_memcg=...,
// task=...,pid=N,uid=N". Paths may hold commas, so it is cut from the right.
type oomKill struct {
	constraint, oomMemcg, taskMemcg string
	pid, uid                        int
}

func parseOOMKill(msg string) (o oomKill, ok bool) {
	rest, ok := strings.CutPrefix(msg, "oom-kill:")
	if !ok {
		return o, false
	}
	rest = strings.TrimSpace(rest)
	o.uid = -1
	if i := strings.LastIndex(rest, ",uid="); i >= 0 {
		o.uid = parseUID(rest[i+len(",uid="):])
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ",pid="); i >= 0 {
		o.pid, _ = strconv.Atoi(rest[i+len(",pid="):])
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ",task="); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ",task_memcg="); i >= 0 {
		o.taskMemcg = rest[i+len(",task_memcg="):]
		rest = rest[:i]
	}
	if i := strings.Index(rest, ",oom_memcg="); i >= 0 {
		o.oomMemcg = rest[i+len(",oom_memcg="):]
		rest = rest[:i]
	}
	if v, ok := strings.CutPrefix(rest, "constraint="); ok {
		o.constraint, _, _ = strings.Cut(v, ",")
	}
	return o, true
}

// parseTaskIn reads the pre-4.19 memcg line "Task in A killed as a result
// of limit of B".
func parseTaskIn(msg string) (task, limit string, ok bool) {
	rest, ok := strings.CutPrefix(msg, "Task in ")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, " killed as a result of limit of ")
}

// isGroupKill matches "Tasks in X are going to be killed due to
// memory.oom.group set", after which the rest of the cgroup is killed.
func isGroupKill(msg string) bool {
	return strings.HasPrefix(msg, "Tasks in ") &&
		strings.Contains(msg, " are going to be killed due to memory.oom.group")
}

// victim is what a "Killed process" line says.
type victim struct {
	pid                                 int
	comm                                string
	uid                                 int
	totalVM, anonRSS, fileRSS, shmemRSS uint64
	pgTables                            uint64
	adj                                 int
	reason                              string // the PREFIX
}

const killedTag = "Killed process "

// parseKilled reads the kill line in its forms:
//
//	[PREFIX: ]Killed process N (COMM) total-vm:..kB, anon-rss:..kB, file-rss:..kB[, shmem-rss:..kB][, UID:N pgtables:..kB oom_score_adj:N]
//	Killed process N (COMM), UID N, total-vm:..kB, ...   (RHEL 7)
//	Killed process N, UID N, (COMM) total-vm:..kB, ...   (RHEL 6)
//
// "Kill process N (COMM) score S or sacrifice child" does not match: it only
// names the candidate.
func parseKilled(msg string) (v victim, ok bool) {
	i := strings.Index(msg, killedTag)
	if i < 0 || (i > 0 && !strings.HasSuffix(msg[:i], ": ")) {
		return v, false
	}
	rest := msg[i+len(killedTag):]
	n := leadingDigits(rest)
	pid, err := strconv.Atoi(rest[:n])
	if err != nil || pid <= 0 {
		return v, false
	}
	v.pid, v.uid, v.reason, rest = pid, -1, strings.TrimSuffix(msg[:i], ": "), rest[n:]
	if r, ok := strings.CutPrefix(rest, ", UID "); ok {
		n = leadingDigits(r)
		v.uid = parseUID(r[:n])
		rest = strings.TrimPrefix(r[n:], ",")
	}
	rest, ok = strings.CutPrefix(rest, " (")
	if !ok {
		return v, false
	}
	// The comm may hold ")", so find its end from the right.
	end := strings.LastIndex(rest, ") total-vm:")
	if end < 0 {
		end = strings.LastIndex(rest, "), UID ")
	}
	if end < 0 {
		end = strings.LastIndex(rest, ")")
	}
	if end < 0 {
		return v, false
	}
	v.comm = rest[:end]
	fields := strings.Fields(strings.ReplaceAll(rest[end+1:], ",", " "))
	for j, f := range fields {
		k, val, _ := strings.Cut(f, ":")
		switch k {
		case "total-vm":
			v.totalVM = kb(val)
		case "anon-rss":
			v.anonRSS = kb(val)
		case "file-rss":
			v.fileRSS = kb(val)
		case "shmem-rss":
			v.shmemRSS = kb(val)
		case "pgtables":
			v.pgTables = kb(val)
		case "oom_score_adj":
			v.adj, _ = strconv.Atoi(val)
		case "UID":
			if val == "" && j+1 < len(fields) { // RHEL 7 "UID 0"
				val = fields[j+1]
			}
			v.uid = parseUID(val)
		}
	}
	return v, true
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// parseUID returns -1 for anything but a non-negative number.
func parseUID(s string) int {
	u, err := strconv.Atoi(s)
	if err != nil || u < 0 {
		return -1
	}
	return u
}

func kb(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimSuffix(s, "kB"), 10, 64)
	return v
}
