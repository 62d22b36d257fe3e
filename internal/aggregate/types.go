package aggregate

import (
	"strconv"
	"time"
)

// Snapshot is one interval's view: the shape of `top --json` lines, of each
// sample in a dump, and the source of the metrics.
type Snapshot struct {
	Time     time.Time `json:"time"`
	System   System    `json:"system"`
	Services []Service `json:"services"`
}

// System is the machine at the time of a snapshot.
type System struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
	UsedBytes      uint64 `json:"used_bytes"`
	SwapTotalBytes uint64 `json:"swap_total_bytes"`
	SwapFreeBytes  uint64 `json:"swap_free_bytes"`
	PSI            *PSI   `json:"psi,omitempty"`
	// UnexplainedBytes is used memory that no service's PSS accounts for
	// (kernel, page cache, slab); negative when PSS is staler than RSS.
	UnexplainedBytes int64 `json:"unexplained_bytes"`
	// UnexplainedCovered says the figure is a fact: not negative, and the
	// RSS standing in for PSS not read yet (PSSUnreadBytes, of
	// PSSUnreadProcs processes) is at most a 32nd of used memory. A stand-in
	// overstates PSS by less than itself, so the true figure lies between
	// UnexplainedBytes and UnexplainedBytes+PSSUnreadBytes.
	UnexplainedCovered bool              `json:"unexplained_covered"`
	PSSUnreadProcs     int               `json:"pss_unread_procs"`
	PSSUnreadBytes     uint64            `json:"pss_unread_bytes"`
	Procs              int               `json:"procs"`
	OOMKills           uint64            `json:"oom_kills"` // since oomtrace started
	EventsPerSec       float64           `json:"events_per_s"`
	LostEvents         uint64            `json:"lost_events"`
	Lost               map[string]uint64 `json:"lost,omitempty"`     // per event type
	GrowthBytesPerS    float64           `json:"growth_bytes_per_s"` // least squares over the last minute
	// GrowthSpanS is the seconds of history that fit stands on, and
	// GrowthCovered says it covers at least 80% of the minute; until then the
	// figure (and a time to OOM from it) is partial.
	GrowthSpanS   float64    `json:"growth_span_s"`
	GrowthCovered bool       `json:"growth_covered"`
	TimeToOOM     *TimeToOOM `json:"time_to_oom,omitempty"` // the soonest domain's
	// SystemTimeToOOM is the whole system's own estimate, also when a
	// memory cgroup's comes sooner.
	SystemTimeToOOM *TimeToOOM        `json:"system_time_to_oom,omitempty"`
	Memcgs          []MemcgDomain     `json:"memcgs,omitempty"`
	Hooks           map[string]string `json:"hooks,omitempty"`
	Stacks          *StackStats       `json:"stacks,omitempty"` // nil when stacks are off
}

// UnexplainedPartial says why UnexplainedBytes is not a fact, "" when it
// is: views print the reason instead of the figure.
func (s System) UnexplainedPartial() string {
	switch {
	case s.UnexplainedCovered:
		return ""
	case s.PSSUnreadProcs > 0 && s.PSSUnreadBytes > s.UsedBytes/32:
		return "PSS not read yet for " + strconv.Itoa(s.PSSUnreadProcs) + " processes"
	case s.UnexplainedBytes < 0:
		return "PSS sums to more than used memory"
	}
	return "PSS coverage not recorded" // written before the mark was
}

// PSI is memory pressure: the share of time tasks stalled on memory, percent.
type PSI struct {
	Some10  float64 `json:"some_avg10"`
	Some60  float64 `json:"some_avg60"`
	Some300 float64 `json:"some_avg300"`
	Full10  float64 `json:"full_avg10"`
	Full60  float64 `json:"full_avg60"`
	Full300 float64 `json:"full_avg300"`
}

// TimeToOOM estimates when a memory domain runs out, at current growth.
type TimeToOOM struct {
	Domain   string  `json:"domain"` // "system" or a memory cgroup path
	Seconds  float64 `json:"seconds"`
	Service  string  `json:"service"` // the service growing fastest in the domain
	Headroom uint64  `json:"headroom_bytes"`
	Growth   float64 `json:"growth_bytes_per_s"`
	// GrowthSpanS is the seconds of history behind Growth (a one-minute
	// fit); Covered says it covers at least 80% of the minute. An estimate
	// that is not covered stands on a few points and may be far off.
	GrowthSpanS float64 `json:"growth_span_s"`
	Covered     bool    `json:"covered"`
}

// MemcgDomain is a memory cgroup with a limit.
type MemcgDomain struct {
	Path       string     `json:"path"`
	UsageBytes uint64     `json:"usage_bytes"`
	LimitBytes uint64     `json:"limit_bytes"`
	OOMKills   uint64     `json:"oom_kills"` // the kernel's counter
	TimeToOOM  *TimeToOOM `json:"time_to_oom,omitempty"`
	// Swap and its limit (see cgroup.Memcg.Swap), read while the machine
	// has swap.
	SwapBytes      uint64 `json:"swap_bytes,omitempty"`
	SwapLimitBytes uint64 `json:"swap_limit_bytes,omitempty"`
}

// Memory is a process's memory and kernel counters, or their sum over a
// service's processes; its fields print inline in Service and Process.
type Memory struct {
	RSS   uint64 `json:"rss_bytes"`
	PSS   uint64 `json:"pss_bytes"`
	USS   uint64 `json:"uss_bytes"`
	Anon  uint64 `json:"anon_bytes"`
	File  uint64 `json:"file_bytes"`
	Shmem uint64 `json:"shmem_bytes"`
	Swap  uint64 `json:"swap_bytes"`
	// PSSAgeS is the age in seconds of the smaps_rollup reading behind PSS
	// and USS (one reading gives both), in a sum the oldest; -1 while a
	// process has not been read yet: its RSS then stands in for both.
	PSSAgeS float64 `json:"pss_age_s"`
	// Kernel counters: bytes mapped (anon+file) net of unmaps, brk growth net
	// of shrinks, mremap and mprotect-to-writable growth.
	Mmap     int64  `json:"mmap_bytes"`
	Brk      int64  `json:"brk_bytes"`
	Mremap   int64  `json:"mremap_bytes"`
	Mprotect uint64 `json:"mprotect_bytes"`
}

// add sums a process's memory into a service's; PSSAgeS keeps the oldest
// reading, or -1 once any is missing.
func (m *Memory) add(p Memory) {
	m.RSS += p.RSS
	m.PSS += p.PSS
	m.USS += p.USS
	m.Anon += p.Anon
	m.File += p.File
	m.Shmem += p.Shmem
	m.Swap += p.Swap
	if p.PSSAgeS < 0 || m.PSSAgeS >= 0 && p.PSSAgeS > m.PSSAgeS {
		m.PSSAgeS = p.PSSAgeS
	}
	m.Mmap += p.Mmap
	m.Brk += p.Brk
	m.Mremap += p.Mremap
	m.Mprotect += p.Mprotect
}

// Service is one service's figures: a master with its workers, a unit, a container.
type Service struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"` // rule, unit, container, tree, comm, kernel
	Procs       int     `json:"procs"`
	PIDs        []int   `json:"pids"`
	Memory              // summed over the live processes
	CallsPerSec float64 `json:"calls_per_s"`
	// Growth of RSS, least squares over the last 1, 5 and 15 minutes.
	Growth    float64 `json:"growth_bytes_per_s"` // = Growth1m
	Growth1m  float64 `json:"growth_1m_bytes_per_s"`
	Growth5m  float64 `json:"growth_5m_bytes_per_s"`
	Growth15m float64 `json:"growth_15m_bytes_per_s"`
	// GrowthSpanS is the seconds of RSS history the fits stand on: a
	// window's fit covers min(window, GrowthSpanS). A figure whose window is
	// less than 80% covered (its *Covered false) is partial: the 5m and 15m
	// figures of a service seen for a minute are its 1m figure.
	GrowthSpanS      float64      `json:"growth_span_s"`
	Growth1mCovered  bool         `json:"growth_1m_covered"` // also of growth_bytes_per_s
	Growth5mCovered  bool         `json:"growth_5m_covered"`
	Growth15mCovered bool         `json:"growth_15m_covered"`
	LeakSuspect      bool         `json:"leak_suspect"`
	OOMKills         int          `json:"oom_kills"`
	LastOOM          *time.Time   `json:"last_oom,omitempty"`
	Memcg            *MemcgDomain `json:"memcg,omitempty"` // when the service is a memory cgroup
	TimeToOOMS       *float64     `json:"time_to_oom_s,omitempty"`
	// TimeToOOMCovered is the Covered of the estimate behind TimeToOOMS.
	TimeToOOMCovered bool      `json:"time_to_oom_covered,omitempty"`
	Processes        []Process `json:"processes,omitempty"`
	Workers                    // a master's workers, when it has some
	// Stacks are the service's top growth stacks by held bytes.
	Stacks []Stack `json:"stacks,omitempty"`
}

// Stack is a growth stack of a service: the byte-weighted samples of its
// processes whose frames are identical, merged.
type Stack struct {
	HeldBytes  uint64  `json:"held_bytes"`  // sampled growth still mapped now
	GrownBytes uint64  `json:"grown_bytes"` // sampled growth over the window
	Samples    uint64  `json:"samples"`
	Truncated  bool    `json:"truncated"` // unwinding stopped before the outermost frame
	Frames     []Frame `json:"frames"`    // innermost first
}

// Frame is one frame of a Stack.
type Frame struct {
	Function string `json:"function"` // symbol or Python qualname; "" when unknown
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Module   string `json:"module,omitempty"` // the mapped file
	Offset   uint64 `json:"offset,omitempty"` // in Module, shown when Function is ""
	Kind     string `json:"kind"`             // native or python
}

// Process is one member of a service, for drill-down.
type Process struct {
	PID     int    `json:"pid"`
	PPID    int    `json:"ppid"`
	Comm    string `json:"comm"`
	Cmdline string `json:"cmdline"`
	Memory
	Calls uint64 `json:"calls"`
	// Growth is the RSS slope since a mark 40-60 s old (GrowthSpanS: the
	// seconds it spans; GrowthCovered false while that is under 40, the
	// process being younger).
	Growth        float64 `json:"growth_bytes_per_s"`
	GrowthSpanS   float64 `json:"growth_span_s"`
	GrowthCovered bool    `json:"growth_covered"`
}
