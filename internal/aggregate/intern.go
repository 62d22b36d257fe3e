package aggregate

import "github.com/oomtrace/oomtrace/internal/proc"

// internMax bounds the table of shared cgroup paths; past it the table
// starts again (old copies then only compare slower).
const internMax = 4096

// interned shares one copy of each cgroup path among processes: memory,
// and a service's memcg check per process per tick becomes a pointer
// compare instead of a byte compare.
func (a *Aggregator) interned(in proc.Info) proc.Info {
	if a.paths == nil || len(a.paths) > internMax {
		a.paths = make(map[string]string)
	}
	in.Cgroup = a.intern(in.Cgroup)
	in.Memcg = a.intern(in.Memcg)
	return in
}

func (a *Aggregator) intern(s string) string {
	if s == "" {
		return s
	}
	if c, ok := a.paths[s]; ok {
		return c
	}
	a.paths[s] = s
	return s
}
