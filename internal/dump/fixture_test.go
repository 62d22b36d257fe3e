package dump

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/schema"
)

const (
	mib = 1 << 20
	gib = 1 << 30

	hostileName = `<img src=x onerror=alert(1)>`
	hostileComm = "evil\x1b[31m\xff\xfe"
	victimComm  = "nova-api"
	victimSvc   = "nova-api.service"
	victimPID   = 10717
	triggerPID  = 10720
)

var (
	testStart = time.Date(2026, 11, 25, 18, 52, 57, 0, time.UTC)
	testEnd   = testStart.Add(10 * time.Minute)
)

// testDump is an OOM dump of 10 minutes: nova-api.service grows steadily
// from 300 MiB to 2.3 GiB and owns the victim, postgres stays flat, and a
// service with a hostile name (and comm) holds a little and wobbles.
func testDump() *Dump {
	const step = 5 * time.Second
	n := int(testEnd.Sub(testStart)/step) + 1
	mk := func(name, kind string, procs int, rss func(i int) uint64) Service {
		s := Service{Name: name, Kind: kind, Procs: procs}
		for i := range n {
			r := rss(i)
			s.Samples = append(s.Samples, Sample{
				Time: testStart.Add(time.Duration(i) * step), Procs: procs,
				RSS: r, PSS: r * 9 / 10, Anon: r * 8 / 10, File: r / 10, Shmem: r / 10,
				Mmap: int64(r), Brk: int64(r / 20),
			})
		}
		summarize(&s)
		return s
	}
	nova := mk(victimSvc, "unit", 4, func(i int) uint64 { return 300*mib + uint64(i)*(2*gib/120) })
	nova.Victim, nova.LeakSuspect, nova.OOMKills = true, true, 1
	pg := mk("postgres.service", "unit", 9, func(i int) uint64 { return 1200*mib + uint64(i%3)*mib })
	// nova-api's master has three workers, one not read yet; postgres's eight.
	nova.Workers = aggregate.Workers{Count: 3, USSMean: 500 * mib, USSMax: 700 * mib, Shared: 150 * mib, Unread: 1}
	pg.Workers = aggregate.Workers{Count: 8, USSMean: 90 * mib, USSMax: 110 * mib, Shared: 400 * mib}
	evil := mk(hostileName, "comm", 1, func(i int) uint64 { return 80*mib + uint64(i%7)*4*mib })

	victim := Victim{
		Task:   Task{PID: victimPID, Comm: victimComm, Service: victimSvc},
		Cgroup: "/system.slice/nova-api.service", AnonRSSBytes: 2200 * mib, FileRSSBytes: 12 * mib,
		ShmemRSSBytes: 1 * mib, TotalVMBytes: 3 * gib, PgTablesBytes: 5 * mib, OOMScoreAdj: 200, UID: 1000,
	}
	trigger := Task{PID: triggerPID, Comm: "nova-worker", Service: victimSvc}
	kill := Kill{
		Time: testEnd, Victim: victim, Trigger: trigger, Constraint: "CONSTRAINT_MEMCG",
		OOMMemcg: "/system.slice/nova-api.service", TaskMemcg: "/system.slice/nova-api.service",
		MemcgOOMKills: 1, KernelReport: true, Source: "tp_btf",
	}

	var events []schema.Event
	ev := func(t time.Time, typ string, pid uint32, comm string) schema.Event {
		return schema.Event{Type: typ, Time: t.Format(time.RFC3339Nano), PID: pid, TID: pid, Comm: comm, Start: 123456789}
	}
	for i := 1; i <= 18; i++ {
		e := ev(testStart.Add(time.Duration(i)*32*time.Second+123*time.Millisecond), "mmap", triggerPID, "nova-worker")
		e.Alloc = &schema.Alloc{Addr: 0x7f0000000000 + uint64(i)<<30, Len: uint64(64+16*(i%4)) * mib, Delta: int64(64 * mib), Prot: 3, Flags: 0x22}
		events = append(events, e)
	}
	e := ev(testStart.Add(200*time.Second), "brk", victimPID, victimComm)
	e.Alloc = &schema.Alloc{Addr: 0x5600000000, Len: 32 * mib, Delta: 32 * mib, Prot: 3}
	events = append(events, e)
	e = ev(testStart.Add(250*time.Second), "mremap", triggerPID, "nova-worker")
	e.Alloc = &schema.Alloc{Addr: 0x7f1000000000, Len: 256 * mib, OldLen: 128 * mib, Delta: 128 * mib, Prot: 3}
	events = append(events, e)
	e = ev(testStart.Add(300*time.Second), "mprotect", 4242, hostileComm)
	e.Alloc = &schema.Alloc{Addr: 0x7f2000000000, Len: 64 * mib, Prot: 3}
	events = append(events, e)
	e = ev(testStart.Add(310*time.Second), "exec", 4242, hostileComm)
	e.Proc = &schema.Proc{PPID: 1, Filename: "/opt/evil/\x1b]0;pwned\x07bin"}
	events = append(events, e)
	e = ev(testEnd, "oom_kill", triggerPID, "nova-worker")
	e.Victim = &schema.OOMTask{Task: schema.Task{PID: victimPID, TID: victimPID, Comm: victimComm}, UID: 1000,
		OOMScoreAdj: 200, TotalVMBytes: 3 * gib, AnonRSSBytes: 2200 * mib, FileRSSBytes: 12 * mib,
		ShmemRSSBytes: mib, PgTablesBytes: 5 * mib, MemcgID: 77, MemcgPath: "/system.slice/nova-api.service"}
	e.Trigger = &schema.Task{PID: triggerPID, TID: triggerPID + 1, Comm: "nova-worker"}
	e.Source = "tp_btf"
	events = append(events, e)
	code := uint32(137)
	e = ev(testEnd.Add(10*time.Millisecond), "exit", victimPID, victimComm)
	e.Proc = &schema.Proc{PPID: 1, ExitCode: &code}
	events = append(events, e)

	slices.SortStableFunc(events, func(a, b schema.Event) int { return strings.Compare(a.Time, b.Time) })

	var sys []SystemSample
	for i := range n {
		used := uint64(0)
		for _, s := range []Service{nova, pg, evil} {
			used += s.Samples[i].RSS
		}
		used += 900 * mib
		sys = append(sys, SystemSample{Time: testStart.Add(time.Duration(i) * step), Used: used, Available: 6*gib - min(used, 6*gib)})
	}
	// The victim's memcg: nova-api's RSS and 40 MiB of page cache, under a
	// 2432 MiB limit; oomtrace warned two minutes before the kill.
	dom := Domain{Memcg: kill.OOMMemcg, Kill: testEnd, Warned: testEnd.Add(-2 * time.Minute)}
	for _, p := range nova.Samples {
		dom.Samples = append(dom.Samples, DomainSample{Time: p.Time, Usage: p.RSS + 40*mib, Limit: 2432 * mib})
	}
	return &Dump{
		Version: Version, Kind: KindOOM, Time: testEnd,
		Domains:    []Domain{dom},
		Host:       Host{Hostname: "ci-runner-7", Kernel: "6.8.0-45-generic", Oomtrace: "v0.3.0"},
		Window:     Window{Start: testStart, End: testEnd},
		Kills:      []Kill{kill},
		Victim:     &victim,
		Trigger:    &trigger,
		Constraint: kill.Constraint, OOMMemcg: kill.OOMMemcg, TaskMemcg: kill.TaskMemcg,
		System: aggregate.System{
			TotalBytes: 6 * gib, AvailableBytes: 90 * mib, UsedBytes: 6*gib - 90*mib,
			PSI:              &aggregate.PSI{Some10: 42.5, Some60: 20.1, Some300: 5.2, Full10: 30.2, Full60: 12, Full300: 3.1},
			UnexplainedBytes: 700 * mib, UnexplainedCovered: true, Procs: 312, OOMKills: 1, EventsPerSec: 12.5, LostEvents: 3,
			Lost: map[string]uint64{"mmap": 3}, GrowthBytesPerS: 3.4 * mib, GrowthSpanS: 60, GrowthCovered: true,
		},
		Services:       []Service{nova, pg, evil},
		SystemSamples:  sys,
		Events:         events,
		LostEvents:     map[string]uint64{"mmap": 3},
		OOMKillsKernel: 1,
	}
}

// withUTF8 returns a copy of v (a pointer) in which every string holds
// valid UTF-8, each invalid byte replaced by U+FFFD as encoding/json does.
func withUTF8[T any](v *T) *T {
	c := new(T)
	*c = *v
	fixStrings(reflect.ValueOf(c).Elem())
	return c
}

func fixStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			var b strings.Builder
			for i := 0; i < len(s); {
				r, n := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && n == 1 {
					b.WriteRune(utf8.RuneError)
				} else {
					b.WriteString(s[i : i+n])
				}
				i += n
			}
			v.SetString(b.String())
		}
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Elem().Type())
			c.Elem().Set(v.Elem())
			fixStrings(c.Elem())
			v.Set(c)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fixStrings(v.Field(i))
			}
		}
	case reflect.Slice:
		if !v.IsNil() {
			c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(c, v)
			for i := range c.Len() {
				fixStrings(c.Index(i))
			}
			v.Set(c)
		}
	case reflect.Map:
		if !v.IsNil() {
			c := reflect.MakeMapWithSize(v.Type(), v.Len())
			for _, k := range v.MapKeys() {
				nk, nv := reflect.New(k.Type()).Elem(), reflect.New(v.Type().Elem()).Elem()
				nk.Set(k)
				nv.Set(v.MapIndex(k))
				fixStrings(nk)
				fixStrings(nv)
				c.SetMapIndex(nk, nv)
			}
			v.Set(c)
		}
	}
}

// indexes returns where each of subs first occurs in s, or an error naming
// the first one missing.
func indexes(s string, subs ...string) ([]int, error) {
	out := make([]int, len(subs))
	for i, sub := range subs {
		out[i] = strings.Index(s, sub)
		if out[i] < 0 {
			return nil, fmt.Errorf("missing %q", sub)
		}
	}
	return out, nil
}

// summarize sets a service's figures from its samples.
func summarize(s *Service) {
	n := len(s.Samples)
	s.StartBytes, s.EndBytes, s.PeakBytes = s.Samples[0].RSS, s.Samples[n-1].RSS, 0
	for _, p := range s.Samples {
		s.PeakBytes = max(s.PeakBytes, p.RSS)
	}
	s.GrowthBytes = int64(s.EndBytes) - int64(s.StartBytes)
	s.GrowthPerSec = 0
	if span := s.Samples[n-1].Time.Sub(s.Samples[0].Time).Seconds(); span > 0 {
		s.GrowthPerSec = float64(s.GrowthBytes) / span
	}
}

// minimalDump has nothing but its header: no services, samples or events.
func minimalDump(kind string) *Dump {
	return &Dump{Version: Version, Kind: kind, Time: testEnd, Host: Host{Hostname: "h"}}
}

// warnDump is a warning, five minutes into the test dump's growth.
func warnDump() *Dump {
	d := testDump()
	d.Kind, d.Time = KindWarn, testStart.Add(5*time.Minute)
	d.Window.End = d.Time
	d.Kills, d.Victim, d.Trigger, d.Constraint, d.OOMMemcg, d.TaskMemcg = nil, nil, nil, "", "", ""
	for i := range d.Services {
		d.Services[i].Victim, d.Services[i].OOMKills = false, 0
		d.Services[i].Samples = d.Services[i].Samples[:61]
		summarize(&d.Services[i])
	}
	d.SystemSamples = d.SystemSamples[:61]
	d.Events = slices.DeleteFunc(d.Events, func(e schema.Event) bool { return e.Time > d.Time.Format(time.RFC3339Nano) })
	d.Warning = &aggregate.TimeToOOM{Domain: "/a/b", Seconds: 130, Service: "nova-api", Headroom: 400 * mib, Growth: 3.1 * mib,
		GrowthSpanS: 60, Covered: true}
	d.System.TimeToOOM = d.Warning
	return d
}

// summaryDump ends a run with two kills recorded, one missed, and a single
// sample per service.
func summaryDump() *Dump {
	d := testDump()
	d.Kind = KindSummary
	k2 := d.Kills[0]
	k2.Time = testEnd.Add(-4 * time.Minute)
	k2.Victim.PID, k2.Victim.Comm = 9001, hostileComm
	k2.Victim.Service = hostileName
	k2.KernelReport, k2.MemcgOOMKills, k2.Constraint = false, -1, ""
	d.Kills = []Kill{k2, d.Kills[0]}
	d.Missed, d.OOMKillsKernel = 1, 3
	for i := range d.Services {
		d.Services[i].Samples = d.Services[i].Samples[len(d.Services[i].Samples)-1:]
	}
	d.SystemSamples = d.SystemSamples[len(d.SystemSamples)-1:]
	d.Run = &Run{Command: []string{"make", "test", "ARGS=-run x"}, Start: testStart, End: testEnd.Add(time.Minute),
		ExitCode: 2, Dumps: []string{"oom-20261125T185857Z-9001.json", "oom-20261125T190257Z-10717.json"}}
	return d
}
