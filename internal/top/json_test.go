package top

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

func jsonLine(t *testing.T, snap aggregate.Snapshot, key SortKey) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSON(&b, snap, key); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if bytes.Count(out, []byte("\n")) != 1 || out[len(out)-1] != '\n' {
		t.Fatalf("want exactly one line, got %q", out)
	}
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %q", out)
	}
	return out
}

func TestWriteJSONRoundTrip(t *testing.T) {
	snap := fixture()
	line := jsonLine(t, snap, SortPSS)
	var got aggregate.Snapshot
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	if want := []string{"kafka", "nova-api", "postgres", hostile}; !slices.Equal(names(got.Services), want) {
		t.Errorf("order %q, want %q", names(got.Services), want)
	}
	if !got.Time.Equal(snap.Time) || got.System.TimeToOOM == nil || got.System.TimeToOOM.Service != "nova-api" ||
		got.System.PSI == nil || got.System.PSI.Some10 != 1.5 || got.System.Lost["alloc"] != 10 {
		t.Errorf("system did not round-trip: %+v", got.System)
	}
	nova := got.Services[1]
	if nova.RSS != 800*mib || !nova.LeakSuspect || nova.TimeToOOMS == nil || *nova.TimeToOOMS != 250 ||
		len(nova.Processes) != 2 || nova.Processes[1].Comm != hostile || nova.Brk != -4*kib {
		t.Errorf("nova-api did not round-trip: %+v", nova)
	}
	// Re-encoding the decoded snapshot gives the same line: nothing is lost.
	if again := jsonLine(t, got, SortPSS); !bytes.Equal(again, line) {
		t.Errorf("re-encoded differs:\n%s\n%s", line, again)
	}
	// The schema is the types' tags.
	for _, key := range []string{`"rss_bytes":`, `"time_to_oom":`, `"some_avg10":`, `"leak_suspect":true`, `"processes":[`} {
		if !bytes.Contains(line, []byte(key)) {
			t.Errorf("no %s in %s", key, line)
		}
	}
	if bytes.IndexByte(line, 0x1b) >= 0 {
		t.Errorf("raw ESC in JSON: %q", line)
	}
	if names(snap.Services)[0] != "nova-api" {
		t.Errorf("WriteJSON reordered the caller's services")
	}
}

func TestWriteJSONInvalidUTF8(t *testing.T) {
	snap := fixture()
	snap.Services[0].Name = "bad\xff\xfename"
	snap.Services[0].Processes[0].Cmdline = "\xc3\x28 arg"
	line := jsonLine(t, snap, SortName)
	var got aggregate.Snapshot
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range got.Services {
		if strings.HasPrefix(s.Name, "bad") {
			found = true
			if !strings.Contains(s.Name, "\uFFFD") || !strings.HasSuffix(s.Name, "name") {
				t.Errorf("invalid UTF-8 name decoded as %q", s.Name)
			}
		}
	}
	if !found {
		t.Errorf("no service named bad…: %q", names(got.Services))
	}
}

func TestWriteJSONNonFinite(t *testing.T) {
	snap := fixture()
	inf := math.Inf(1)
	snap.System.GrowthBytesPerS = math.NaN()
	snap.System.TimeToOOM.Seconds = math.Inf(1)
	snap.Services[0].Growth = math.NaN()
	snap.Services[1].TimeToOOMS = &inf
	var got aggregate.Snapshot
	if err := json.Unmarshal(jsonLine(t, snap, SortRSS), &got); err != nil {
		t.Fatal(err)
	}
	if got.System.TimeToOOM != nil || got.System.GrowthBytesPerS != 0 {
		t.Errorf("non-finite system figures: %+v", got.System)
	}
	if !math.IsNaN(snap.Services[0].Growth) || !math.IsInf(snap.System.TimeToOOM.Seconds, 1) {
		t.Errorf("WriteJSON changed the caller's snapshot")
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	line := jsonLine(t, aggregate.Snapshot{}, SortRSS)
	if !bytes.Contains(line, []byte(`"services":[]`)) {
		t.Errorf("empty services: %s", line)
	}
}

// The field names scripts rely on, as a script sees them: the line decoded
// into a plain map, not into the types whose tags make the names. The
// issue's required fields, then those the README documents.
func TestWriteJSONFieldNames(t *testing.T) {
	snap := fixture()
	snap.Services = append(snap.Services, aggregate.Service{Name: "bare", Kind: "comm"}) // no pids, no figures
	var got map[string]any
	if err := json.Unmarshal(jsonLine(t, snap, SortRSS), &got); err != nil {
		t.Fatal(err)
	}
	type kind int
	const (
		num kind = iota
		str
		boolean
		list
		object
	)
	check := func(where string, m map[string]any, fields map[string]kind) {
		t.Helper()
		for f, k := range fields {
			v, ok := m[f]
			if !ok {
				t.Errorf("%s: no %q in %v", where, f, m)
				continue
			}
			ok = false
			switch v.(type) {
			case float64:
				ok = k == num
			case string:
				ok = k == str
			case bool:
				ok = k == boolean
			case []any:
				ok = k == list
			case map[string]any:
				ok = k == object
			}
			if !ok {
				t.Errorf("%s: %q is %T (%v)", where, f, v, v)
			}
		}
	}
	check("snapshot", got, map[string]kind{"time": str, "system": object, "services": list})
	if _, err := time.Parse(time.RFC3339Nano, got["time"].(string)); err != nil {
		t.Errorf("time: %v", err)
	}
	sys, _ := got["system"].(map[string]any)
	check("system", sys, map[string]kind{
		"total_bytes": num, "available_bytes": num, "used_bytes": num, "psi": object, "oom_kills": num,
		"events_per_s": num, "lost_events": num, "lost": object, "unexplained_bytes": num, "procs": num,
		"unexplained_covered": boolean, "pss_unread_procs": num, "pss_unread_bytes": num,
		"growth_bytes_per_s": num, "growth_span_s": num, "growth_covered": boolean, "time_to_oom": object,
	})
	tto, _ := sys["time_to_oom"].(map[string]any)
	check("time_to_oom", tto, map[string]kind{"domain": str, "seconds": num, "service": str,
		"headroom_bytes": num, "growth_bytes_per_s": num, "growth_span_s": num, "covered": boolean})
	svcs, _ := got["services"].([]any)
	if len(svcs) != len(snap.Services) {
		t.Fatalf("%d services, want %d", len(svcs), len(snap.Services))
	}
	for _, s := range svcs {
		m, _ := s.(map[string]any)
		check(fmt.Sprintf("service %q", m["name"]), m, map[string]kind{
			// Required by the issue.
			"name": str, "procs": num, "pids": list, "rss_bytes": num, "pss_bytes": num, "uss_bytes": num,
			"anon_bytes": num, "file_bytes": num, "shmem_bytes": num, "swap_bytes": num, "mmap_bytes": num,
			"brk_bytes": num, "growth_bytes_per_s": num, "leak_suspect": boolean, "oom_kills": num,
			// Documented besides.
			"kind": str, "pss_age_s": num, "mremap_bytes": num, "mprotect_bytes": num, "calls_per_s": num,
			"growth_1m_bytes_per_s": num, "growth_5m_bytes_per_s": num, "growth_15m_bytes_per_s": num,
			"growth_span_s": num, "growth_1m_covered": boolean, "growth_5m_covered": boolean, "growth_15m_covered": boolean,
		})
		if m["name"] == "nova-api" {
			check("nova-api", m, map[string]kind{"time_to_oom_s": num, "time_to_oom_covered": boolean, "processes": list})
			p, _ := m["processes"].([]any)[0].(map[string]any)
			check("process", p, map[string]kind{"pid": num, "ppid": num, "comm": str, "cmdline": str, "rss_bytes": num,
				"pss_bytes": num, "uss_bytes": num, "anon_bytes": num, "file_bytes": num, "shmem_bytes": num,
				"swap_bytes": num, "pss_age_s": num, "mmap_bytes": num, "brk_bytes": num, "calls": num})
		}
	}
}
