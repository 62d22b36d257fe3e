package aggregate

import (
	"strconv"

	"github.com/oomtrace/oomtrace/internal/service"
)

// maxInstances bounds the services one tree name splits into: each keeps
// 15 minutes of history, and a burst of same-named processes, each its own
// tree, must not make thousands. Trees past it share NAME#*.
const maxInstances = 64

// instance is one process tree of a name: two masters whose trees resolve
// to one name are two instances, told apart by the root's pid and start.
type instance struct {
	name  string
	root  int
	start uint64
}

// claim is the service name an instance got, held while any of its
// processes is in the table.
type claim struct {
	name  string // the tree's name, or NAME#2, NAME#3, ...
	procs int
}

// setKey gives p its service key. A tree's key is its instance's service
// name: the first live tree of a name has the name itself, each other one
// the lowest NAME#N no live tree holds, for as long as its tree lives.
func (a *Aggregator) setKey(p *procState, k service.Key) {
	old := p.inst
	p.inst = instance{}
	if k.Kind == service.KindTree {
		in := instance{name: k.Name, root: k.Root}
		if r, ok := a.table[k.Root]; ok {
			in.start = r.info.StartTicks
		}
		c := a.claims[in]
		if c == nil {
			c = a.claim(in)
		}
		c.procs++
		p.inst, k.Name = in, c.name
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
