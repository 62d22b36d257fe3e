package oomtrace

import (
	"os/exec"
	"strings"
	"testing"
)

// Credentials on command lines never reach output: secrets are masked by
// default, every argument with --redact-cmdline.
func TestRedactedCmdlines(t *testing.T) {
	requireRoot(t)
	sh := exec.Command("sh", "-c", "sleep 60; true", "sh", "--password=hunter2", "DB_TOKEN=tok3n")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	for _, tc := range []struct {
		flag, want string
	}{
		{"", "sh -c sleep 60; true sh --password=*** DB_TOKEN=***"},
		{"--redact-cmdline", "sh *** *** *** *** ***"},
	} {
		args := []string{"top", "--json", "-n", "1"}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		out, err := exec.Command(oomtraceBin(t), args...).Output()
		if err != nil {
			t.Fatalf("top %v: %v", args, err)
		}
		if strings.Contains(string(out), "hunter2") || strings.Contains(string(out), "tok3n") {
			t.Errorf("top %s leaks a secret", tc.flag)
		}
		if !strings.Contains(string(out), `"cmdline":"`+tc.want+`"`) {
			t.Errorf("top %s: no process with cmdline %q", tc.flag, tc.want)
		}
	}
}
