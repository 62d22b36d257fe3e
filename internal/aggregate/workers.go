package aggregate

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Workers is what a master's forked workers cost, so that "8 → 4 workers
// frees about 4 × the mean USS" reads off directly. It is set on a service
// whose processes include a master and its workers, and zero (absent from
// JSON) on any other.
//
// The rule: a process's family is its executable (/proc/PID/exe, " (deleted)"
// trimmed; its comm when the exe cannot be read). The master is the
// service's process with the most children of its own family in the
// service (on a tie the service key's root, else the lowest pid); its
// workers are those children, when there are at least two. A preforking
// server (gunicorn, uwsgi, celery's prefork pool, php-fpm, nginx, postgres)
// forks without exec, so its workers are of its family; a shell that starts
// a few programs is not their master, as a program of another family is no
// worker.
type Workers struct {
	Count int `json:"worker_count,omitempty"`
	// USSMean and USSMax are the workers' own memory (smaps_rollup's
	// Private_Clean + Private_Dirty): what one worker fewer frees.
	USSMean uint64 `json:"worker_uss_mean_bytes,omitempty"`
	USSMax  uint64 `json:"worker_uss_max_bytes,omitempty"`
	// Shared is the workers' summed PSS minus their summed USS: their
	// share of the pages they share (with the master and each other),
	// which fewer workers do not free.
	Shared uint64 `json:"shared_bytes,omitempty"`
	// Unread workers have no smaps_rollup reading yet: the figures above
	// stand on the others (all zero when none is read) and are partial.
	Unread int `json:"worker_pss_unread,omitempty"`
}

// Partial says why the worker figures are not facts yet, "" when they are.
func (w Workers) Partial() string {
	if w.Unread == 0 {
		return ""
	}
	if w.Unread == w.Count {
		return "not read yet"
	}
	return strconv.Itoa(w.Unread) + " of " + strconv.Itoa(w.Count) + " not read yet"
}

// member is what the worker figures need of one of a service's processes.
type member struct {
	pid, ppid int
	exe, comm string // the family: exe, or comm when exe is ""
	pss, uss  uint64
	read      bool // smaps_rollup was read: pss and uss are facts
	kids      int  // children of its family, counted by workerCost
}

// addMember notes a process summed into st this tick.
func (st *serviceState) addMember(p *procState, pss, uss uint64) {
	st.members = append(st.members, member{
		pid: p.info.PID, ppid: p.info.PPID, exe: strings.TrimSuffix(p.info.Exe, " (deleted)"), comm: p.info.Comm,
		pss: pss, uss: uss, read: !p.smapsAt.IsZero(),
	})
}

// workerCost finds the master and its workers among a service's members
// (sorting them by pid) and sums what the workers cost; root is the service
// key's root.
func workerCost(ms []member, root int) Workers {
	if len(ms) < 3 {
		return Workers{}
	}
	slices.SortFunc(ms, func(a, b member) int { return cmp.Compare(a.pid, b.pid) })
	parent := func(m member) (int, bool) {
		i, ok := slices.BinarySearchFunc(ms, m.ppid, func(q member, pid int) int { return cmp.Compare(q.pid, pid) })
		return i, ok && sameFamily(ms[i], m)
	}
	for _, m := range ms {
		if i, ok := parent(m); ok {
			ms[i].kids++
		}
	}
	master := 0
	for i, m := range ms {
		if m.kids > ms[master].kids || m.kids == ms[master].kids && m.pid == root {
			master = i
		}
	}
	if ms[master].kids < 2 {
		return Workers{}
	}
	var w Workers
	var uss, pss uint64
	for _, m := range ms {
		if i, ok := parent(m); !ok || i != master {
			continue
		}
		w.Count++
		if !m.read {
			w.Unread++
			continue
		}
		uss += m.uss
		pss += m.pss
		w.USSMax = max(w.USSMax, m.uss)
	}
	if n := w.Count - w.Unread; n > 0 {
		w.USSMean = uss / uint64(n)
		w.Shared = pss - min(uss, pss)
	}
	return w
}

func sameFamily(a, b member) bool {
	return a.exe == b.exe && (a.exe != "" || a.comm == b.comm)
}
