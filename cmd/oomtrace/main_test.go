package main

import (
	"bytes"
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
