package metrics

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/tracer"
)

// view is what one Update exports: the snapshot's figures with label values
// made safe, copied so the caller's snapshot can be reused.
type view struct {
	time      time.Time
	sys       aggregate.System // slices, maps and pointers cleared; see below
	psi       *aggregate.PSI
	ttoom     *aggregate.TimeToOOM // labels sanitized
	services  []service
	memcgs    []memcg
	hooks     [][2]string // hook, mechanism
	events    []eventCounts
	undecoded *uint64 // nil when stats were not given
	stacks    *aggregate.StackStats
}

type service struct {
	name, kind                    string
	procs                         int
	rss, pss, uss                 uint64
	anon, file, shmem, swap       uint64
	pssAge                        float64 // negative: PSS not read yet
	mmap, brk, mremap             int64
	mprotect                      uint64
	callsPerSec                   float64
	growth1m, growth5m, growth15m float64
	leak                          bool
	oomKills                      int
	ttoom                         *float64
}

type memcg struct {
	path                   string
	usage, limit, oomKills uint64
	ttoom                  *float64
}

// eventCounts are the tracer's counters of one event type; nil when the
// tracer did not report that counter.
type eventCounts struct {
	typ                     tracer.EventType
	received, ring, mapLost *uint64
}

func newView(snap aggregate.Snapshot, stats tracer.Stats) *view {
	v := &view{time: snap.Time, sys: snap.System}
	v.sys.Lost, v.sys.Memcgs, v.sys.Hooks, v.sys.PSI, v.sys.TimeToOOM, v.sys.Stacks = nil, nil, nil, nil, nil, nil
	if s := snap.System.Stacks; s != nil {
		c := *s
		v.stacks = &c
	}
	if p := snap.System.PSI; p != nil {
		c := *p
		v.psi = &c
	}
	if t := snap.System.TimeToOOM; t != nil {
		c := *t
		c.Domain, c.Service = labelValue(c.Domain), labelValue(c.Service)
		v.ttoom = &c
	}

	byName := map[string]int{}
	for i := range snap.Services {
		s := toService(&snap.Services[i])
		if j, dup := byName[s.name]; dup {
			// Distinct names can sanitize to the same label value; one
			// series each is all the exposition allows.
			v.services[j].merge(&s)
			continue
		}
		byName[s.name] = len(v.services)
		v.services = append(v.services, s)
	}
	v.services = capServices(v.services, MaxServiceSeries)

	seen := map[string]bool{}
	for _, d := range snap.System.Memcgs {
		m := memcg{path: labelValue(d.Path), usage: d.UsageBytes, limit: d.LimitBytes, oomKills: d.OOMKills}
		if seen[m.path] {
			continue
		}
		seen[m.path] = true
		if d.TimeToOOM != nil {
			s := d.TimeToOOM.Seconds
			m.ttoom = &s
		}
		v.memcgs = append(v.memcgs, m)
	}

	hooks := map[string]string{}
	for h, mech := range snap.System.Hooks {
		hooks[labelValue(h)] = labelValue(mech)
	}
	for _, h := range slices.Sorted(maps.Keys(hooks)) {
		v.hooks = append(v.hooks, [2]string{h, hooks[h]})
	}

	v.events = eventsOf(stats)
	if stats.Received != nil {
		u := stats.Undecoded
		v.undecoded = &u
	}
	return v
}

func toService(s *aggregate.Service) service {
	out := service{
		name: labelValue(s.Name), kind: labelValue(s.Kind), procs: s.Procs,
		rss: s.RSS, pss: s.PSS, uss: s.USS, anon: s.Anon, file: s.File, shmem: s.Shmem, swap: s.Swap,
		pssAge: s.PSSAgeS, mmap: s.Mmap, brk: s.Brk, mremap: s.Mremap, mprotect: s.Mprotect,
		callsPerSec: s.CallsPerSec, growth1m: s.Growth1m, growth5m: s.Growth5m, growth15m: s.Growth15m,
		leak: s.LeakSuspect, oomKills: s.OOMKills,
	}
	if s.TimeToOOMS != nil {
		t := *s.TimeToOOMS
		out.ttoom = &t
	}
	return out
}

// merge folds o into s: sizes and rates add up, the oldest PSS age and the
// soonest time to OOM win.
// MaxServiceSeries bounds the services exported, so that a machine that
// spawns many short-lived names cannot blow up the scrape.
const MaxServiceSeries = 500

// otherServices is the row the services beyond the bound are summed into.
const otherServices = "(other services)"

// capServices keeps the max-1 services with OOM kills first, then the
// largest by RSS, and sums the rest into one "(other services)" row.
func capServices(svcs []service, max int) []service {
	if len(svcs) <= max {
		return svcs
	}
	slices.SortStableFunc(svcs, func(a, b service) int {
		if c := cmp.Compare(b.oomKills, a.oomKills); c != 0 {
			return c
		}
		return cmp.Compare(b.rss, a.rss)
	})
	rest := service{name: otherServices, kind: "other"}
	kept := svcs[:0]
	for i := range svcs {
		if len(kept) < max-1 && svcs[i].name != otherServices {
			kept = append(kept, svcs[i]) // never overtakes i
			continue
		}
		rest.merge(&svcs[i])
	}
	return append(kept, rest)
}

func (s *service) merge(o *service) {
	s.procs += o.procs
	s.rss += o.rss
	s.pss += o.pss
	s.uss += o.uss
	s.anon += o.anon
	s.file += o.file
	s.shmem += o.shmem
	s.swap += o.swap
	if s.pssAge >= 0 && (o.pssAge < 0 || o.pssAge > s.pssAge) {
		s.pssAge = o.pssAge
	}
	s.mmap += o.mmap
	s.brk += o.brk
	s.mremap += o.mremap
	s.mprotect += o.mprotect
	s.callsPerSec += o.callsPerSec
	s.growth1m += o.growth1m
	s.growth5m += o.growth5m
	s.growth15m += o.growth15m
	s.leak = s.leak || o.leak
	s.oomKills += o.oomKills
	if o.ttoom != nil && (s.ttoom == nil || *o.ttoom < *s.ttoom) {
		s.ttoom = o.ttoom
	}
}

// eventsOf lists the counters the tracer reported, by event type.
func eventsOf(st tracer.Stats) []eventCounts {
	byType := map[tracer.EventType]*eventCounts{}
	get := func(t tracer.EventType) *eventCounts {
		if e, ok := byType[t]; ok {
			return e
		}
		e := &eventCounts{typ: t}
		byType[t] = e
		return e
	}
	for t, n := range st.Received {
		get(t).received = &n
	}
	for t, n := range st.LostRing {
		get(t).ring = &n
	}
	for t, n := range st.LostMap {
		get(t).mapLost = &n
	}
	out := make([]eventCounts, 0, len(byType))
	for _, e := range byType {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b eventCounts) int { return cmp.Compare(a.typ, b.typ) })
	return out
}

// labelValue makes an untrusted string (a process name, a cgroup path) a
// label value every parser accepts: valid UTF-8, and no control characters
// but the tab and the newline, which the exposition escapes.
func labelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
}
