package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/gate"
)

// Every duration flag takes a bare number of seconds as well as Go's syntax.
func TestDurationFlags(t *testing.T) {
	fs := newFlags("record", "record", "", io.Discard)
	var f recordFlags
	f.register(fs, "out")
	f.registerDuration(fs)
	args := []string{"-d", "0.25", "--window", "600", "--warn-at", "90", "--pss-interval", "0", "--leak-window", "2m", "--duration", "3"}
	if err := parse(fs, args); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want time.Duration }{
		"interval":     {f.interval, 250 * time.Millisecond},
		"window":       {f.window, 10 * time.Minute},
		"warn-at":      {f.warnAt, 90 * time.Second},
		"pss-interval": {f.pssInterval, 0},
		"leak-window":  {f.leakWindow, 2 * time.Minute},
		"duration":     {f.duration, 3 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("--%s = %v, want %v", name, c.got, c.want)
		}
	}
	// Defaults stand until set.
	fs = newFlags("record", "record", "", io.Discard)
	var g recordFlags
	g.register(fs, "out")
	if err := parse(fs, nil); err != nil || g.interval != time.Second || g.pssInterval != 10*time.Second || g.window != 10*time.Minute {
		t.Errorf("defaults: %v, interval %v, pss-interval %v, window %v", err, g.interval, g.pssInterval, g.window)
	}
}

// A budgets file: comments, blank lines, and errors naming file and line.
func TestBudgetsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "budgets.conf")
	if err := os.WriteFile(good, []byte("# gate\n\nweb=800MiB  # the API\ndb = 1.5GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := newFlags("run", "run", "", io.Discard)
	var f gateFlags
	f.register(fs)
	if err := parse(fs, []string{"--budgets", good, "--budget", "cache=64M"}); err != nil {
		t.Fatal(err)
	}
	g, err := f.config(fs)
	if err != nil || len(g.budgets) != 3 || g.budgets[0] != (gate.Budget{Service: "web", Limit: 800 << 20}) ||
		g.budgets[1] != (gate.Budget{Service: "db", Limit: 1536 << 20}) || g.budgets[2] != (gate.Budget{Service: "cache", Limit: 64 << 20}) || g.maxPct >= 0 {
		t.Fatalf("config = %+v, %v", g, err)
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("web=1G\n# x\ndb=12XB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("run", "--budgets", bad, "--", "true")
	if want := bad + `:3: budget "db=12XB": invalid size "12XB"`; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q, want 2 and %q", code, stderr, want)
	}
	dup := filepath.Join(dir, "dup.conf")
	if err := os.WriteFile(dup, []byte("web=1G\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("run", "--budgets", dup, "--budget", "web=2G", "--", "true"); code != 2 || !strings.Contains(stderr, `service "web" has more than one budget`) {
		t.Errorf("duplicate across file and flag: exit %d, stderr %q", code, stderr)
	}
}
