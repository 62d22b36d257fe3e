package aggregate

import (
	"strconv"

	"github.com/oomtrace/oomtrace/internal/service"
)

// maxInstances bounds the services one name splits into, each keeping 15
// minutes of history. Masters past it share NAME#*.
const maxInstances = 64

// instance is one master's tree: two masters whose trees resolve to one
// name are two instances, told apart by the master's pid and start.
type instance struct {
	name  string
	root  int
	start uint64
}

// claim is the service name a master's tree got, held while any of its
// processes is in the table.
type claim struct {
	name  string // the tree's name, or NAME#2, NAME#3, ...
	procs int
}

// setKey gives p its service key. The tree of a master (a process with
// workers) has a name of its own: the first live one the name itself, each
// other one the lowest NAME#N no live master holds, for as long as its tree
// lives. A process alone in its tree (a shell, a sleep) has the plain name:
// lone processes of one name stay one service (split, a busy host's shells
// and build tools would be dozens of services).
func (a *Aggregator) setKey(p *procState, k service.Key) {
	old := p.inst
	p.inst = instance{}
	if k.Kind == service.KindTree {
		in := instance{name: k.Name, root: k.Root, start: a.startOf(k.Root)}
		r := a.table[k.Root]
		c := a.claims[in]
		if c == nil && k.Root != p.info.PID { // a worker: its master is one
			c = a.claim(in)
			if r != nil && r != p && r.key.Kind == service.KindTree && r.key.Root == k.Root && r.inst == (instance{}) {
				r.inst, r.key.Name = in, c.name // the master, seen alone so far
				c.procs++
			}
		}
		if c != nil {
			c.procs++
			p.inst, k.Name = in, c.name
		}
	}
	p.key = k
	a.release(old) // after the new claim: an exec'd master keeps its name
}

func (a *Aggregator) claim(in instance) *claim {
	c := &claim{name: in.name + "#*"}
	for n := 1; n <= maxInstances; n++ {
		name := in.name
		if n > 1 {
			name += "#" + strconv.Itoa(n)
		}
		if _, held := a.holders[name]; !held {
			c.name = name
			a.holders[name] = in
			break
		}
	}
	a.claims[in] = c
	return c
}

// release drops a process's hold on its instance's name; the last one frees it.
func (a *Aggregator) release(in instance) {
	c := a.claims[in]
	if c == nil {
		return
	}
	if c.procs--; c.procs > 0 {
		return
	}
	delete(a.claims, in)
	if a.holders[c.name] == in {
		delete(a.holders, c.name)
	}
}
