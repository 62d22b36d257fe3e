package dump

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/schema"
)

// The last minute's fill is the change between its first and last samples
// over their distance in time: a memcg that rose 30 MiB in 50 s (samples
// before the minute and after the kill not counted) filled at 614.4 KiB/s,
// 50 s from the minute's first sample to the kill.
func TestDomainFillExact(t *testing.T) {
	kill := testStart.Add(5 * time.Minute)
	dm := Domain{Memcg: "/a", Kill: kill}
	add := func(off time.Duration, usage uint64) {
		dm.Samples = append(dm.Samples, DomainSample{Time: kill.Add(off), Usage: usage, Limit: 64 * mib})
	}
	add(-90*time.Second, 1*mib)  // before the minute
	add(-50*time.Second, 20*mib) // the minute's first
	add(-30*time.Second, 35*mib)
	add(0, 50*mib)             // at the kill: the last
	add(2*time.Second, 10*mib) // after the kill
	d := &Dump{Version: Version, Kind: KindOOM, Time: kill, Domains: []Domain{dm}}
	f, ok := domainFill(d, dm, kill)
	if !ok {
		t.Fatal("no fill")
	}
	if f.From != 20*mib || f.To != 50*mib || !f.Start.Equal(kill.Add(-50*time.Second)) || !f.End.Equal(kill) {
		t.Errorf("fill %+v: want 20 MiB at -50s to 50 MiB at the kill", f)
	}
	if want := float64(30*mib) / 50; f.Rate != want || f.ToKill != 50*time.Second {
		t.Errorf("rate %v over %s, want %v over 50s", f.Rate, f.ToKill, want)
	}
	var b bytes.Buffer
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "last minute: filled at +614.4KiB/s, usage 20.0MiB → 50.0MiB, 50s from 18:57:07 to the kill") {
		t.Errorf("text lacks the fill:\n%s", b.String())
	}

	// The system's domain fills as available memory falls.
	sys := Domain{Kill: kill, MinWatermarkBytes: 16 * mib, LowWatermarkBytes: 20 * mib}
	d = &Dump{Version: Version, Kind: KindOOM, Time: kill, Domains: []Domain{sys}, SystemSamples: []SystemSample{
		{Time: kill, Available: 30 * mib}, {Time: kill.Add(-40 * time.Second), Available: 110 * mib}, // out of order
	}}
	if f, ok := domainFill(d, sys, kill); !ok || f.Rate != float64(80*mib)/40 || f.From != 110*mib || f.To != 30*mib {
		t.Errorf("system fill %+v %v, want 2 MiB/s from 110 to 30 MiB", f, ok)
	}
	// One sample in the minute is no rate.
	if _, ok := domainFill(d, sys, kill.Add(50*time.Second)); ok {
		t.Error("a fill from one sample")
	}
}

// The text lists the victim's and the trigger's services' events first,
// however late another process's ran; by service where it is known, by
// pid where it is not.
func TestTextEventOrder(t *testing.T) {
	d := testDump()
	end := testEnd
	ev := func(off time.Duration, pid uint32, comm, svc string) schema.Event {
		return schema.Event{Type: "exec", Time: end.Add(off).Format(time.RFC3339Nano), PID: pid, Comm: comm, Service: svc,
			Proc: &schema.Proc{PPID: 1, Filename: "/bin/" + comm}}
	}
	d.Events = append(d.Events,
		ev(-3*time.Second, 777, "poll-shell", "ci.service"),
		ev(-2*time.Second, 778, "worker-2", victimSvc), // another process of the victim's service
		ev(-1*time.Second, triggerPID, "nova-worker", "other.service"))
	var b bytes.Buffer
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// 22 events of the services, 4 others: 16 and 4 fit the 20 lines.
	at := strings.Index(out, "Last 16 events of the victim's and trigger's services up to 19:02:57 (6 earlier in the dump)")
	if at < 0 {
		t.Fatalf("no events of the services:\n%s", out)
	}
	own := out[at:]
	other := strings.Index(own, "Last 4 other events")
	if other < 0 {
		t.Fatalf("no other events after the services':\n%s", out)
	}
	if i := strings.Index(own, "worker-2"); i < 0 || i > other {
		t.Errorf("the victim's service's worker-2 is not among its events:\n%s", own)
	}
	rest := own[other:]
	if !strings.Contains(rest, "poll-shell") || !strings.Contains(rest, "/bin/nova-worker") || !strings.Contains(rest, "evil") {
		t.Errorf("other events: want the shell's, the trigger pid's under another service and evil's:\n%s", rest)
	}
	if strings.Contains(own[:other], "poll-shell") || !strings.Contains(own[:other], "killed 10717 nova-api") {
		t.Errorf("the services' events hold the shell's or lack the kill:\n%s", own[:other])
	}
	// Without a kill, the last events in time order, as before.
	w := warnDump()
	b.Reset()
	if err := WriteText(&b, w); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Last 12 events up to 18:57:57") {
		t.Errorf("warn dump events:\n%s", b.String())
	}
}

// Decode rejects domains out of bounds or out of order, and reads a dump
// without any (an older one) as before.
func TestDecodeDomains(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, testDump()); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	d, err := decode(good)
	if err != nil || len(d.Domains) != 1 || len(d.Domains[0].Samples) != 121 {
		t.Fatalf("decode: %v, %d domains", err, len(d.Domains))
	}
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	samples := func(m map[string]any) []any {
		return m["domains"].([]any)[0].(map[string]any)["samples"].([]any)
	}
	sample := func(m map[string]any, i int) map[string]any { return samples(m)[i].(map[string]any) }
	old := mutate(func(m map[string]any) { delete(m, "domains") })
	if d, err := decode(old); err != nil || d.Domains != nil {
		t.Errorf("a dump without domains: %v, %v", err, d.Domains)
	}
	for name, bad := range map[string][]byte{
		"out of order": mutate(func(m map[string]any) { sample(m, 3)["t"] = sample(m, 1)["t"] }),
		"repeated":     mutate(func(m map[string]any) { sample(m, 2)["t"] = sample(m, 1)["t"] }),
		"negative":     mutate(func(m map[string]any) { sample(m, 0)["usage"] = -1 }),
		"not a number": mutate(func(m map[string]any) { sample(m, 0)["limit"] = "NaN" }),
		"fractional":   mutate(func(m map[string]any) { sample(m, 0)["usage"] = 1.5 }),
		"huge":         mutate(func(m map[string]any) { sample(m, 0)["usage"] = uint64(1) << 63 }),
		"no memcg":     mutate(func(m map[string]any) { delete(m["domains"].([]any)[0].(map[string]any), "memcg") }),
		"too many samples": mutate(func(m map[string]any) {
			dm := m["domains"].([]any)[0].(map[string]any)
			var s []any
			t0 := testStart
			for i := range MaxDomainSamples + 1 {
				s = append(s, map[string]any{"t": t0.Add(time.Duration(i) * time.Second), "usage": 1, "limit": 2})
			}
			dm["samples"] = s
		}),
		"too many domains": mutate(func(m map[string]any) {
			var ds []any
			for range MaxDomains + 1 {
				ds = append(ds, map[string]any{})
			}
			m["domains"] = ds
		}),
	} {
		if _, err := decode(bad); err == nil {
			t.Errorf("%s: decoded", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: a multi-line error %q", name, err)
		}
	}
}

// The system's domain draws available memory against the low and min
// watermarks; a memcg without samples says so rather than draw nothing.
func TestDomainChartSystemAndEmpty(t *testing.T) {
	d := testDump()
	d.Domains = []Domain{{Kill: testEnd, MinWatermarkBytes: 64 * mib, LowWatermarkBytes: 80 * mib}, {Memcg: "/gone", Kill: testEnd}}
	var b bytes.Buffer
	if err := WriteHTML(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if _, err := indexes(out, "<h2>OOM domain: the system</h2>", `<svg class="chart domain"`, `<polyline class="available"`,
		`<polyline class="limit"`, "<title>low watermark 80.0MiB</title>", "<title>min watermark 64.0MiB</title>",
		"zone watermarks: min 64.0MiB, low 80.0MiB", "<h2>OOM domain: memory cgroup /gone</h2>",
		"No usage samples of memory cgroup /gone in this dump."); err != nil {
		t.Error(err)
	}
	b.Reset()
	if err := WriteText(&b, d); err != nil {
		t.Fatal(err)
	}
	// Available is 6 GiB less used: in the last minute nova-api grew 204.8
	// MiB and the hostile service shrank 8 MiB, 3.28 MiB/s in all.
	if _, err := indexes(b.String(), "Domain      the system\n            zone watermarks: min 64.0MiB, low 80.0MiB",
		"last minute: filled at +3.3MiB/s, available 1.8GiB → 1.6GiB, 1m0s from 19:01:57 to the kill", "Domain      memory cgroup /gone\n            no usage samples of the cgroup in this dump"); err != nil {
		t.Errorf("%v in:\n%s", err, b.String())
	}
}
