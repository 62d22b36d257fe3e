package recorder

import (
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
)

// systemDomain is the time-to-OOM estimate's name of the whole system.
const systemDomain = "system"

// domainLocked is a domain's figures from start up to end: a memory
// cgroup's usage samples, or the system's watermarks; when oomtrace warned
// of it before the kill at kill (zero: a warning's own dump). A kill in
// the domain before that moment starts them over: the fill and the warning
// are this run-up's, not the last one's (which has its own dump).
func (r *Recorder) domainLocked(name string, start, end, kill time.Time) dump.Domain {
	dm := dump.Domain{Kill: kill.UTC()}
	at := kill
	if at.IsZero() {
		at = end
	}
	if p := r.lastKillLocked(name, at); !p.Before(start) {
		start = p.Add(time.Millisecond) // the history's samples are in ms
	}
	if name == systemDomain {
		if w, err := r.cfg.Watermarks(); err == nil {
			dm.MinWatermarkBytes, dm.LowWatermarkBytes = w.Min, w.Low
		}
	} else {
		dm.Memcg = name
		dm.Samples = r.hist.Memcg(name, start, end)
	}
	if w, ok := r.warned[name]; ok && !w.Before(start) && !w.After(end) && (kill.IsZero() || !w.After(kill)) {
		dm.Warned = w.UTC()
	}
	return dm
}

// lastKillLocked is the time of the last kill recorded in domain name
// before t; zero when none.
func (r *Recorder) lastKillLocked(name string, t time.Time) time.Time {
	var last time.Time
	for _, k := range r.kills {
		if k.Time.Before(t) && k.Time.After(last) && killDomain(k) == name {
			last = k.Time
		}
	}
	return last
}

// domainsLocked are the domains of kills, each once, in the order of their
// first kill: the memory cgroup whose limit was hit, or the system.
func (r *Recorder) domainsLocked(start, end time.Time, kills []dump.Kill) []dump.Domain {
	var out []dump.Domain
	seen := map[string]bool{}
	for _, k := range kills {
		name := killDomain(k)
		if seen[name] || len(out) == dump.MaxDomains {
			continue
		}
		seen[name] = true
		// Samples up to the dump's end: the chart shows the fall after the kill.
		out = append(out, r.domainLocked(name, start, end, k.Time))
	}
	return out
}

// killDomain names the memory a kill ran out of: the memcg the kernel
// named (oom_memcg), the victim's for a memcg OOM it did not name, else the
// system.
func killDomain(k dump.Kill) string {
	if k.OOMMemcg != "" && k.OOMMemcg != "/" {
		return k.OOMMemcg
	}
	if k.Constraint == "CONSTRAINT_MEMCG" && k.Victim.Cgroup != "" {
		return k.Victim.Cgroup
	}
	return systemDomain
}
