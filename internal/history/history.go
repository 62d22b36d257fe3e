// Package history is the flight recorder's memory: a bounded ring of
// per-service samples (fine for the recent window, coarse further back) and
// two bounded rings of significant events: allocations with OOM kills, and
// process lifecycle (fork, exec, exit), so a churn of short-lived processes
// cannot push the window's large allocations out.
//
// Bounds: a service keeps Window/Fine + Long/Coarse samples of 48 bytes
// (600 + 720 by default), each tier at most MaxSamples; at most MaxServices
// services are kept: a new one takes the place of the longest-unseen
// service that has no processes, and with none to drop its figures go to
// the "(other services)" row, so a live service never loses its history; at
// most MaxEvents allocation and OOM events and MaxLifecycle lifecycle events;
// the usage of at most MaxMemcgs memory cgroups (fine samples), and the
// service of at most 2 × MaxPIDs recent processes (see memcg.go).
// Rings grow with use up to their bound, so a service seen for a few seconds
// (a build, a cron job) costs its few samples until it is dropped.
//
// With a Budget, MaxServices is derived from it (see Config.Bytes):
//
//	events   = (MaxEvents + MaxLifecycle) × 352
//	system   = fine × (40 + 40)
//	memcgs   = MaxMemcgs × (fine × (24 + 56) + 512)
//	pids     = 2 × MaxPIDs × 64
//	service  = fine × (48 + 96) + coarse × 48 + 4096
//	MaxServices = (Budget − events − system − memcgs − pids) / service
//
// where fine = Window/Fine and coarse = Long/Coarse. 352 bytes bound an
// event (tracer.Event 152, comm ≤ 16, exec filename ≤ 160, allocator
// rounding); 48 is a kept sample and 96 the dump.Sample a dump builds of each
// fine one (so the history and a dump built from it fit the budget together);
// 40 a system sample, twice for the same reason; 4096 a service's
// bookkeeping and its row in a dump; a memcg's 24-byte samples likewise
// with the 56 of a dump's; 64 bytes a pid map entry (a map's table runs
// half empty after it grows). With the recorder's 18 MiB and the
// defaults (fine 600, coarse 720): 7.3 MiB of events and the rest, 127 KiB
// a service, 86 services; at the widest window (fine 3600): 572 KiB a
// service, 16 services.
package history

import (
	"sort"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/tracer"
)

// Config bounds a History. Zero values get the defaults.
type Config struct {
	Fine         time.Duration // interval of recent samples (default 1s)
	Window       time.Duration // span of fine samples (default 10m)
	Coarse       time.Duration // interval of older samples (default 10s)
	Long         time.Duration // span of coarse samples (default 2h)
	MaxServices  int           // default: from Budget, else 1000
	MaxEvents    int           // allocations and OOM kills (default 10000)
	MaxLifecycle int           // fork, exec, exit (default 10000)
	MaxMemcgs    int           // memory cgroups whose usage is kept (default 6)
	Budget       int64         // bytes for history and a dump built of it (0: no budget)
}

// MaxSamples bounds each tier of a service's samples: an hour at 1 s, or the
// default 10 minutes at 1/6 s. More would make a dump too large to read (and
// to build on a machine short of memory) and leave room for few services.
const MaxSamples = 3600

// Bytes a part of the history costs at most; see the package comment.
const (
	eventBytes   = 352
	systemBytes  = 40 + 40
	pointBytes   = 48
	sampleBytes  = 104
	serviceBytes = 4096
)

// ServiceBytes is the most one service costs, with its share of a dump.
func (c Config) ServiceBytes() int64 {
	c.defaults()
	return c.serviceBytes()
}

func (c *Config) serviceBytes() int64 {
	fine, coarse := c.tiers()
	return int64(fine)*(pointBytes+sampleBytes) + int64(coarse)*pointBytes + serviceBytes
}

// Bytes is the most the history (and a dump built of it) costs.
func (c Config) Bytes() int64 {
	c.defaults()
	return c.fixedBytes() + int64(c.MaxServices)*c.serviceBytes()
}

// fixedBytes is what the history costs whatever its services: events,
// system samples, memcg samples and the pid map.
func (c *Config) fixedBytes() int64 {
	fine, _ := c.tiers()
	return int64(c.MaxEvents+c.MaxLifecycle)*eventBytes + int64(fine)*systemBytes +
		int64(c.MaxMemcgs)*(int64(fine)*(memcgPointBytes+memcgSampleBytes)+memcgBytes) + 2*MaxPIDs*pidBytes
}

// tiers are the sample counts of the fine and coarse rings.
func (c *Config) tiers() (fine, coarse int) {
	return min(int(c.Window/c.Fine), MaxSamples), min(int(c.Long/c.Coarse), MaxSamples)
}

func (c *Config) defaults() {
	if c.Fine <= 0 {
		c.Fine = time.Second
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Minute
	}
	if c.Coarse <= 0 {
		c.Coarse = 10 * time.Second
	}
	if c.Long <= 0 {
		c.Long = 2 * time.Hour
	}
	c.Coarse = max(c.Coarse, c.Fine) // coarse samples no denser than fine ones
	if c.MaxEvents <= 0 {
		c.MaxEvents = 10000
	}
	if c.MaxLifecycle <= 0 {
		c.MaxLifecycle = 10000
	}
	if c.MaxMemcgs <= 0 {
		c.MaxMemcgs = 6
	}
	if c.MaxServices <= 0 && c.Budget > 0 {
		left := c.Budget - c.fixedBytes()
		c.MaxServices = int(max(left/c.serviceBytes(), 1))
	}
	if c.MaxServices <= 0 {
		c.MaxServices = 1000
	}
}

// point is a compact sample: sizes in KiB.
type point struct {
	t                                 int64 // unix ms
	procs                             int32
	rss, pss, anon, file, shmem, swap uint32
	mmap, brk                         int32
	pssCovered                        bool // no member's RSS stands in for its PSS
}

const kib = 1024

func toPoint(t time.Time, s *aggregate.Service) point {
	return point{t: t.UnixMilli(), procs: int32(s.Procs), rss: uint32(s.RSS / kib), pss: uint32(s.PSS / kib),
		anon: uint32(s.Anon / kib), file: uint32(s.File / kib), shmem: uint32(s.Shmem / kib), swap: uint32(s.Swap / kib),
		mmap: int32(s.Mmap / kib), brk: int32(s.Brk / kib), pssCovered: s.PSSAgeS >= 0}
}

func (p point) sample() dump.Sample {
	return dump.Sample{Time: time.UnixMilli(p.t).UTC(), Procs: int(p.procs), RSS: uint64(p.rss) * kib, PSS: uint64(p.pss) * kib,
		Anon: uint64(p.anon) * kib, File: uint64(p.file) * kib, Shmem: uint64(p.shmem) * kib, Swap: uint64(p.swap) * kib,
		Mmap: int64(p.mmap) * kib, Brk: int64(p.brk) * kib, PSSCovered: p.pssCovered}
}

type svc struct {
	kind       string
	fine       *ring[point]
	coarse     *ring[point]
	lastCoarse int64
	lastSeen   time.Time
	latest     aggregate.Service // figures of the newest snapshot (no processes)
}

// History keeps samples and events. Not safe for concurrent use.
type History struct {
	cfg      Config
	services map[string]*svc
	system   *ring[dump.SystemSample]
	events   *ring[tracer.Event] // allocations and OOM kills
	life     *ring[tracer.Event] // fork, exec, exit
	last     aggregate.Snapshot
	memcgs   map[string]*memcgHist
	// pids maps processes to services, a generation at a time (memcg.go).
	pids, oldPIDs map[int]string
	pidsAt        time.Time
}

// New makes an empty history.
func New(cfg Config) *History {
	cfg.defaults()
	fine, _ := cfg.tiers()
	return &History{
		cfg:      cfg,
		services: map[string]*svc{},
		memcgs:   map[string]*memcgHist{},
		system:   newRing[dump.SystemSample](fine),
		events:   newRing[tracer.Event](cfg.MaxEvents),
		life:     newRing[tracer.Event](cfg.MaxLifecycle),
	}
}

// Config is the history's configuration with its defaults filled in.
func (h *History) Config() Config { return h.cfg }

// Last is the newest snapshot added.
func (h *History) Last() aggregate.Snapshot { return h.last }

// Add records a snapshot.
func (h *History) Add(snap aggregate.Snapshot) {
	h.last = snap
	h.last.Services = nil
	h.addMemcgs(snap.Time, snap.System.Memcgs)
	h.addPIDs(snap.Time, snap.Services)
	h.system.push(dump.SystemSample{Time: snap.Time.UTC(), Used: snap.System.UsedBytes, Available: snap.System.AvailableBytes})
	// Known services first, so every live one is marked seen before a new
	// one looks for a dead one to replace.
	var other aggregate.Service
	var fresh []*aggregate.Service
	for i := range snap.Services {
		s := &snap.Services[i]
		if st, ok := h.services[s.Name]; ok {
			st.add(h.cfg, snap.Time, s)
		} else {
			fresh = append(fresh, s)
		}
	}
	for _, s := range fresh {
		if len(h.services) >= h.cfg.MaxServices && !h.dropDead(snap.Time) {
			sum(&other, s)
			continue
		}
		h.newSvc(s.Name).add(h.cfg, snap.Time, s)
	}
	if other.Procs > 0 || h.services[OtherServices] != nil {
		other.Name, other.Kind = OtherServices, "other"
		st := h.services[OtherServices]
		if st == nil {
			st = h.newSvc(OtherServices)
		}
		st.add(h.cfg, snap.Time, &other)
	}
	for name, st := range h.services {
		if snap.Time.Sub(st.lastSeen) > h.cfg.Window+h.cfg.Long {
			delete(h.services, name)
		}
	}
}

// OtherServices is the row of the services beyond MaxServices.
const OtherServices = "(other services)"

func (h *History) newSvc(name string) *svc {
	fine, coarse := h.cfg.tiers()
	st := &svc{fine: newRing[point](fine), coarse: newRing[point](coarse)}
	h.services[name] = st
	return st
}

func (st *svc) add(cfg Config, t time.Time, s *aggregate.Service) {
	p := toPoint(t, s)
	st.kind = s.Kind
	st.fine.push(p)
	if p.t-st.lastCoarse >= cfg.Coarse.Milliseconds() {
		st.coarse.push(p)
		st.lastCoarse = p.t
	}
	if s.Procs > 0 {
		st.lastSeen = t
	}
	leak, growth, stacks, workers := st.latest.LeakSuspect, st.latest.Growth, st.latest.Stacks, st.latest.Workers
	st.latest = *s
	st.latest.Processes = nil
	if s.Procs == 0 && st.lastSeen.Before(t) {
		// Gone: keep the figures it had while it lived, not the fall to zero.
		st.latest.LeakSuspect, st.latest.Growth, st.latest.Workers = leak, growth, workers
		if len(s.Stacks) == 0 {
			st.latest.Stacks = stacks
		}
	}
}

// dropDead removes the longest-unseen service with no processes now.
func (h *History) dropDead(now time.Time) bool {
	var name string
	var oldest time.Time
	for n, st := range h.services {
		if n != OtherServices && st.lastSeen.Before(now) && (name == "" || st.lastSeen.Before(oldest)) {
			name, oldest = n, st.lastSeen
		}
	}
	if name == "" {
		return false
	}
	delete(h.services, name)
	return true
}

func sum(acc, s *aggregate.Service) {
	acc.Procs += s.Procs
	acc.RSS += s.RSS
	acc.PSS += s.PSS
	acc.Anon += s.Anon
	acc.File += s.File
	acc.Shmem += s.Shmem
	acc.Swap += s.Swap
	acc.Mmap += s.Mmap
	acc.Brk += s.Brk
	if s.PSSAgeS < 0 { // one stand-in makes the sum partial
		acc.PSSAgeS = -1
	}
}

// AddEvent records a significant event.
func (h *History) AddEvent(ev *tracer.Event) {
	e := *ev
	// A sampled call's stack copy (up to 32 KiB) is the aggregator's to
	// resolve; a dump does not show it, and kept here it would pass the
	// 352 bytes an event is budgeted.
	e.Sample = nil
	if ev.OOM != nil {
		k := *ev.OOM
		e.OOM = &k
	}
	if ev.Type.IsLifecycle() {
		h.life.push(e)
	} else {
		h.events.push(e)
	}
}

// Services returns each service's samples in [start, end], most grown first;
// growth is measured up to `at` (the kill), so a victim whose memory vanished
// with it still shows what it grew.
func (h *History) Services(start, end, at time.Time) []dump.Service {
	var out []dump.Service
	for name, st := range h.services {
		var pts []point
		// Coarse points before the fine ring's start, then the fine ones.
		fineStart := int64(1 << 62)
		if st.fine.len() > 0 {
			fineStart = st.fine.at(0).t
		}
		st.coarse.each(func(p point) {
			if p.t < fineStart && p.t >= start.UnixMilli() && p.t <= end.UnixMilli() {
				pts = append(pts, p)
			}
		})
		st.fine.each(func(p point) {
			if p.t >= start.UnixMilli() && p.t <= end.UnixMilli() {
				pts = append(pts, p)
			}
		})
		if len(pts) == 0 {
			continue
		}
		s := dump.Service{Name: name, Kind: st.kind, Procs: int(pts[len(pts)-1].procs), LeakSuspect: st.latest.LeakSuspect,
			OOMKills: st.latest.OOMKills, GrowthPerSec: st.latest.Growth, Samples: make([]dump.Sample, len(pts)), Workers: st.latest.Workers}
		var startRSS, endRSS, peak uint64
		first, live := true, false
		for i, p := range pts {
			s.Samples[i] = p.sample()
			rss := s.Samples[i].RSS
			if p.t > at.UnixMilli() {
				continue
			}
			if first {
				startRSS, first = rss, false
			}
			// A service whose processes have all gone ends at its last
			// live sample: what it grew, not the zero it left.
			if p.procs > 0 || !live {
				endRSS, live = rss, live || p.procs > 0
			}
			peak = max(peak, rss)
		}
		s.StartBytes, s.EndBytes, s.PeakBytes = startRSS, endRSS, peak
		s.GrowthBytes = int64(endRSS) - int64(startRSS)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GrowthBytes != out[j].GrowthBytes {
			return out[i].GrowthBytes > out[j].GrowthBytes
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Stacks returns the growth stacks of a service in the newest snapshot that
// had it (the last ones it had while it lived, once it is gone), nil for
// none. They are the snapshot's, not a copy: the caller must not modify them.
func (h *History) Stacks(name string) []aggregate.Stack {
	if st := h.services[name]; st != nil {
		return st.latest.Stacks
	}
	return nil
}

// System returns system samples in [start, end].
func (h *History) System(start, end time.Time) []dump.SystemSample {
	var out []dump.SystemSample
	h.system.each(func(s dump.SystemSample) {
		if !s.Time.Before(start) && !s.Time.After(end) {
			out = append(out, s)
		}
	})
	return out
}

// Events returns the events in [start, end], oldest first.
func (h *History) Events(start, end time.Time) []tracer.Event {
	var out []tracer.Event
	in := func(e tracer.Event) {
		if !e.Time.Before(start) && !e.Time.After(end) {
			out = append(out, e)
		}
	}
	h.events.each(in)
	h.life.each(in)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
