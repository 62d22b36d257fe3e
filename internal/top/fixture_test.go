package top

import (
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

const hostile = "evil\x1b[31m"

// fixture is a snapshot with one of everything the views show.
func fixture() aggregate.Snapshot {
	tto := 250.0
	last := time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)
	return aggregate.Snapshot{
		Time: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		System: aggregate.System{
			TotalBytes: 16 * gib, AvailableBytes: 4 * gib, UsedBytes: 12 * gib,
			SwapTotalBytes: 2 * gib, SwapFreeBytes: 1 * gib,
			PSI:              &aggregate.PSI{Some10: 1.5, Full10: 0.25},
			UnexplainedBytes: 512 * mib, UnexplainedCovered: true, Procs: 300, OOMKills: 3, EventsPerSec: 1234,
			LostEvents: 12, Lost: map[string]uint64{"alloc": 10, "exit": 2, "fork": 0},
			GrowthSpanS: 60, GrowthCovered: true,
			TimeToOOM: &aggregate.TimeToOOM{Domain: "/a/b", Seconds: 250, Service: "nova-api", Headroom: gib, Growth: 4 * mib,
				GrowthSpanS: 60, Covered: true},
		},
		Services: []aggregate.Service{
			{
				Name: "nova-api", Kind: "rule", Procs: 2, PIDs: []int{100, 101},
				Memory: aggregate.Memory{RSS: 800 * mib, PSS: 600 * mib, USS: 500 * mib, PSSAgeS: 5, Mmap: 900 * mib, Brk: -4 * kib},
				Growth: 4 * mib, Growth1m: 4 * mib,
				Growth5m: 3 * mib, Growth15m: 2 * mib, GrowthSpanS: 900, Growth1mCovered: true, Growth5mCovered: true, Growth15mCovered: true,
				LeakSuspect: true, TimeToOOMS: &tto, TimeToOOMCovered: true,
				Processes: []aggregate.Process{
					{PID: 100, PPID: 1, Comm: "nova-api", Cmdline: "/usr/bin/python3 /usr/bin/nova-api --config /etc/nova.conf", Memory: aggregate.Memory{RSS: 300 * mib, PSS: 200 * mib}},
					{PID: 101, PPID: 100, Comm: hostile, Cmdline: "worker \x1b]0;pwned\x07 --evil", Memory: aggregate.Memory{RSS: 500 * mib, PSS: 400 * mib}},
				},
			},
			// postgres: PSS and USS read 45 s ago; growth over 30 s only.
			{Name: "postgres", Kind: "unit", Procs: 4, PIDs: []int{200, 201, 202, 203}, Memory: aggregate.Memory{RSS: gib, PSS: 400 * mib, USS: 300 * mib, PSSAgeS: 45},
				GrowthSpanS: 30,
				// three workers, one not read yet
				Workers: aggregate.Workers{Count: 3, USSMean: 60 * mib, USSMax: 80 * mib, Shared: 100 * mib, Unread: 1}},
			// kafka: not read yet (RSS stands in for PSS and USS); seen for 2 minutes.
			{Name: "kafka", Kind: "container", Procs: 1, PIDs: []int{300}, Memory: aggregate.Memory{RSS: 500 * mib, PSS: 700 * mib, USS: 500 * mib, PSSAgeS: -1},
				Growth: -mib, Growth1m: -mib, Growth5m: -mib / 2, Growth15m: -mib / 2, GrowthSpanS: 120, Growth1mCovered: true,
				OOMKills: 2, LastOOM: &last,
				Processes: []aggregate.Process{{PID: 300, PPID: 1, Comm: "java", Cmdline: "java -jar kafka.jar", Memory: aggregate.Memory{RSS: 500 * mib, PSS: 500 * mib, USS: 500 * mib, PSSAgeS: -1}}}},
			{Name: hostile, Kind: "comm", Procs: 1, PIDs: []int{400}, Memory: aggregate.Memory{RSS: 10 * mib, PSS: 10 * mib}},
		},
	}
}

func names(svcs []aggregate.Service) []string {
	out := make([]string, len(svcs))
	for i, s := range svcs {
		out[i] = s.Name
	}
	return out
}
