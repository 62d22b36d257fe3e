package metrics

import "github.com/prometheus/client_golang/prometheus"

const ns = "oomtrace_"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(ns+name, help, labels, nil)
}

var svcLabels = []string{"service", "kind"}

// serviceGauge is a per-service gauge labelled {service,kind}; value reports
// false when the service has no such figure.
type serviceGauge struct {
	desc  *prometheus.Desc
	value func(*service) (float64, bool)
}

func always(f func(*service) float64) func(*service) (float64, bool) {
	return func(s *service) (float64, bool) { return f(s), true }
}

var serviceGauges = []serviceGauge{
	{desc("service_rss_bytes", "Resident memory of the service's processes.", svcLabels...),
		always(func(s *service) float64 { return float64(s.rss) })},
	{desc("service_pss_bytes", "Proportional set size of the service's processes (RSS until smaps is first read).", svcLabels...),
		always(func(s *service) float64 { return float64(s.pss) })},
	{desc("service_uss_bytes", "Unique set size of the service's processes: memory no other process maps.", svcLabels...),
		always(func(s *service) float64 { return float64(s.uss) })},
	{desc("service_anon_bytes", "Resident anonymous memory of the service's processes.", svcLabels...),
		always(func(s *service) float64 { return float64(s.anon) })},
	{desc("service_file_bytes", "Resident file-backed memory of the service's processes.", svcLabels...),
		always(func(s *service) float64 { return float64(s.file) })},
	{desc("service_shmem_bytes", "Resident shared memory of the service's processes.", svcLabels...),
		always(func(s *service) float64 { return float64(s.shmem) })},
	{desc("service_swap_bytes", "Swapped-out memory of the service's processes.", svcLabels...),
		always(func(s *service) float64 { return float64(s.swap) })},
	{desc("service_processes", "Live processes in the service.", svcLabels...),
		always(func(s *service) float64 { return float64(s.procs) })},
	{desc("service_leak_suspect", "1 when the service's RSS grows steadily enough to suspect a leak, else 0.", svcLabels...),
		always(func(s *service) float64 { return b2f(s.leak) })},
	{desc("service_mmap_bytes", "Bytes mapped by the service's live processes, net of unmaps (kernel counters).", svcLabels...),
		always(func(s *service) float64 { return float64(s.mmap) })},
	{desc("service_brk_bytes", "Heap growth by brk of the service's live processes, net of shrinks.", svcLabels...),
		always(func(s *service) float64 { return float64(s.brk) })},
	{desc("service_mremap_bytes", "Growth by mremap of the service's live processes, net of shrinks.", svcLabels...),
		always(func(s *service) float64 { return float64(s.mremap) })},
	{desc("service_mprotect_writable_bytes", "Bytes the service's live processes made writable with mprotect.", svcLabels...),
		always(func(s *service) float64 { return float64(s.mprotect) })},
	{desc("service_memory_syscalls_per_second", "Rate of the service's mmap, munmap, brk, mremap and mprotect calls over the last interval.", svcLabels...),
		always(func(s *service) float64 { return s.callsPerSec })},
	{desc("service_pss_age_seconds", "Age of the oldest PSS reading in the service's sum; absent until every member's smaps was read.", svcLabels...),
		func(s *service) (float64, bool) { return s.pssAge, s.pssAge >= 0 }},
}

var (
	descServiceGrowth = desc("service_growth_bytes_per_second",
		"Growth of the service's RSS, least squares over the window.", "service", "kind", "window")
	descServiceOOMKills = desc("oom_kills_total",
		"Processes of the service killed by the OOM killer since oomtrace started.", "service")
	descServiceTimeToOOM = desc("service_time_to_oom_seconds",
		"Estimated time until the service's memory domain runs out at current growth; absent without an estimate.", "service")

	descSnapshotTime = desc("last_snapshot_timestamp_seconds",
		"Unix time of the snapshot the other oomtrace figures come from.")
	descMemTotal       = desc("memory_total_bytes", "Total memory of the machine (MemTotal).")
	descMemAvailable   = desc("memory_available_bytes", "Memory available for new allocations without swapping (MemAvailable).")
	descMemUsed        = desc("memory_used_bytes", "Used memory of the machine: total minus available.")
	descMemUnexplained = desc("memory_unexplained_bytes",
		"Used memory no service's PSS accounts for (kernel, page cache, slab); absent while it is negative or RSS stands in for PSS not read yet.")
	descMemGrowth = desc("memory_growth_bytes_per_second",
		"Growth of the machine's used memory, least squares over the last minute.")
	descSwapTotal      = desc("swap_total_bytes", "Total swap space of the machine.")
	descSwapFree       = desc("swap_free_bytes", "Free swap space of the machine.")
	descProcesses      = desc("processes", "Processes oomtrace tracks.")
	descSystemOOMKills = desc("system_oom_kills_total", "Processes killed by the OOM killer since oomtrace started.")
	descPSISome        = desc("psi_memory_some_ratio",
		"Share of time at least one task stalled on memory (PSI some), averaged over the window.", "window")
	descPSIFull = desc("psi_memory_full_ratio",
		"Share of time all non-idle tasks stalled on memory (PSI full), averaged over the window.", "window")
	descTimeToOOM = desc("time_to_oom_seconds",
		"Soonest estimated time until a memory domain (the system or a memory cgroup) runs out at current growth, with the service growing fastest in it; absent without an estimate.",
		"domain", "service")

	descMemcgUsage     = desc("memcg_usage_bytes", "Memory usage of a memory cgroup with a limit.", "memcg")
	descMemcgLimit     = desc("memcg_limit_bytes", "Memory limit of the memory cgroup.", "memcg")
	descMemcgOOMKills  = desc("memcg_oom_kills_total", "OOM kills in the memory cgroup, the kernel's counter (memory.events or memory.oom_control).", "memcg")
	descMemcgTimeToOOM = desc("memcg_time_to_oom_seconds",
		"Estimated time until the memory cgroup reaches its limit at current growth; absent without an estimate.", "memcg")

	descHookInfo = desc("hook_info", "The mechanism each kernel hook is attached with; always 1.", "hook", "mechanism")

	descEvents          = desc("events_total", "Events received from the kernel, by type.", "type")
	descEventsLost      = desc("events_lost_total", "Events lost in the kernel, by type and reason: ring (ring buffer full) or map (no per-process storage).", "type", "reason")
	descEventsUndecoded = desc("events_undecoded_total", "Events received from the kernel that could not be decoded.")

	descStackSamples   = desc("stack_samples_total", "Growth stack samples resolved and merged into a service's stacks; absent when stacks are off.")
	descStackTruncated = desc("stack_truncated_total", "Of the growth stack samples, those whose unwinding stopped before the outermost frame.")
)

// allDescs lists every descriptor but the service gauges, for Describe.
var allDescs = []*prometheus.Desc{
	descServiceGrowth, descServiceOOMKills, descServiceTimeToOOM,
	descSnapshotTime, descMemTotal, descMemAvailable, descMemUsed, descMemUnexplained, descMemGrowth,
	descSwapTotal, descSwapFree, descProcesses, descSystemOOMKills, descPSISome, descPSIFull, descTimeToOOM,
	descMemcgUsage, descMemcgLimit, descMemcgOOMKills, descMemcgTimeToOOM,
	descHookInfo, descEvents, descEventsLost, descEventsUndecoded,
	descStackSamples, descStackTruncated,
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
