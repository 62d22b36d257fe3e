package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// The Vagrantfile is what a developer on a Mac or an old kernel runs.
func TestVagrantfileValidates(t *testing.T) {
	cmd := exec.Command(testutil.NeedTool(t, "vagrant", "vagrant"), "validate", "--ignore-provider")
	cmd.Dir = ".." // the repository's root, where the Vagrantfile is
	cmd.Env = append(os.Environ(), "VAGRANT_HOME="+t.TempDir(), "VAGRANT_CHECKPOINT_DISABLE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "validated successfully") {
		t.Errorf("vagrant validate: %v\n%s", err, out)
	}
}
