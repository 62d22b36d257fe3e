package kmsg

import "strings"

// groupWindow bounds how long after a "memory.oom.group" line further kills
// are taken as part of that group kill (the kernel kills them in one loop).
const groupWindow = 2_000_000 // usec

// Parser assembles Reports from records fed in order. Feed returns a report when a
// "Killed process" line completes one. It copes with interleaved unrelated
// lines, missing parts (older kernels lack the oom-kill: line, UID, pgtables, shmem-rss),
// and several kills in a row (each "invoked oom-killer" starts a new report; a
// "Killed process" line with no preceding context still yields a report).
//
// Records not from the kernel (non-zero facility: user space writing to
// /dev/kmsg) are ignored, and a jump in sequence numbers (lost records)
// drops the context gathered so far. The zero Parser is ready to use.
type Parser struct {
	seq  uint64
	seen bool
	st   state
}

// state is what the lines before a kill said.
type state struct {
	ctx       Report // context fields only
	oomPID    int    // pid= of the oom-kill: line
	oomUID    int    // uid= of the oom-kill: line, -1 if absent
	oomLine   bool   // an oom-kill: line was seen
	last      Report // the last report, for a memory.oom.group follow-up
	group     bool   // killing the rest of a memory.oom.group cgroup
	groupUsec uint64 // when the group kill was announced
}

// Reset forgets all context, as after lost records.
func (p *Parser) Reset() { *p = Parser{} }

// Feed takes the next record and returns a report when it completes one.
func (p *Parser) Feed(r Record) (Report, bool) {
	if p.seen && r.Seq > p.seq+1 {
		p.st = state{} // records were lost in between
	}
	p.seen, p.seq = true, r.Seq
	if !r.kernel() {
		return Report{}, false
	}
	msg := r.Message
	if comm, gfp, order, ok := parseInvoked(msg); ok {
		p.st = state{ctx: Report{Trigger: comm, GFPMask: gfp, Order: order}}
		return Report{}, false
	}
	if p.st.ctx.Trigger != "" && p.st.ctx.TriggerPID == 0 {
		if pid, comm, ok := parseCPU(msg); ok && comm == p.st.ctx.Trigger {
			p.st.ctx.TriggerPID = pid
			return Report{}, false
		}
	}
	if o, ok := parseOOMKill(msg); ok {
		if p.st.oomLine || p.st.group { // a second summary: a new kill
			p.st = state{}
		}
		p.st.ctx.Constraint, p.st.ctx.OOMMemcg, p.st.ctx.TaskMemcg = o.constraint, o.oomMemcg, o.taskMemcg
		p.st.oomPID, p.st.oomUID, p.st.oomLine = o.pid, o.uid, true
		return Report{}, false
	}
	if task, limit, ok := parseTaskIn(msg); ok {
		p.st.ctx.TaskMemcg, p.st.ctx.OOMMemcg = task, limit
		return Report{}, false
	}
	if isGroupKill(msg) {
		if p.st.last.PID > 0 && !p.st.group {
			p.st.group, p.st.groupUsec = true, r.Usec
			p.st.ctx = p.st.last
			p.st.ctx.TaskMemcg = "" // members may sit in other cgroups
			p.st.oomLine = false
		}
		return Report{}, false
	}
	if strings.HasPrefix(msg, "Out of memory and no killable processes") {
		p.st = state{}
		return Report{}, false
	}
	v, ok := parseKilled(msg)
	if !ok {
		return Report{}, false
	}
	if p.st.group {
		if r.Usec > p.st.groupUsec+groupWindow {
			p.st = state{}
		} else if v.pid == p.st.last.PID {
			return Report{}, false // the first victim is killed again: not news
		}
	}
	rep := p.st.ctx
	rep.Usec, rep.PID, rep.Comm, rep.UID = r.Usec, v.pid, v.comm, v.uid
	rep.TotalVMKB, rep.AnonRSSKB, rep.FileRSSKB = v.totalVM, v.anonRSS, v.fileRSS
	rep.ShmemRSSKB, rep.PgTablesKB, rep.OOMScoreAdj, rep.Reason = v.shmemRSS, v.pgTables, v.adj, v.reason
	if rep.UID < 0 && p.st.oomLine && p.st.oomPID == v.pid {
		rep.UID = p.st.oomUID
	}
	if p.st.group {
		return rep, true
	}
	p.st = state{last: shared(rep)}
	return rep, true
}

// shared keeps only the fields a report shares with later group kills.
func shared(r Report) Report {
	return Report{PID: r.PID, Trigger: r.Trigger, TriggerPID: r.TriggerPID, GFPMask: r.GFPMask, Order: r.Order,
		Constraint: r.Constraint, OOMMemcg: r.OOMMemcg, TaskMemcg: r.TaskMemcg}
}
