// Command pycost measures what reading Python frames costs (issue 15):
// the Python walk's run time per sample at depth 10 and 60 (the BPF
// clock read around it, tracer.PythonWalks); and a Python process allocating at a high rate under the
// tracer with stacks on (every 512 KiB, Python frames read) and off, in
// interleaved rounds. Run as root from the repository root; needs
// /usr/bin/python3.11, or with -root the python3.13 of the trixie root
// (.ci/trixie-root.sh). bench/run.sh does not run it: it takes ~1 minute.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/oomtrace/oomtrace/internal/python"
	"github.com/oomtrace/oomtrace/tracer"
)

// py is the interpreter run, inside root when that is set.
var py, root string

// walkScript recurses to a depth, then maps and unmaps 1 MiB n times (glibc's
// mmap threshold fixed, so each is an mmap and a munmap).
const walkScript = `
import sys
sys.setrecursionlimit(10000)
def d(k, n):
    if k > 0:
        return d(k - 1, n)
    sys.stdout.write("ready\n"); sys.stdout.flush(); sys.stdin.readline()
    for _ in range(n):
        b = bytearray(1 << 20)
        del b
d(int(sys.argv[1]) - 2, int(sys.argv[2]))
`

// serviceScript allocates at a high rate: per round, 1000 small objects in
// lists and a 256 KiB bytearray kept for a while, then dropped.
const serviceScript = `
import sys, time
sys.stdout.write("ready\n"); sys.stdout.flush(); sys.stdin.readline()
keep = []
t0 = time.perf_counter()
for i in range(int(sys.argv[1])):
    keep.append([str(j) * 4 for j in range(1000)])
    keep.append(bytearray(256 << 10))
    if len(keep) > 400:
        del keep[:200]
print(time.perf_counter() - t0)
`

func main() {
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	calls := flag.Int("calls", 2000, "sampled mmaps per walk run")
	work := flag.Int("work", 20000, "service loop iterations")
	flag.StringVar(&py, "python", "/usr/bin/python3.11", "the interpreter (inside -root when set)")
	flag.StringVar(&root, "root", "", "run it chrooted in this root, /proc mounted there (the trixie root: -python /usr/bin/python3.13)")
	flag.Parse()
	if err := run(*rounds, *calls, *work); err != nil {
		fmt.Fprintln(os.Stderr, "pycost:", err)
		os.Exit(1)
	}
}

func run(rounds, calls, work int) error {
	if _, err := os.Stat(root + py); err != nil {
		return err
	}
	fmt.Println("Python walk per sample (BPF clock around the walk), median of", rounds)
	for _, depth := range []int{10, 60} {
		var per []float64
		for range rounds {
			ns, err := walkRun(depth, calls)
			if err != nil {
				return err
			}
			per = append(per, ns)
		}
		fmt.Printf("  depth %2d: %6.0f ns a sample (fastest round %.0f)\n", depth, median(per), slices.Min(per))
	}

	fmt.Printf("Python service allocating (%d rounds of 1000 small objects and 256 KiB), seconds, median of %d interleaved\n", work, rounds)
	per := map[uint64][]float64{}
	for range rounds {
		for _, smp := range []uint64{0, tracer.DefaultStackSample} {
			s, err := serviceRun(smp, work)
			if err != nil {
				return err
			}
			per[smp] = append(per[smp], s)
		}
	}
	off, on := median(per[0]), median(per[tracer.DefaultStackSample])
	fmt.Printf("  stacks off %.3f s, on (512 KiB, Python frames) %.3f s: %.3fx\n", off, on, on/off)
	return nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// startTracer starts a tracer whose events are read and dropped.
func startTracer(cfg tracer.Config) (*tracer.Tracer, error) {
	tr, err := tracer.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := tr.Start(context.Background()); err != nil {
		tr.Close()
		return nil, err
	}
	go func() {
		for ev := range tr.Events() {
			ev.Sample.Release() // as the recorder does once it has resolved a sample
		}
	}()
	return tr, nil
}

// startPy starts a script and waits for its "ready".
func startPy(script string, env []string, args ...string) (*exec.Cmd, func() (string, error), error) {
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	if root != "" { // unshare and chroot exec in turn: the pid is python's
		cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c",
			`mount -t proc proc "$0/proc" && exec chroot "$0" "$@"`, root, py, "-c", script}, args...)...)
	}
	cmd.Env = append(os.Environ(), env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, fmt.Errorf("python said %q: %v", buf, err)
	}
	wait := func() (string, error) {
		in.Write([]byte("go\n"))
		in.Close()
		b := make([]byte, 64)
		n, _ := out.Read(b)
		return string(b[:n]), cmd.Wait()
	}
	return cmd, wait, nil
}

func walkRun(depth, calls int) (float64, error) {
	tr, err := startTracer(tracer.Config{StackSample: 512 << 10}) // every 1 MiB call samples (jitter: at most 768 KiB)
	if err != nil {
		return 0, err
	}
	defer tr.Close()
	cmd, wait, err := startPy(walkScript, []string{"MALLOC_MMAP_THRESHOLD_=131072"}, strconv.Itoa(depth), strconv.Itoa(calls))
	if err != nil {
		return 0, err
	}
	r := python.NewReader(tr)
	r.Exec(uint32(cmd.Process.Pid))
	if _, err := r.Interp(uint32(cmd.Process.Pid)); err != nil {
		return 0, err
	}
	w0, err := tr.PythonWalks()
	if err != nil {
		return 0, err
	}
	if _, err := wait(); err != nil {
		return 0, err
	}
	w1, err := tr.PythonWalks()
	if err != nil {
		return 0, err
	}
	n := w1.Walks - w0.Walks
	if n < uint64(calls)/2 {
		return 0, fmt.Errorf("%d walks for %d calls", n, calls)
	}
	frames := float64(w1.Frames-w0.Frames) / float64(n)
	if frames < float64(min(depth, 64))-1 {
		return 0, fmt.Errorf("%.1f frames a walk at depth %d", frames, depth)
	}
	return float64((w1.Time - w0.Time).Nanoseconds()) / float64(n), nil
}

func serviceRun(stackSample uint64, work int) (float64, error) {
	tr, err := startTracer(tracer.Config{StackSample: stackSample})
	if err != nil {
		return 0, err
	}
	defer tr.Close()
	r := python.NewReader(tr)
	tr.OnExec(r.Exec)
	_, wait, err := startPy(serviceScript, nil, strconv.Itoa(work))
	if err != nil {
		return 0, err
	}
	out, err := wait()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(out), 64)
}
