package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
)

// `oomtrace report` prints a dump's growth stacks, innermost frame first,
// as the .txt beside it does; --html draws the flame graph; a dump whose
// stacks break the bounds is a one-line error.
func TestReportStacks(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 25, 19, 2, 57, 0, time.UTC)
	d := &dump.Dump{Version: dump.Version, Kind: dump.KindSnapshot, Time: at, Host: dump.Host{Hostname: "h"},
		Services: []dump.Service{{Name: "app.service", Kind: "unit", Procs: 1, Stacks: []aggregate.Stack{{
			HeldBytes: 48 << 20, GrownBytes: 64 << 20, Samples: 96, Truncated: true, Frames: []aggregate.Frame{
				{Function: "keep_it", File: "app.c", Line: 12, Module: "/usr/bin/app", Kind: "native"},
				{Module: "/usr/lib/libc.so.6", Offset: 0x2724a, Kind: "native"},
			}}}}}}
	paths, err := dump.WriteFiles(dir, "snap", d)
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI("report", paths[0])
	if code != 0 || stderr != "" {
		t.Fatalf("report: exit %d, stderr %q", code, stderr)
	}
	if _, err := dumpIndexes(out, "Growth stacks of app.service: top 1 of 1",
		"#1  held 48.0MiB (100.0%)  grown 64.0MiB  samples 96  TRUNCATED", "keep_it", "app.c:12", "/usr/bin/app",
		"/usr/lib/libc.so.6+0x2724a", "(unwinding stopped here)"); err != nil {
		t.Errorf("%v in:\n%s", err, out)
	}
	if txt, _ := os.ReadFile(paths[2]); out != string(txt) {
		t.Error("report's text differs from the .txt written with the dump")
	}
	html := filepath.Join(dir, "r.html")
	if code, _, stderr := runCLI("report", "--html", html, paths[0]); code != 0 {
		t.Fatalf("report --html: exit %d, %q", code, stderr)
	}
	if b, _ := os.ReadFile(html); !strings.Contains(string(b), `<svg class="flame"`) || !strings.Contains(string(b), "<title>keep_it\n") {
		t.Error("report --html has no flame graph with keep_it")
	}

	raw, _ := os.ReadFile(paths[0])
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(raw), `"line": 12`, `"line": -12`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI("report", bad)
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "frame 1: line -12") {
		t.Errorf("bad stacks: exit %d, stderr %q", code, stderr)
	}
}
