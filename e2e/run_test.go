package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// `oomtrace run -- CMD`: the command's OOM kill gets a dump, the summary
// lists it and the service that grew, and the exit status follows the
// command (its code, or 128+signal), or --fail-on-oom.
func TestRunGateMode(t *testing.T) {
	testutil.NeedRoot(t)
	cg := testCgroup(t, "run", 32<<20)
	out := filepath.Join(t.TempDir(), "artifacts")
	// A service "gater" grows 40 MiB/s from 12 MiB in the cgroup until it is
	// killed; the script itself goes on and exits 0.
	grow := `sh -c 'echo $$ > "$1/cgroup.procs"; exec "$2" service gater 0 4 40 >/dev/null' sh "$1" "$2"; echo "gater status $?"; exit 0`
	cmd := exec.Command(oomtraceBin(t), "run", "--out", out, "-d", "200ms", "--fail-on-oom", "--stack-sample", "512KiB", "--", "sh", "-c", grow, "sh", cg.H.Dir(cg.Path), testutil.WorkloadBin(t))
	output, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit %v, want 3 (--fail-on-oom); output:\n%s", err, output)
	}
	if !strings.Contains(string(output), "gater status 137") {
		t.Errorf("the command's own output is missing:\n%s", output)
	}
	d, err := dump.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != dump.KindSummary || d.Run == nil || d.Run.ExitCode != 0 || len(d.Kills) != 1 || d.Kills[0].Victim.Comm != "gater" || d.Kills[0].Victim.Service != "gater" {
		t.Fatalf("summary: kind %s run %+v kills %+v", d.Kind, d.Run, d.Kills)
	}
	victim := d.Kills[0].Victim.PID
	var svc *dump.Service
	for i := range d.Services {
		if d.Services[i].Name == "gater" {
			svc = &d.Services[i]
		}
	}
	if svc == nil || !svc.Victim || svc.PeakBytes < 16<<20 {
		t.Errorf("summary service gater %+v, want the victim's, peaking above 16 MiB", svc)
	}
	// The gater's growth is sampled (--stack-sample 512KiB): the
	// stacks' pprof profile comes with the three files.
	if len(d.Run.Dumps) != 4 || !strings.HasSuffix(d.Run.Dumps[3], ".pb.gz") {
		t.Errorf("summary lists dumps %v, want the kill's three files and its stacks' profile", d.Run.Dumps)
	}
	for _, f := range d.Run.Dumps {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	txt, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("Victim      pid %d  comm gater  service gater", victim),
		"Constraint  CONSTRAINT_MEMCG", "\ngater ", "exit code 0", "dumps written: 4",
	} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("summary.txt lacks %q:\n%s", want, txt)
		}
	}

	// Without --fail-on-oom a kill leaves the command's status: 0.
	hog := `sh -c 'echo $$ > "$1/cgroup.procs"; echo go | exec "$2" hog 4194304 >/dev/null' sh "$1" "$2"; exit 0`
	out2 := filepath.Join(t.TempDir(), "artifacts")
	cmd = exec.Command(oomtraceBin(t), "run", "--out", out2, "-d", "200ms", "--", "sh", "-c", hog, "sh", cg.H.Dir(cg.Path), testutil.WorkloadBin(t))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("a kill without --fail-on-oom: %v, want status 0 from the command:\n%s", err, b)
	}
	if d, err := dump.ReadFile(filepath.Join(out2, "summary.json")); err != nil || len(d.Kills) != 1 {
		t.Errorf("summary of the run without --fail-on-oom: %v, want one kill", err)
	}

	// Without a kill, the command's status passes through: an exit code, or
	// 128+signal for a command killed by a signal.
	cmd = exec.Command(oomtraceBin(t), "run", "--out", out, "-d", "200ms", "--fail-on-oom", "--", "sh", "-c", "exit 7")
	if err := cmd.Run(); err == nil || err.(*exec.ExitError).ExitCode() != 7 {
		t.Errorf("exit %v, want 7 from the command", err)
	}
	cmd = exec.Command(oomtraceBin(t), "run", "--out", out, "-d", "200ms", "--", "sh", "-c", "kill -TERM $$")
	if err := cmd.Run(); err == nil || err.(*exec.ExitError).ExitCode() != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %v, want 143 for a command killed by SIGTERM", err)
	}
	cmd = exec.Command(oomtraceBin(t), "run", "--out", out, "--", "/nonexistent/cmd")
	if b, err := cmd.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != 2 || strings.Count(strings.TrimSpace(string(b)), "\n") != 0 {
		t.Errorf("missing command: %v, %q; want one line and status 2", err, b)
	}
}
