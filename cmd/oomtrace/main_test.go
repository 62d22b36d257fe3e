package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/history"
	"github.com/oomtrace/oomtrace/internal/kmsg"
	"github.com/oomtrace/oomtrace/internal/recorder"
	"github.com/oomtrace/oomtrace/tracer"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// goldenOOM is a dump that is not a run's summary.
const goldenOOM = "../../internal/dump/testdata/golden/oom.json"

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
		{[]string{"top", "-d", "0"}, "--interval 0s: must be between 10ms and 1h"},
		{[]string{"top", "-d", "7200"}, "--interval 2h0m0s: must be between 10ms and 1h"},
		{[]string{"top", "-d", "1x"}, `invalid duration "1x"`},
		{[]string{"top", "-d", "1e3"}, `invalid duration "1e3"`},
		{[]string{"top", "-n", "-1"}, "must not be negative"},
		{[]string{"top", "--json", "--batch"}, "exclude each other"},
		{[]string{"top", "--service", "web"}, `--service: invalid rule "web"`},
		{[]string{"top", "--service", "web=comm:("}, `invalid rule "web=comm:("`},
		{[]string{"top", "--services", "/nonexistent/rules"}, "--services: open /nonexistent/rules"},
		{[]string{"top", "--metrics-addr", "localhost"}, "--metrics-addr:"},
		{[]string{"top", "--metrics-addr", ":99999"}, "--metrics-addr:"},
		{[]string{"top", "--pss-interval", "-1s"}, "--pss-interval -1s"},
		{[]string{"top", "--leak-window", "1s"}, "--leak-window 1s"},
		{[]string{"top", "--leak-window", "16m"}, "--leak-window 16m0s: at most 15m"},
		{[]string{"events", "--pid", "4294967297"}, "invalid --pid 4294967297"},
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
		{[]string{"top", "--remote-write", "ftp://h/w"}, `--remote-write "ftp://h/w": want an http:// or https:// URL`},
		{[]string{"record", "--remote-write", "http://[::1/w"}, `--remote-write "http://[::1/w": missing ']'`},
		{[]string{"run", "--remote-write", "localhost:9090", "--", "true"}, "--remote-write"},
		{[]string{"top", "--remote-write", "http://h/w", "--remote-write-header", "X-A"}, `--remote-write-header "X-A": want NAME=VALUE`},
		{[]string{"top", "--remote-write", "http://h/w", "--remote-write-header", "X-A=1\nX-B: 2"}, "control character"},
		{[]string{"top", "--remote-write", "http://h/w", "--remote-write-header", "content-type=x"}, "Content-Type: set by oomtrace itself"},
		{[]string{"top", "--remote-write", "http://h/w", "--remote-write-token-file", "/nonexistent/token"}, "--remote-write-token-file: open /nonexistent/token"},
		{[]string{"top", "--remote-write", "http://h/w", "--remote-write-token-file", "/etc/hostname", "--remote-write-header", "Authorization=x"}, "exclude each other"},
		{[]string{"record", "--remote-write-header", "X-A=1"}, "need --remote-write"},
		{[]string{"report"}, "want exactly one dump file"},
		{[]string{"run", "--budget", "web", "--", "true"}, `--budget: invalid budget "web" (want SERVICE=SIZE`},
		{[]string{"run", "--budget", "web=1Q", "--", "true"}, `--budget: budget "web=1Q": invalid size "1Q"`},
		{[]string{"run", "--budget", "web=1G", "--budget", "web=2G", "--", "true"}, `service "web" has more than one budget`},
		{[]string{"run", "--budgets", "/nonexistent/budgets", "--", "true"}, "--budgets: open /nonexistent/budgets: no such file"},
		{[]string{"run", "--max-regression", "20", "--", "true"}, "--max-regression needs --baseline"},
		{[]string{"run", "--baseline", "/nonexistent/summary.json", "--", "true"}, "--baseline: /nonexistent/summary.json: no such file"},
		{[]string{"run", "--baseline", goldenOOM, "--", "true"}, "not a run's summary"},
		{[]string{"run", "--baseline", goldenOOM, "--max-regression", "-5", "--", "true"}, "--max-regression -5: must be a percentage"},
		{[]string{"run", "--baseline", goldenOOM, "--max-regression", "NaN", "--", "true"}, "--max-regression NaN: must be a percentage"},
		{[]string{"compare", goldenOOM}, "want two summary files"},
		{[]string{"compare", "/nonexistent/a.json", goldenOOM}, "/nonexistent/a.json: no such file"},
		{[]string{"compare", goldenOOM, goldenOOM}, "a dump of kind oom, not a run's summary"},
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

// A dump the recorder wrote, read back by `oomtrace report`: the text names
// the victim, the trigger and the constraint, and equals the .txt written
// with the dump; --html writes one self-contained file equal to the .html.
func TestReportDump(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 25, 19, 2, 57, 412e6, time.UTC)
	now := at
	rec := recorder.New(recorder.Config{
		OutDir: dir, Window: time.Minute, Now: func() time.Time { return now },
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		ServiceOf: func(_ int, comm string) string { return comm + ".service" },
		VMStat:    func() (uint64, error) { return 0, nil },
	}, history.New(history.Config{}))
	for i := 0; i < 5; i++ {
		now = at.Add(time.Duration(i-5) * time.Second)
		rec.OnSnapshot(aggregate.Snapshot{Time: now, Services: []aggregate.Service{
			{Name: "bigsvc.service", Kind: "unit", Procs: 1, PIDs: []int{4242}, Memory: aggregate.Memory{RSS: uint64(40+5*i) << 20}},
			{Name: "trig<b>.service", Kind: "unit", Procs: 1, PIDs: []int{4343}, Memory: aggregate.Memory{RSS: 8 << 20}},
		}})
	}
	now = at
	rec.OnEvent(&tracer.Event{Type: tracer.EventOOMKill, Time: at, PID: 4242, OOM: &tracer.OOMKill{
		Victim: tracer.Task{PID: 4242, Comm: "bigsvc"}, Trigger: tracer.Task{PID: 4343, Comm: "trig<b>"},
		AnonRSSBytes: 60 << 20, OOMScoreAdj: 1000, Source: "tp_btf", MemcgPath: "/test/cg"}})
	rec.OnReport(kmsg.Report{PID: 4242, Comm: "bigsvc", Trigger: "trig<b>", TriggerPID: 4343,
		Constraint: "CONSTRAINT_MEMCG", OOMMemcg: "/test/cg", TaskMemcg: "/test/cg"})
	base := filepath.Join(dir, "oom-20261125T190257.412Z-4242")
	if _, err := os.Stat(base + ".json"); err != nil {
		t.Fatalf("the recorder wrote no dump: %v", err)
	}

	code, out, stderr := runCLI("report", base+".json")
	if code != 0 || stderr != "" {
		t.Fatalf("report: exit %d, stderr %q", code, stderr)
	}
	if _, err := dumpIndexes(out, "Victim      pid 4242  comm bigsvc  service bigsvc.service",
		"Trigger     pid 4343  comm trig<b>  service trig<b>.service", "Constraint  CONSTRAINT_MEMCG", "bigsvc.service"); err != nil {
		t.Errorf("%v in:\n%s", err, out)
	}
	if txt, _ := os.ReadFile(base + ".txt"); out != string(txt) {
		t.Errorf("report's text differs from the .txt written with the dump")
	}

	htmlPath := filepath.Join(dir, "out.html")
	if code, out, stderr := runCLI("report", "--html", htmlPath, base+".json"); code != 0 || out != "" || stderr != "" {
		t.Fatalf("report --html: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	st, err := os.Stat(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("--html file mode %v, want 0600", st.Mode().Perm())
	}
	page, _ := os.ReadFile(htmlPath)
	html := string(page)
	if _, err := dumpIndexes(html, "<!DOCTYPE html>", "<style>", "<svg", "bigsvc", "4343", "trig&lt;b&gt;", "CONSTRAINT_MEMCG", "</html>"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"http://", "https://", "//cdn", "<script src", "<link", "@import", "trig<b>"} {
		if strings.Contains(html, bad) {
			t.Errorf("--html output holds %q: not self-contained or not escaped", bad)
		}
	}
	if want, _ := os.ReadFile(base + ".html"); html != string(want) {
		t.Errorf("report --html differs from the .html written with the dump")
	}
}

// dumpIndexes checks that s holds each of want, in order.
func dumpIndexes(s string, want ...string) (int, error) {
	at := 0
	for _, w := range want {
		i := strings.Index(s[at:], w)
		if i < 0 {
			return at, fmt.Errorf("%q missing (after offset %d)", w, at)
		}
		at += i + len(w)
	}
	return at, nil
}
