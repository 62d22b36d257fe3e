package aggregate

import (
	"time"

	"github.com/oomtrace/oomtrace/internal/service"
)

// goneFor is how long a dropped process's service and command line are
// kept for an OOM event that arrives late.
const goneFor = 10 * time.Second

// goneProc is what is kept of a process dropped from the table.
type goneProc struct {
	key     service.Key
	cmdline string
	at      time.Time // the tick that dropped it
}

// drop removes a process from the table, remembering its service.
func (a *Aggregator) drop(pid int, p *procState) {
	delete(a.table, pid)
	p.dropped = true
	a.release(p.inst)
	p.inst = instance{}
	if p.key.Name != "" {
		a.gone[pid] = goneProc{key: p.key, cmdline: p.cmdline, at: a.now}
	}
}

// expireGone forgets processes dropped more than goneFor ago.
func (a *Aggregator) expireGone(now time.Time) {
	for pid, g := range a.gone {
		if now.Sub(g.at) > goneFor {
			delete(a.gone, pid)
		}
	}
}
