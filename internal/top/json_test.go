package top

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

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
