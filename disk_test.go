package oomtrace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
)

// A full disk: a clear log line, the recorder keeps running, and the dump
// is written once there is room again. Nothing torn is ever left behind.
func TestDiskFull(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "small")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8k", "oomtrace-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	cmd := exec.Command(oomtraceBin(t), "record", "--out", dir, "-d", "250ms", "--ready-file", filepath.Join(t.TempDir(), "ready"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	ready := cmd.Args[len(cmd.Args)-1]
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFile(t, ready, 15*time.Second)

	cmd.Process.Signal(syscall.SIGUSR2)
	for end := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "cannot write dump"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no error logged for a full disk:\n%s", stderr.String())
		}
	}
	if line := stderr.String(); !strings.Contains(line, "no space left on device") || !strings.Contains(line, "will retry") {
		t.Errorf("log does not say why or what next:\n%s", line)
	}
	if cmd.ProcessState != nil || syscall.Kill(cmd.Process.Pid, 0) != nil {
		t.Fatal("the recorder died on a full disk")
	}
	assertNoTorn(t, dir)
	if out, err := exec.Command("mount", "-o", "remount,size=16m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	files := waitGlob(t, filepath.Join(dir, "snapshot-*.json"), 1, 15*time.Second)
	if _, err := dump.ReadFile(files[0]); err != nil {
		t.Errorf("retried dump: %v", err)
	}

	// SIGTERM right after SIGUSR2: whatever is there is whole.
	cmd.Process.Signal(syscall.SIGUSR2)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	assertNoTorn(t, dir)
}

// assertNoTorn checks every visible dump decodes and no temp file is left.
func assertNoTorn(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
			t.Errorf("temporary file %s left behind", name)
		case strings.HasSuffix(name, ".json"):
			if _, err := dump.ReadFile(filepath.Join(dir, name)); err != nil {
				t.Errorf("torn dump %s: %v", name, err)
			}
		}
	}
}
