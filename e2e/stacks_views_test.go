package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

var keepchurn = struct {
	once sync.Once
	dir  string
	err  error
}{}

// keepchurnBin compiles testdata/keepchurn.c once per build: "fp" with
// frame pointers, "nofp" without (-fomit-frame-pointer -O2, as Debian
// builds), or uses the prebuilt keepchurn-fp and keepchurn-nofp in the
// directory OOMTRACE_KEEPCHURN names.
func keepchurnBin(t *testing.T, build string) string {
	t.Helper()
	if d := os.Getenv("OOMTRACE_KEEPCHURN"); d != "" {
		return filepath.Join(d, "keepchurn-"+build)
	}
	testutil.NeedTool(t, "cc", "gcc libc6-dev")
	keepchurn.once.Do(func() {
		dir, err := os.MkdirTemp("", "oomtrace-keepchurn")
		if err != nil {
			keepchurn.err = err
			return
		}
		keepchurn.dir = dir
		for b, flags := range map[string][]string{"fp": {"-O2", "-fno-omit-frame-pointer"}, "nofp": {"-O2", "-fomit-frame-pointer"}} {
			args := append(flags, "-g", "-Wall", "-o", filepath.Join(dir, "keepchurn-"+b), "testdata/keepchurn.c")
			if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
				keepchurn.err = fmt.Errorf("cc %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if keepchurn.err != nil {
		t.Fatal(keepchurn.err)
	}
	return filepath.Join(keepchurn.dir, "keepchurn-"+build)
}

// kcRun is a keepchurn started on the first snapshot, and what each of its
// processes said it allocated.
type kcRun struct {
	in   *os.File
	done chan [3]uint64 // pid, keep, churn
}

func startKeepchurn(t *testing.T, bin, name string, mib, workers int, mode string) *kcRun {
	t.Helper()
	cmd := exec.Command(bin, name, strconv.Itoa(mib), strconv.Itoa(workers), mode)
	c := testutil.StartCommand(t, cmd)
	r := &kcRun{done: make(chan [3]uint64, workers+1)}
	go func() {
		for c.Lines.Scan() {
			var d [3]uint64
			if _, err := fmt.Sscanf(c.Lines.Text(), "done %d %d %d", &d[0], &d[1], &d[2]); err == nil {
				r.done <- d
			}
		}
	}()
	c.Send(t)
	return r
}

// stacksAfter runs keepchurn under `top --json` and returns the snapshot
// taken two ticks after every process said it was done (its samples read,
// its maps checked), and the bytes they allocated from keep and churn.
func stacksAfter(t *testing.T, bin, name string, mib, workers int, mode string) (aggregate.Service, aggregate.Snapshot, uint64, uint64) {
	t.Helper()
	var run *kcRun
	var keep, churn uint64
	var doneAt time.Time
	got := 0
	var svc aggregate.Service
	var last aggregate.Snapshot
	args := []string{"-d", "500ms", "--service", name + "=comm:^" + name + "$"}
	topJSON(t, args, func(n int, line []byte, snap aggregate.Snapshot) bool {
		if n == 1 {
			run = startKeepchurn(t, bin, name, mib, workers, mode)
		}
		for got < workers+1 {
			select {
			case d := <-run.done:
				keep, churn, got = keep+d[1], churn+d[2], got+1
				doneAt = time.Now()
				continue
			default:
			}
			break
		}
		if n > 120 {
			t.Fatalf("%d of %d processes done after %d snapshots", got, workers+1, n)
		}
		if got < workers+1 || !snap.Time.After(doneAt.Add(time.Second)) {
			return true
		}
		for _, s := range snap.Services {
			if s.Name == name {
				svc = s
			}
		}
		last = snap
		return false
	})
	if svc.Name == "" {
		t.Fatalf("no service %s in the last snapshot", name)
	}
	return svc, last, keep, churn
}

func hasFrame(s aggregate.Stack, fn string) bool {
	return slices.ContainsFunc(s.Frames, func(f aggregate.Frame) bool { return f.Function == fn })
}

func describeStacks(st []aggregate.Stack) string {
	var b strings.Builder
	for _, s := range st {
		fmt.Fprintf(&b, "held %d grown %d samples %d truncated %v:", s.HeldBytes, s.GrownBytes, s.Samples, s.Truncated)
		for _, f := range s.Frames[:min(len(s.Frames), 10)] {
			fmt.Fprintf(&b, " %s", frameName(f))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func frameName(f aggregate.Frame) string {
	if f.Function != "" {
		return f.Function
	}
	return fmt.Sprintf("%s+%#x", filepath.Base(f.Module), f.Offset)
}

// The growth stacks of a program that keeps what keep_it allocates and
// frees what churn_it does, the same volume, built with and without frame
// pointers: keep_it holds at least 80% of the service's held bytes and
// churn_it at most 10%; each one's grown bytes are within 25% of what it
// allocated (the byte-weighted sampling's estimate). Without frame
// pointers the CFI unwinder still names keep_it on top, or the top stack
// is marked truncated and its leaf is libc's mmap or brk.
func TestGrowthStacksKeepChurn(t *testing.T) {
	testutil.NeedRoot(t)
	for _, build := range []string{"fp", "nofp"} {
		t.Run(build, func(t *testing.T) {
			bin := keepchurnBin(t, build)
			name := "kc-" + build
			svc, _, keep, churn := stacksAfter(t, bin, name, 64, 0, "malloc")
			st := svc.Stacks
			if len(st) == 0 {
				t.Fatalf("%s has no stacks", name)
			}
			var held, keepHeld, churnHeld, keepGrown, churnGrown uint64
			for _, s := range st {
				held += s.HeldBytes
				if hasFrame(s, "keep_it") {
					keepHeld += s.HeldBytes
					keepGrown += s.GrownBytes
				}
				if hasFrame(s, "churn_it") {
					churnHeld += s.HeldBytes
					churnGrown += s.GrownBytes
				}
			}
			t.Logf("keep: asked %d, held %d, grown %d (%+.1f%%); churn: asked %d, held %d, grown %d (%+.1f%%); service held %d\n%s",
				keep, keepHeld, keepGrown, 100*(float64(keepGrown)/float64(keep)-1), churn, churnHeld, churnGrown, 100*(float64(churnGrown)/float64(churn)-1), held, describeStacks(st))
			if keepHeld*10 < held*8 {
				t.Errorf("keep_it holds %d of %d held bytes, want at least 80%%", keepHeld, held)
			}
			if churnHeld*10 > held {
				t.Errorf("churn_it holds %d of %d held bytes, want at most 10%%", churnHeld, held)
			}
			if !within(keepGrown, keep, 0.25) || !within(churnGrown, churn, 0.25) {
				t.Errorf("grown: keep_it %d for %d allocated, churn_it %d for %d: want each within 25%%", keepGrown, keep, churnGrown, churn)
			}
			top := st[0]
			switch leaf := top.Frames[0]; {
			case hasFrame(top, "keep_it"):
			case top.Truncated && strings.HasPrefix(filepath.Base(leaf.Module), "libc.so") &&
				(strings.Contains(leaf.Function, "mmap") || strings.Contains(leaf.Function, "brk")):
				t.Logf("top stack truncated at a right leaf %s", frameName(leaf))
			default:
				t.Errorf("top stack neither names keep_it nor is truncated at libc's mmap or brk:\n%s", describeStacks(st[:1]))
			}
		})
	}
}

// A master and three forked workers run the same growing code: one stack
// naming keep_mapped, in one service, carrying the four processes' growth.
func TestGrowthStacksWorkersMerge(t *testing.T) {
	testutil.NeedRoot(t)
	bin := keepchurnBin(t, "fp")
	svc, snap, keep, _ := stacksAfter(t, bin, "kc-workers", 32, 3, "mmap")
	if svc.Procs != 4 {
		t.Errorf("service kc-workers has %d processes, want the master and 3 workers", svc.Procs)
	}
	var merged []aggregate.Stack
	for _, s := range svc.Stacks {
		if hasFrame(s, "keep_mapped") {
			merged = append(merged, s)
		}
	}
	if len(merged) != 1 {
		t.Fatalf("%d stacks name keep_mapped, want 1:\n%s", len(merged), describeStacks(svc.Stacks))
	}
	if s := merged[0]; !within(s.GrownBytes, keep, 0.25) || !within(s.HeldBytes, keep, 0.25) || s.Truncated {
		t.Errorf("merged stack held %d grown %d truncated %v; the 4 processes allocated and hold %d", s.HeldBytes, s.GrownBytes, s.Truncated, keep)
	}
	for _, o := range snap.Services {
		if o.Name == svc.Name {
			continue
		}
		for _, s := range o.Stacks {
			if hasFrame(s, "keep_mapped") {
				t.Errorf("service %s also has a keep_mapped stack", o.Name)
			}
		}
	}
}

// The TUI's drill-down into a service shows its growth stacks.
func TestGrowthStacksTUI(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "tmux", "tmux")
	bin := keepchurnBin(t, "fp")
	cmd := exec.Command(bin, "kc-tui", "32", "0", "mmap")
	c := testutil.StartCommand(t, cmd)
	session := "oomtrace-stacks-tui-test"
	exec.Command("tmux", "kill-session", "-t", session).Run()
	tmux(t, "new-session", "-d", "-s", session, "-x", "160", "-y", "50", oomtraceBin(t)+" top -d 500ms --service 'kc-tui=comm:^kc-tui$'")
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", session).Run() })
	screenWith(t, session, "kc-tui")
	c.Send(t)
	c.Expect(t, "done")
	tmux(t, "send-keys", "-t", session, "/", "kc-tui", "Enter")
	screenWith(t, session, "kc-tui")
	tmux(t, "send-keys", "-t", session, "Enter")
	screen := screenWith(t, session, "GROWTH STACKS", "#1 held", "keep_mapped", "PID")
	sc := bufio.NewScanner(strings.NewReader(screen))
	var order []string
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		for _, fn := range []string{"keep_mapped", "work", "main"} {
			if strings.HasPrefix(l, fn+" ") || strings.HasPrefix(l, fn+"  ") {
				order = append(order, fn)
			}
		}
	}
	if !slices.Equal(order, []string{"keep_mapped", "work", "main"}) {
		t.Errorf("frames %v, want keep_mapped, work, main: innermost first:\n%s", order, screen)
	}
}

// `events --json`: a sampled call carries its resolved stack, innermost
// frame first, and the weights of a process's samples add up to what it
// grew.
func TestGrowthStacksEventsJSON(t *testing.T) {
	testutil.NeedRoot(t)
	bin := keepchurnBin(t, "nofp")
	c := testutil.StartCommand(t, exec.Command(bin, "kc-events", "32", "0", "mmap"))
	// At --min-size 256KiB every one of keep_mapped's calls is printed.
	cmd, out := startEvents(t, "--stack-sample", "512KiB", "--min-size", "256KiB", "--pid", strconv.Itoa(c.Pid))
	c.Send(t)
	d := c.Expect(t, "done")
	keep, _ := strconv.ParseUint(d[2], 10, 64)
	c.Send(t)
	c.Cmd.Wait()
	cmd.Process.Signal(syscall.SIGINT)
	type frame struct {
		Function string `json:"function"`
		Module   string `json:"module"`
	}
	var weight, sampled, calls uint64
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Type  string `json:"type"`
			Len   uint64 `json:"len"`
			Stack *struct {
				Weight    uint64  `json:"weight_bytes"`
				Truncated bool    `json:"truncated"`
				Frames    []frame `json:"frames"`
			} `json:"stack"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %s", sc.Bytes())
		}
		if ev.Type == "mmap" && ev.Len == 256<<10 {
			calls++
		}
		if ev.Stack == nil {
			continue
		}
		sampled++
		weight += ev.Stack.Weight
		fns := []string{}
		for _, f := range ev.Stack.Frames {
			fns = append(fns, f.Function)
		}
		if i := slices.Index(fns, "keep_mapped"); i < 0 || !slices.Contains(fns[i:], "work") || !slices.Contains(fns[i:], "main") {
			if i >= 0 || !ev.Stack.Truncated {
				t.Errorf("sampled %s of %d bytes: frames %v, want keep_mapped, work and main, innermost first", ev.Type, ev.Len, fns)
			}
		}
	}
	cmd.Wait()
	if calls != keep/(256<<10) || sampled == 0 {
		t.Fatalf("%d of keep_mapped's %d calls printed, %d with a stack", calls, keep/(256<<10), sampled)
	}
	if !within(weight, keep, 0.25) {
		t.Errorf("samples weigh %d in all; the program grew %d", weight, keep)
	}
	t.Logf("%d calls, %d sampled, weights %d for %d grown", calls, sampled, weight, keep)
}
