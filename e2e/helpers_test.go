package e2e

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// topJSON runs `oomtrace top --json ARGS...` and hands each snapshot, with
// its line, to each as soon as it is read, so the test reads /proc right
// after it; each returns false to stop early. It returns how many snapshots
// were read, and fails the test if top exits with an error.
func topJSON(t *testing.T, args []string, each func(n int, line []byte, snap aggregate.Snapshot) bool) int {
	t.Helper()
	cmd := exec.Command(oomtraceBin(t), append([]string{"top", "--json"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		var snap aggregate.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &snap); err != nil {
			t.Fatalf("line %d is not a snapshot: %v", n, err)
		}
		if !each(n, sc.Bytes(), snap) {
			cmd.Process.Kill()
			cmd.Wait()
			return n
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("oomtrace top: %v after %d snapshots", err, n)
	}
	return n
}
