package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// Credentials on command lines never reach output: secrets are masked by
// default, every argument with --redact-cmdline.
func TestRedactedCmdlines(t *testing.T) {
	testutil.NeedRoot(t)
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

// An OOM victim's secrets stay out of every file of its dump.
func TestRedactedDumps(t *testing.T) {
	testutil.NeedRoot(t)
	cg := testCgroup(t, "redact", 64<<20)
	out, _, _ := startRecorder(t, "-d", "250ms", "--window", "1m")
	c := startChildIn(t, cg, "service", "svc-secret", "0", "4", "16", "--password=hunter2", "DB_TOKEN=tok3n")
	c.Expect(t, "service")
	files := waitGlob(t, filepath.Join(out, "oom-*.json"), 1, 30*time.Second)
	d, err := dump.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Victim == nil || !strings.HasSuffix(d.Victim.Cmdline, "svc-secret 0 4 16 --password=*** DB_TOKEN=***") {
		t.Errorf("victim %+v: want its cmdline with the secrets masked", d.Victim)
	}
	base := strings.TrimSuffix(files[0], ".json")
	for _, ext := range []string{".json", ".html", ".txt"} {
		waitFile(t, base+ext, 10*time.Second) // the .json is written first
		b, err := os.ReadFile(base + ext)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "tok3n") {
			t.Errorf("%s leaks a secret", base+ext)
		}
	}
}
