package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// gateScript starts two workload services (NAME OWN-MiB each, 8 MiB shared
// on top), says their pids, waits for a line (the test sends it once
// oomtrace has sampled both at their full size), prints their PSS and RSS
// from /proc, stops them and exits with CODE.
const gateScript = `"$1" service "$2" 0 "$3" 0 & a=$!
"$1" service "$4" 0 "$5" 0 & b=$!
read line
echo "pss $a $(awk '/^Pss:/ {p=$2} /^Rss:/ {r=$2} END {print p, r}' /proc/$a/smaps_rollup) $b $(awk '/^Pss:/ {p=$2} /^Rss:/ {r=$2} END {print p, r}' /proc/$b/smaps_rollup)"
kill $a $b; wait; exit "$6"`

// gateRun is one `oomtrace run` of gateScript; it returns the run's exit
// status, the summary and each service's PSS and RSS in bytes as /proc said
// at the end. The services hold their size once they said so, but their PSS
// still moves with the sharers of their file pages (libc: in a fresh root
// few processes share it), within their RSS.
func gateRun(t *testing.T, out string, svcs [2]string, mbs [2]int, code int, flags ...string) (int, *dump.Dump, map[string]uint64, map[string]uint64) {
	t.Helper()
	port := freePort(t)
	// -d 0.2: a bare number is seconds.
	args := append([]string{"run", "--out", out, "-d", "0.2", "--pss-interval", "0", "--metrics-addr", fmt.Sprintf(":%d", port)}, flags...)
	args = append(args, "--", "sh", "-c", gateScript, "sh", testutil.WorkloadBin(t), svcs[0], strconv.Itoa(mbs[0]), svcs[1], strconv.Itoa(mbs[1]), strconv.Itoa(code))
	cmd := exec.Command(oomtraceBin(t), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	next := func(prefix string) []string {
		for lines.Scan() {
			if f := strings.Fields(lines.Text()); len(f) > 0 && f[0] == prefix {
				return f
			}
		}
		t.Fatalf("no %q line from the run; stderr:\n%s", prefix, stderr.String())
		return nil
	}
	next("service")
	next("service")
	// Both services at their full size in oomtrace's samples: PSS (every
	// member read) at least their own memory plus the shared 8 MiB.
	for i, name := range svcs {
		scrapeAtLeast(t, port, fmt.Sprintf(`oomtrace_service_pss_bytes{kind="tree",service=%q}`, name), float64(mbs[i]+8)*(1<<20))
	}
	io.WriteString(stdin, "go\n")
	f := next("pss")
	pss, rss := map[string]uint64{}, map[string]uint64{}
	for i, name := range svcs {
		p, err1 := strconv.ParseUint(f[2+3*i], 10, 64)
		r, err2 := strconv.ParseUint(f[3+3*i], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("pss line %q: %v", f, err)
		}
		pss[name], rss[name] = p<<10, r<<10
	}
	io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	d, err := dump.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	t.Logf("exit %d; stderr:\n%s", status, stderr.String())
	return status, d, pss, rss
}

// `run --budget`: a service over its budget fails the run with 4, one under
// it passes, one never seen is listed as such; the summary's peaks match
// /proc. Then a second run whose service grows three times as much, against
// the first as --baseline: a regression, 4; `compare` shows the change.
// CMD's own failure takes precedence over a budget's.
func TestRunBudgetsAndBaseline(t *testing.T) {
	testutil.NeedRoot(t)
	dir := t.TempDir()
	budgets := filepath.Join(dir, "budgets.conf")
	if err := os.WriteFile(budgets, []byte("# peak PSS limits\ngate-small = 64MiB\n\nnot-running=1GiB  # never started\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svcs := [2]string{"gate-big", "gate-small"}
	outA := filepath.Join(dir, "a")
	// gate-big: 16 MiB + 8 shared, over its 20 MiB budget; gate-small: 4 + 8.
	status, a, pssA, rssA := gateRun(t, outA, svcs, [2]int{16, 4}, 0, "--budget", "gate-big=20MiB", "--budgets", budgets)
	if status != 4 {
		t.Fatalf("exit %d, want 4 (gate-big over its budget)", status)
	}
	want := map[string]string{"gate-big": dump.BudgetFail, "gate-small": dump.BudgetPass, "not-running": dump.BudgetNotSeen}
	if len(a.Run.Budgets) != 3 {
		t.Fatalf("summary budgets %+v, want 3", a.Run.Budgets)
	}
	for _, b := range a.Run.Budgets {
		if b.Result != want[b.Service] {
			t.Errorf("budget %s: %s, want %s", b.Service, b.Result, want[b.Service])
		}
		// The peak lies between /proc's PSS at the end (less 3%) and its RSS
		// (plus 3%): the most PSS can be for memory of a constant size.
		if p, ok := pssA[b.Service]; ok && (b.PeakPSSBytes < p-p*3/100 || b.PeakPSSBytes > rssA[b.Service]+rssA[b.Service]*3/100 || b.PeakTime == nil || b.PeakTime.Before(a.Run.Start)) {
			t.Errorf("budget %s: peak %d at %v, want from /proc's PSS %d (less 3%%) to its RSS %d (plus 3%%)", b.Service, b.PeakPSSBytes, b.PeakTime, p, rssA[b.Service])
		}
	}
	txt, err := os.ReadFile(filepath.Join(outA, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Budgets (peak PSS over the run)", "20.0MiB", "FAIL", "not-running", "not seen (no failure)"} {
		if !bytes.Contains(txt, []byte(w)) {
			t.Errorf("summary.txt lacks %q:\n%s", w, txt)
		}
	}
	html, err := os.ReadFile(filepath.Join(outA, "summary.html"))
	if err != nil || !bytes.Contains(html, []byte(`<td class="mono">gate-big</td>`)) || !bytes.Contains(html, []byte("FAIL")) {
		t.Errorf("summary.html lacks the budgets: %v", err)
	}

	// Three times the growth, against the first run.
	outB := filepath.Join(dir, "b")
	status, b, pssB, _ := gateRun(t, outB, svcs, [2]int{48, 4}, 0, "--baseline", filepath.Join(outA, "summary.json"), "--max-regression", "20")
	if status != 4 {
		t.Fatalf("exit %d, want 4 (gate-big regressed)", status)
	}
	c := b.Run.Baseline
	if c == nil {
		t.Fatal("summary has no baseline comparison")
	}
	var bigChange int64
	for i, s := range c.Services {
		if i > 0 && s.PeakChangeBytes > c.Services[i-1].PeakChangeBytes {
			t.Errorf("not sorted by change, largest growth first: %s %+d after %s %+d", s.Name, s.PeakChangeBytes, c.Services[i-1].Name, c.Services[i-1].PeakChangeBytes)
		}
		switch s.Name {
		case "gate-big":
			bigChange = s.PeakChangeBytes
			delta := int64(pssB["gate-big"]) - int64(pssA["gate-big"])
			if !s.Regression || s.Status != dump.ChangeBoth || !within(uint64(s.PeakChangeBytes), uint64(delta), 0.05) {
				t.Errorf("gate-big: %+v, want a regression of about %d bytes (/proc)", s, delta)
			}
		case "gate-small":
			if s.Regression {
				t.Errorf("gate-small regressed: %+v", s)
			}
		}
	}

	// compare: the same change, as JSON and as a table.
	out, err := exec.Command(oomtraceBin(t), "compare", "--json", filepath.Join(outA, "summary.json"), filepath.Join(outB, "summary.json")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var cj dump.Comparison
	if err := json.Unmarshal(out, &cj); err != nil {
		t.Fatal(err)
	}
	var big *dump.ServiceChange
	for i := range cj.Services {
		if cj.Services[i].Name == "gate-big" {
			big = &cj.Services[i]
		}
	}
	if big == nil || big.A == nil || big.B == nil || big.PeakChangeBytes != bigChange || big.PeakChangePct == nil || *big.PeakChangePct < 100 {
		t.Fatalf("compare --json gate-big: %+v", big)
	}
	table, err := exec.Command(oomtraceBin(t), "compare", filepath.Join(outA, "summary.json"), filepath.Join(outB, "summary.json")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^gate-big +\S+ +\S+ +\+\S+ +` + regexp.QuoteMeta(fmt.Sprintf("%+.1f%%", *big.PeakChangePct)) + " ").Match(table) {
		t.Errorf("compare table lacks gate-big's change %+.1f%%:\n%s", *big.PeakChangePct, table)
	}

	// CMD's own failure comes first: 7, though gate-big is over budget.
	status, d, _, _ := gateRun(t, filepath.Join(dir, "c"), svcs, [2]int{16, 4}, 7, "--budget", "gate-big=20MiB")
	if status != 7 || len(d.Run.Budgets) != 1 || d.Run.Budgets[0].Result != dump.BudgetFail {
		t.Errorf("exit %d, budgets %+v; want 7 and gate-big failed", status, d.Run.Budgets)
	}
}

// A command run starts itself, with no shell between, is a service of its
// own, not part of oomtrace's: its budget is checked against its own PSS,
// and fails the run.
func TestRunDirectCommandBudget(t *testing.T) {
	testutil.NeedRoot(t)
	out := filepath.Join(t.TempDir(), "out")
	port := freePort(t)
	c := testutil.StartCommand(t, exec.Command(oomtraceBin(t), "run", "--out", out, "-d", "0.2", "--pss-interval", "0", "--metrics-addr", fmt.Sprintf(":%d", port),
		"--budget", "workload=8MiB", "--", testutil.WorkloadBin(t), "group", "1", "24", "0"))
	c.Expect(t, "ready")
	scrapeAtLeast(t, port, `oomtrace_service_pss_bytes{kind="tree",service="workload"}`, 24<<20)
	c.Send(t) // the command exits
	for c.Lines.Scan() {
	}
	if ee, ok := c.Cmd.Wait().(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Fatalf("exit %v, want 4 (workload over its budget)", ee)
	}
	d, err := dump.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Run.Budgets) != 1 || d.Run.Budgets[0].Result != dump.BudgetFail || d.Run.Budgets[0].PeakPSSBytes < 24<<20 {
		t.Errorf("budgets %+v, want workload's failed with a peak of at least 24 MiB", d.Run.Budgets)
	}
}
