package service

// Resolver computes service keys. It holds no state besides its rules and
// launcher pids, so it is safe for concurrent use; callers should cache
// keys per pid.
type Resolver struct {
	rules     []Rule
	launchers []int
}

// NewResolver returns a resolver applying rules in order. The processes
// launchers (pids) start are services of their own, as a shell's are:
// oomtrace passes its own pid, so that run's command is not part of it.
func NewResolver(rules []Rule, launchers ...int) *Resolver {
	return &Resolver{rules: append([]Rule(nil), rules...), launchers: append([]int(nil), launchers...)}
}

// Resolve computes p's key, in this order: kernel threads; the first rule
// matching p, else its master, else the master's master...; the unit in
// p's cgroup; the container in it; the process tree. lookup returns other
// processes (parents); a missing pid stops the climb. lookup may be nil.
func (r *Resolver) Resolve(p Proc, lookup func(pid int) (Proc, bool)) Key {
	if p.Kernel || p.PID == 0 || p.PID == 2 {
		return Key{Name: "kernel", Kind: KindKernel, Root: p.PID}
	}
	chain, broken := climb(p, lookup, r.launchers)
	for _, q := range chain {
		for _, rule := range r.rules {
			if rule.Match(q) {
				return Key{Name: rule.Name, Kind: KindRule, Root: q.PID}
			}
		}
	}
	if u, ok := UnitFromCgroup(p.Cgroup); ok {
		return Key{Name: u, Kind: KindUnit, Root: p.PID}
	}
	if c, ok := ContainerFromCgroup(p.Cgroup); ok {
		return Key{Name: c, Kind: KindContainer, Root: p.PID}
	}
	if broken {
		return Key{Name: procName(p), Kind: KindComm, Root: p.PID}
	}
	root := chain[len(chain)-1]
	return Key{Name: procName(root), Kind: KindTree, Root: root.PID}
}
