package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// contrib/oomtrace.service runs the recorder as the witness: never the OOM
// killer's choice, never stalled by a hard memory cap it cannot be killed
// under, and accepted by systemd.
func TestSystemdUnit(t *testing.T) {
	unit := testutil.ReadFile(t, "../contrib/oomtrace.service")
	for _, want := range []string{
		`(?m)^OOMScoreAdjust=-1000$`,
		`(?m)^ExecStart=/usr/local/bin/oomtrace record .*--out /var/log/oomtrace`,
		`(?m)^ExecStart=.*--metrics-addr 127\.0\.0\.1:\d+`,
	} {
		if !regexp.MustCompile(want).MatchString(unit) {
			t.Errorf("contrib/oomtrace.service: no line matching %s", want)
		}
	}
	if regexp.MustCompile(`(?m)^MemoryMax=`).MatchString(unit) {
		t.Error("contrib/oomtrace.service: MemoryMax with OOMScoreAdjust=-1000 leaves the cgroup's OOM killer nothing to kill")
	}
	analyze := testutil.NeedTool(t, "systemd-analyze", "systemd")
	// verify checks that ExecStart exists: point it at the binary under test.
	path := filepath.Join(t.TempDir(), "oomtrace.service")
	body := strings.ReplaceAll(unit, "/usr/local/bin/oomtrace", oomtraceBin(t))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
