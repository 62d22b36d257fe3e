package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// Issue 15 in the TUI: the drill-down into a Python service shows keep's
// qualname, file and line, innermost first above <module>, with the
// interpreter's native frames folded; f unfolds them and folds them again.
// The workload runs before oomtrace starts (found by its scan of running
// processes, so every sample has its Python frames) and allocates once the
// service is on screen.
func TestPythonStacksTUI(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "tmux", "tmux")
	const name = "pyst-tui"
	c := pyWorkload(t, name, []string{"MALLOC_MMAP_THRESHOLD_=131072"}, "big", "32")
	c.Expect(t, "ready")
	session := "oomtrace-py-tui-test"
	exec.Command("tmux", "kill-session", "-t", session).Run()
	tmux(t, "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
		oomtraceBin(t)+" top -d 500ms --stack-sample 256KiB --service '"+name+"=comm:^"+name+"$'")
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	screenWith(t, session, name)
	c.Send(t)
	c.Expect(t, "done")
	tmux(t, "send-keys", "-t", session, "/", name, "Enter")
	screenWith(t, session, name)
	tmux(t, "send-keys", "-t", session, "Enter")
	keep := fmt.Sprintf("keep  pystacks.py:%d", pyLine(t, "def keep", "kept.append(bytearray(size))"))
	screen := screenWith(t, session, "GROWTH STACKS", "#1 held", keep, "<module>  pystacks.py:", "native frames (f shows)", "f all frames")
	t.Logf("\n%s", screen)
	if k, m := strings.Index(screen, keep), strings.Index(screen, "<module>  pystacks.py:"); k > m {
		t.Errorf("keep below <module>: frames not innermost first:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "f")
	// Unfolded, the Python frames stay on screen: every frame of #1 fits.
	if screen := screenWith(t, session, "f fold frames", keep, "<module>  pystacks.py:"); strings.Contains(screen, "(f shows)") {
		t.Errorf("after f, frames still folded:\n%s", screen)
	}
	tmux(t, "send-keys", "-t", session, "f")
	screenWith(t, session, keep, "f all frames")
}
