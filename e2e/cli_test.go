package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// `oomtrace events --json` as a pipeline would run it: ready file, JSON lines
// with the documented fields, nothing under --min-size (though above the
// default), and on SIGINT, sent as soon as the last child has exited, every
// event up to its exit and received/lost counts that match the lines printed.
func TestEventsCommandJSON(t *testing.T) {
	testutil.NeedRoot(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(oomtraceBin(t), "events", "--json", "--min-size", "2M", "--ready-file", ready)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFile(t, ready, 15*time.Second)

	const size = 5<<20 + 4096
	c := testutil.StartChild(t, "alloc", strconv.Itoa(size), strconv.Itoa(4096))
	c.Expect(t, "ready")
	c.Send(t)
	mm := c.Expect(t, "mmap")
	for _, w := range []string{"munmap", "brk", "mremap", "mprotect", "done"} {
		c.Expect(t, w)
	}
	c.Send(t)
	c.Cmd.Wait()
	// Under --min-size 2M: its 1.5 MiB calls must not show, but the 3 MiB
	// munmap of its remapped area must.
	const small = 3 << 19
	s := testutil.StartChild(t, "alloc", strconv.Itoa(small), strconv.Itoa(4096))
	s.Expect(t, "ready")
	s.Send(t)
	for _, w := range []string{"mmap", "munmap", "brk", "mremap", "mprotect", "done"} {
		s.Expect(t, w)
	}
	s.Send(t)
	s.Cmd.Wait()
	// At once: what the ring still holds is read at the stop.
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("oomtrace events: %v\n%s", err, stderr.String())
	}

	type line struct {
		Type     string `json:"type"`
		Time     string `json:"time"`
		PID      int    `json:"pid"`
		Comm     string `json:"comm"`
		Addr     uint64 `json:"addr"`
		Len      uint64 `json:"len"`
		PPID     int    `json:"ppid"`
		Filename string `json:"filename"`
		ExitCode *int   `json:"exit_code"`
	}
	seen := map[string]line{}
	perType := map[string]int{}
	smallSeen, lastExit := false, false
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, l.Time); err != nil {
			t.Errorf("time %q is not RFC 3339: %v", l.Time, err)
		}
		perType[l.Type]++
		if l.PID == s.Pid && l.Len == small {
			t.Errorf("a %s of %d bytes streamed under --min-size 2M: %s", l.Type, small, sc.Text())
		}
		smallSeen = smallSeen || l.PID == s.Pid && l.Type == "munmap" && l.Len == 2*small
		lastExit = lastExit || l.PID == s.Pid && l.Type == "exit"
		if l.PID == c.Pid {
			if l.Type == "mmap" && l.Len != size {
				continue // the loader's libc mapping
			}
			seen[l.Type] = l
		}
	}
	if l, ok := seen["mmap"]; !ok || strconv.FormatUint(l.Addr, 16) != strings.TrimPrefix(mm[1], "0x") || l.Comm != "workload" {
		t.Errorf("mmap line %+v, want addr %s comm workload", l, mm[1])
	}
	for _, typ := range []string{"fork", "exec", "exit", "munmap", "mremap", "mprotect"} {
		if _, ok := seen[typ]; !ok {
			t.Errorf("no %s line for pid %d", typ, c.Pid)
		}
	}
	if l := seen["exit"]; l.ExitCode == nil || *l.ExitCode != 0 {
		t.Errorf("exit line %+v, want exit_code 0", l)
	}
	if l := seen["exec"]; l.Filename != testutil.WorkloadBin(t) || l.PPID != os.Getpid() {
		t.Errorf("exec line %+v, want filename %s ppid %d", l, testutil.WorkloadBin(t), os.Getpid())
	}
	if !smallSeen {
		t.Errorf("no munmap line of %d bytes for pid %d: the small child was not traced", 2*small, s.Pid)
	}
	if !lastExit {
		t.Errorf("no exit line for pid %d, the last event before SIGINT: what the ring held at the stop was not read", s.Pid)
	}
	// Every event received was printed, and only those.
	_, summary, ok := strings.Cut(stderr.String(), "events received / lost:")
	summary, _, _ = strings.Cut(summary, "\n")
	received := map[string]int{}
	for _, f := range strings.Fields(summary) {
		typ, counts, _ := strings.Cut(f, "=")
		recv, _, _ := strings.Cut(counts, "/")
		n, err := strconv.Atoi(recv)
		if err != nil {
			t.Fatalf("summary field %q: %v", f, err)
		}
		received[typ] = n
	}
	if !ok || len(received) != 9 {
		t.Fatalf("no received/lost summary of the 9 types on stderr: %q", stderr.String())
	}
	for typ, n := range received {
		if perType[typ] != n {
			t.Errorf("%s: %d received, %d JSON lines", typ, n, perType[typ])
		}
	}
	for typ := range perType {
		if _, ok := received[typ]; !ok {
			t.Errorf("JSON lines of type %q, not in the summary", typ)
		}
	}
}

// A signal that comes while the programs load (so before the ready file) is
// caught, not fatal: oomtrace stops and prints its summary.
func TestEventsSignalDuringLoad(t *testing.T) {
	testutil.NeedRoot(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(oomtraceBin(t), "events", "--ready-file", ready)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	fds := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
	end := time.Now().Add(15 * time.Second)
	for loading := false; !loading; time.Sleep(time.Millisecond) {
		ents, _ := os.ReadDir(fds)
		for _, e := range ents {
			l, _ := os.Readlink(filepath.Join(fds, e.Name()))
			// A program, not a map: cilium/ebpf's rlimit package creates a
			// map in its init, before main can catch anything.
			loading = loading || l == "anon_inode:bpf-prog"
		}
		if time.Now().After(end) {
			t.Fatal("oomtrace loaded no BPF program within 15s")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM while loading: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "events received / lost:") {
		t.Errorf("no summary after SIGTERM while loading:\n%s", stderr.String())
	}
}

// Without privileges: one line naming what is needed, non-zero exit. With
// CAP_BPF + CAP_PERFMON but not root, tracefs (root's alone) is what is
// missing: CAP_DAC_READ_SEARCH.
func TestEventsWithoutRoot(t *testing.T) {
	testutil.NeedRoot(t) // to switch to an unprivileged user
	oneLine := func(t *testing.T, cmd *exec.Cmd, want string) {
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit %v, want status 1; output %q", err, out)
		}
		s := strings.TrimSpace(string(out))
		if strings.Contains(s, "\n") || !strings.Contains(s, want) {
			t.Errorf("output %q, want one line naming %s", s, want)
		}
	}
	t.Run("nobody", func(t *testing.T) {
		out := t.TempDir()
		for _, args := range [][]string{{"events"}, {"top", "-n", "1"}, {"record", "--out", out}, {"run", "--out", out, "--", "true"}} {
			cmd := exec.Command(oomtraceBin(t), args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			oneLine(t, cmd, "oomtrace "+args[0]+": oomtrace needs root, or CAP_BPF + CAP_PERFMON")
		}
	})
	t.Run("CAP_BPF+CAP_PERFMON", func(t *testing.T) {
		const capPerfmon, capBPF = 38, 39
		cmd := exec.Command(oomtraceBin(t), "events")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
			AmbientCaps: []uintptr{capPerfmon, capBPF}, // kept across the uid change
		}
		oneLine(t, cmd, "CAP_DAC_READ_SEARCH")
	})
}

// `oomtrace doctor` explains the machine: every hook and its mechanism, and
// fails with the reason when oomtrace cannot run.
func TestDoctor(t *testing.T) {
	testutil.NeedRoot(t)
	out, err := exec.Command(oomtraceBin(t), "doctor", "--json").Output()
	if err != nil {
		t.Fatalf("doctor: %v", err)
	}
	var res struct {
		CanRun bool `json:"can_run"`
		Checks []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range res.Checks {
		got[c.Name] = c.Detail
	}
	if !res.CanRun || got["hook oom/mark_victim"] != "tp_btf" {
		t.Errorf("doctor: can_run=%v checks %v", res.CanRun, got)
	}
	// The syscall hooks use fexit where the kernel permits fentry, else the
	// tracepoints, saying why.
	fentryOK := false
	for _, c := range res.Checks {
		fentryOK = fentryOK || c.Name == "fentry" && c.OK
	}
	// Debian's 6.1 has two BTF functions named __x64_sys_mremap (and
	// mprotect): those fall back one by one, the others keep fexit.
	fexits := 0
	for _, sc := range []string{"mmap", "munmap", "brk", "mremap", "mprotect"} {
		h := got["hook syscalls/sys_exit_"+sc]
		switch {
		case h == "fexit" && fentryOK:
			fexits++
		case strings.HasPrefix(h, "tracepoint (fell back: fexit: "):
		default:
			t.Errorf("%s hook %q with fentry permitted=%v", sc, h, fentryOK)
		}
	}
	if fentryOK && fexits == 0 {
		t.Error("fentry is permitted but no syscall hook uses fexit")
	}
	// The task walk needs the open-coded task iterator (6.7); before it,
	// the iter/task program.
	want := "every process in one pass: task walk"
	if !testutil.KernelAtLeast(got["kernel"], 6, 7) {
		want = "every process in one pass: iter/task"
	}
	if !strings.HasPrefix(got["sampling"], want) {
		t.Errorf("sampling %q on %s, want %q", got["sampling"], got["kernel"], want)
	}
	for _, name := range []string{"kernel", "btf", "ringbuf", "tracefs", "fentry", "kprobe", "cgroup", "psi", "kmsg", "hook sched/sched_process_exit"} {
		if _, ok := got[name]; !ok {
			t.Errorf("doctor has no %q check", name)
		}
	}
	cmd := exec.Command(oomtraceBin(t), "doctor")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	b, err := cmd.CombinedOutput()
	out = bytes.TrimSpace(b)
	last := string(out[bytes.LastIndexByte(out, '\n')+1:])
	if err == nil || !strings.Contains(string(b), "FAIL  privileges") || last != "oomtrace doctor: oomtrace cannot run here: privileges" {
		t.Errorf("doctor as nobody: %v\n%s", err, b)
	}
	// EPERM says nothing of the kernel: what needs BPF is not checked.
	for _, bad := range []string{"no BPF ring buffer", "no task storage", "refuses fentry"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("doctor as nobody claims %q:\n%s", bad, b)
		}
	}
	for _, name := range []string{"ringbuf", "task_storage", "fentry", "hook syscalls/sys_exit_mmap", "hook oom/mark_victim"} {
		if !regexp.MustCompile(`(?m)^\?\s+` + regexp.QuoteMeta(name) + `\s+not checked: needs root or CAP_BPF$`).Match(b) {
			t.Errorf("doctor as nobody: %s not listed as not checked:\n%s", name, b)
		}
	}
}
