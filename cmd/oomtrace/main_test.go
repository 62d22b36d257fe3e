package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: oomtrace COMMAND"},
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		{[]string{"events", "--min-size", "lots"}, `--min-size: invalid size "lots"`},
		{[]string{"events", "--min-size", "-1"}, `--min-size: invalid size "-1"`},
		{[]string{"events", "--ring-size", "5000"}, "must be a power of two"},
		{[]string{"events", "--ring-size", "2K"}, "must be a power of two"},
		{[]string{"events", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"events", "--pid", "x"}, `invalid argument "x"`},
		{[]string{"events", "--pid", "-3"}, "invalid --pid -3"},
		{[]string{"events", "--duration", "-1s"}, "invalid --duration"},
		{[]string{"events", "extra"}, `unexpected argument "extra"`},
		{[]string{"top", "--sort", "size"}, `--sort: invalid sort key "size"`},
		{[]string{"top", "-d", "0s"}, "--interval 0s: must be between 10ms and 1h"},
		{[]string{"top", "-n", "-1"}, "must not be negative"},
		{[]string{"top", "--json", "--batch"}, "exclude each other"},
		{[]string{"top", "--service", "web"}, `--service: invalid rule "web"`},
		{[]string{"top", "--service", "web=comm:("}, `invalid rule "web=comm:("`},
		{[]string{"top", "--services", "/nonexistent/rules"}, "--services: open /nonexistent/rules"},
		{[]string{"top", "--metrics-addr", "localhost"}, "--metrics-addr:"},
		{[]string{"top", "--metrics-addr", ":99999"}, "--metrics-addr:"},
		{[]string{"top", "--pss-interval", "-1s"}, "--pss-interval -1s"},
		{[]string{"top", "--leak-window", "1s"}, "--leak-window 1s"},
		{[]string{"record", "--window", "1s"}, "--window 1s"},
		{[]string{"record", "--warn-at", "-5m"}, "--warn-at -5m0s"},
		{[]string{"record", "--oom-score-adj", "-2000"}, "--oom-score-adj -2000"},
		{[]string{"record", "--out", ""}, "--out must not be empty"},
		{[]string{"record", "-d", "10ms", "--window", "24h"}, "--window 24h0m0s at --interval 10ms is 8640000 samples a service: at most 3600"},
		{[]string{"record", "--window", "2h"}, "--window 2h0m0s at --interval 1s is 7200 samples"},
		{[]string{"record", "--out", "/etc/hostname"}, "--out /etc/hostname: not a directory"},
		{[]string{"run", "--out", "/etc/hostname", "--", "true"}, "--out /etc/hostname: not a directory"},
		{[]string{"record", "--duration", "-1s"}, "invalid --duration"},
		{[]string{"run"}, "no command given"},
		{[]string{"run", "--", "/nonexistent/cmd"}, `command "/nonexistent/cmd"`},
		{[]string{"report"}, "want exactly one dump file"},
		{[]string{"doctor", "x"}, `unexpected argument "x"`},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 && tc.args != nil {
			t.Errorf("%v: error is %d lines, want one: %q", tc.args, n+1, stderr)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCLI("--help")
	if code != 0 || !strings.Contains(out, "events") {
		t.Errorf("--help: exit %d, output %q", code, out)
	}
	code, out, _ = runCLI("events", "--help")
	if code != 0 || !strings.Contains(out, "--min-size") || !strings.Contains(out, "Examples:") {
		t.Errorf("events --help: exit %d, output %q", code, out)
	}
	code, out, _ = runCLI("--version")
	if code != 0 || !strings.HasPrefix(out, "oomtrace ") {
		t.Errorf("--version: exit %d, output %q", code, out)
	}
}

// A truncated or foreign file given to report: one line, status 1.
func TestReportBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"truncated.json": `{"version": 1, "kind": "oom", "time": "2026-`,
		"foreign.json":   `{"apiVersion": "v1", "kind": "Pod"}`,
		"empty.json":     ``,
		"binary.json":    "\x00\x01\x02",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI("report", path)
		if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "oomtrace report: ") {
			t.Errorf("%s: exit %d, stderr %q", name, code, stderr)
		}
	}
	if code, _, stderr := runCLI("report", filepath.Join(dir, "missing.json")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, stderr)
	}
}
