package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

func tmux(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("tmux", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// screenWith polls the pane until every want is on screen.
func screenWith(t *testing.T, session string, want ...string) string {
	t.Helper()
	var screen string
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		screen = tmux(t, "capture-pane", "-p", "-t", session)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(screen, w)
		}
		if ok {
			return screen
		}
	}
	t.Fatalf("screen lacks %q:\n%s", want, screen)
	return ""
}

// The full-screen view, driven like a person would in a terminal: services
// appear, sorting by name reorders them, enter opens a service's processes,
// a hostile process name shows escaped, and q quits.
func TestTopTUIInTmux(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "tmux", "tmux")
	testutil.StartService(t, "tui-alpha", 2, 8, 0)
	testutil.StartService(t, "tui-zulu", 0, 96, 0)
	testutil.StartService(t, "evil\x1b[31m", 0, 4, 0)
	session := "oomtrace-tui-test"
	exec.Command("tmux", "kill-session", "-t", session).Run()
	tmux(t, "new-session", "-d", "-s", session, "-x", "200", "-y", "60", oomtraceBin(t)+" top -d 500ms")
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })

	screen := screenWith(t, session, "sort rss", "tui-alpha", "tui-zulu", `evil\x1b[31m`)
	for _, h := range []string{"s sort", "r/p/g/o/n rss/pss/growth/oom/name", "enter processes", "/ filter", "q quit"} {
		if !strings.Contains(screen, h) {
			t.Errorf("help line lacks %q:\n%s", h, screen)
		}
	}
	// Default sort is RSS: the 96 MiB service comes before the 3×8 MiB one.
	if strings.Index(screen, "tui-zulu") > strings.Index(screen, "tui-alpha") {
		t.Errorf("by RSS tui-zulu should come first:\n%s", screen)
	}
	// The header names the sort key of the rows drawn with it.
	tmux(t, "send-keys", "-t", session, "n")
	screen = screenWith(t, session, "sort name", "tui-alpha", "tui-zulu")
	if strings.Index(screen, "tui-alpha") > strings.Index(screen, "tui-zulu") {
		t.Errorf("by name tui-alpha should come first:\n%s", screen)
	}
	// Filter to one service, open it: its three processes are listed.
	tmux(t, "send-keys", "-t", session, "/", "tui-alpha", "Enter")
	screenWith(t, session, "tui-alpha")
	tmux(t, "send-keys", "-t", session, "Enter")
	screen = screenWith(t, session, "PID", "CMDLINE", "service tui-alpha", "esc back", "r/p/g/o/n rss/pss/growth/oom/name", "q quit")
	if n := strings.Count(screen, "tui-alpha 2 8 0"); n != 3 {
		t.Errorf("drill-down shows %d processes with the service's command line, want 3:\n%s", n, screen)
	}
	tmux(t, "send-keys", "-t", session, "Escape")
	tmux(t, "send-keys", "-t", session, "q")
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if exec.Command("tmux", "has-session", "-t", session).Run() != nil {
			return // q ended oomtrace, and the session with it
		}
	}
	t.Errorf("q did not quit:\n%s", tmux(t, "capture-pane", "-p", "-t", session))
}
