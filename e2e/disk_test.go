package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// A full disk: a clear log line, the recorder keeps running, and the dump
// is written once there is room again. Nothing torn is ever left behind.
func TestDiskFull(t *testing.T) {
	testutil.NeedRoot(t)
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

// --out is checked at start: a regular file is a usage error (exit 2, one
// line); a missing directory is created 0700; one that cannot be created is
// warned about at once, the recorder keeps running and writes there once it
// can.
func TestOutDirAtStart(t *testing.T) {
	testutil.NeedRoot(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	out, err := exec.Command(oomtraceBin(t), "record", "--out", file, "--duration", "1s").CombinedOutput()
	if code := exitCode(err); code != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "--out "+file+": not a directory") {
		t.Errorf("--out naming a file: exit %d, output %q; want exit 2 and one line", code, out)
	}

	missing := filepath.Join(t.TempDir(), "a", "b")
	startRecorder(t, "--out", missing, "-d", "250ms")
	if st, err := os.Stat(missing); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("missing --out not created 0700: %v %v", st, err)
	}

	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "oomtrace-test", ro).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", ro).Run() })
	dir := filepath.Join(ro, "dumps")
	_, rec, stderr := startRecorder(t, "--out", dir, "-d", "250ms")
	if log := stderr.String(); !strings.Contains(log, "not writable") || !strings.Contains(log, "read-only file system") || !strings.Contains(log, "retried") {
		t.Errorf("no clear warning at start for an --out that cannot be created:\n%s", log)
	}
	if syscall.Kill(rec.Process.Pid, 0) != nil {
		t.Fatal("the recorder stopped on an unwritable --out")
	}
	if out, err := exec.Command("mount", "-o", "remount,rw", ro).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	rec.Process.Signal(syscall.SIGUSR2)
	waitGlob(t, filepath.Join(dir, "snapshot-*.json"), 1, 15*time.Second)
}

func exitCode(err error) int {
	if e, ok := err.(*exec.ExitError); ok {
		return e.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
