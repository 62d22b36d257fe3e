package oomtrace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/dump"
)

// `oomtrace run -- CMD`: the command's OOM kill gets a dump, the summary
// lists it, and the exit status follows the command, or --fail-on-oom.
func TestRunGateMode(t *testing.T) {
	requireRoot(t)
	cg := testCgroup(t, "run", 32<<20)
	out := filepath.Join(t.TempDir(), "artifacts")
	// The hog is killed; the script itself goes on and exits 0.
	script := `(echo $$ > /dev/null; sh -c 'echo $$ > "$1/cgroup.procs"; echo go | exec "$2" hog 4194304 >/dev/null' sh "$1" "$2"); echo "hog status $?"; exit 0`
	cmd := exec.Command(oomtraceBin(t), "run", "--out", out, "-d", "200ms", "--fail-on-oom", "--", "sh", "-c", script, "sh", cg.H.Dir(cg.Path), workloadBin(t))
	output, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3 (--fail-on-oom); output:\n%s", err, output)
	}
	if !strings.Contains(string(output), "hog status 137") {
		t.Errorf("the command's own output is missing:\n%s", output)
	}
	d, err := dump.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != dump.KindSummary || d.Run == nil || d.Run.ExitCode != 0 || len(d.Kills) != 1 || d.Kills[0].Victim.Comm != "workload" {
		t.Fatalf("summary: kind %s run %+v kills %+v", d.Kind, d.Run, d.Kills)
	}
	if len(d.Run.Dumps) != 3 {
		t.Errorf("summary lists dumps %v, want the kill's three files", d.Run.Dumps)
	}
	for _, f := range d.Run.Dumps {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "summary.txt")); err != nil {
		t.Error(err)
	}

	// Without a kill, the command's status passes through.
	cmd = exec.Command(oomtraceBin(t), "run", "--out", out, "-d", "200ms", "--fail-on-oom", "--", "sh", "-c", "exit 7")
	if err := cmd.Run(); err == nil || err.(*exec.ExitError).ExitCode() != 7 {
		t.Errorf("exit %v, want 7 from the command", err)
	}
	cmd = exec.Command(oomtraceBin(t), "run", "--out", out, "--", "/nonexistent/cmd")
	if b, err := cmd.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != 2 || strings.Count(strings.TrimSpace(string(b)), "\n") != 0 {
		t.Errorf("missing command: %v, %q; want one line and status 2", err, b)
	}
}
