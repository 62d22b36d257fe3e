package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestInfoSelf(t *testing.T) {
	r, err := NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Info(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	sid, _ := unix.Getsid(0)
	if in.PID != os.Getpid() || in.PPID != os.Getppid() || in.SID != sid || in.Exe != exe || in.Kernel || in.StartTicks == 0 {
		t.Errorf("Info(self) = %+v; want pid %d ppid %d sid %d exe %s", in, os.Getpid(), os.Getppid(), sid, exe)
	}
	if len(in.Cmdline) == 0 || in.Cmdline[0] != os.Args[0] {
		t.Errorf("cmdline %q, want to start with %q", in.Cmdline, os.Args[0])
	}
	if kt, err := r.Info(2); err == nil && !kt.Kernel {
		t.Errorf("pid 2 (%s) not seen as a kernel thread", kt.Comm)
	}
}

// Touching a known amount of anonymous memory shows up in RSS, PSS and USS.
func TestMemAndSmapsGrow(t *testing.T) {
	r, _ := NewReader("/proc")
	pid := os.Getpid()
	m0, err := r.Mem(pid)
	if err != nil {
		t.Fatal(err)
	}
	s0, err := r.Smaps(pid)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(buf)
	for i := 0; i < size; i += 4096 {
		buf[i] = 1
	}
	m1, _ := r.Mem(pid)
	s1, err := r.Smaps(pid)
	if err != nil {
		t.Fatal(err)
	}
	const slack = 8 << 20 // the Go runtime allocates too
	if g := int64(m1.RSSAnon) - int64(m0.RSSAnon); g < size-slack || g > size+slack {
		t.Errorf("RssAnon grew by %d, want about %d", g, size)
	}
	for name, g := range map[string]int64{"PSS": int64(s1.PSS) - int64(s0.PSS), "USS": int64(s1.USS) - int64(s0.USS)} {
		if g < size-slack || g > size+slack {
			t.Errorf("%s grew by %d, want about %d", name, g, size)
		}
	}
	if s1.USS > s1.PSS || s1.PSS > s1.RSS {
		t.Errorf("want USS <= PSS <= RSS, got %+v", s1)
	}
}

func TestSystem(t *testing.T) {
	r, _ := NewReader("/proc")
	s, err := r.System()
	if err != nil {
		t.Fatal(err)
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	if total := si.Totalram * uint64(si.Unit); s.Total != total/1024*1024 && s.Total/1024 != total/1024 {
		t.Errorf("total %d, sysinfo says %d", s.Total, total)
	}
	if s.Available == 0 || s.Available > s.Total || s.Used() == 0 {
		t.Errorf("implausible %+v", s)
	}
	if _, err := os.Stat("/proc/pressure/memory"); err == nil && s.PSI == nil {
		t.Error("the kernel has PSI but none was read")
	}
}

func TestPickCgroups(t *testing.T) {
	v1 := parseCgroups([]byte("9:name=systemd:/system.slice/nova-api.service\n4:memory:/system.slice/nova-api.service\n0::/\n"))
	if u, m := pickCgroups(v1); u != "/system.slice/nova-api.service" || m != u {
		t.Errorf("v1: unit path %q memcg %q", u, m)
	}
	v2 := parseCgroups([]byte("0::/system.slice/docker-abc.scope\n"))
	if u, m := pickCgroups(v2); u != "/system.slice/docker-abc.scope" || m != u {
		t.Errorf("v2: unit path %q memcg %q", u, m)
	}
	// Hybrid: v1 systemd at the root says nothing; the v2 path does.
	hy := parseCgroups([]byte("1:name=systemd:/\n0::/user.slice/session-1.scope\n"))
	if u, _ := pickCgroups(hy); u != "/user.slice/session-1.scope" {
		t.Errorf("hybrid: unit path %q", u)
	}
	// A path may hold colons.
	if c := parseCgroups([]byte("0::/a:b\n")); len(c) != 1 || c[0].path != "/a:b" {
		t.Errorf("colon in path: %+v", c)
	}
}

// Info's own parsing agrees with the procfs library on every process
// running now, field for field.
func TestInfoMatchesProcfs(t *testing.T) {
	r, err := NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	pids, err := r.Pids()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, pid := range pids {
		// A process that exits or execs between the two reads differs
		// for a moment (seen with the Go linker of a parallel build):
		// reads that agree once are enough.
		var got, want Info
		same, gone := false, false
		for try := 0; try < 3 && !same && !gone; try++ {
			got, want, gone = bothInfos(r, pid)
			same = !gone && reflect.DeepEqual(got, want)
		}
		if gone {
			continue
		}
		if !same {
			t.Errorf("pid %d:\n raw    %#v\n procfs %#v", pid, got, want)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("only %d processes checked", checked)
	}
}

// bothInfos reads a process with Info and with procfs; gone when it exited
// or is a zombie.
func bothInfos(r *Reader, pid int) (got, want Info, gone bool) {
	got, err := r.Info(pid)
	p, perr := r.fs.Proc(pid)
	if err != nil || perr != nil {
		return got, want, true
	}
	st, err1 := p.Stat()
	comm, err2 := p.Comm()
	if err1 != nil || err2 != nil || st.State == "Z" || st.State == "X" {
		return got, want, true
	}
	want = Info{PID: pid, PPID: st.PPID, SID: st.Session, StartTicks: st.Starttime, Comm: comm, Kernel: st.Flags&pfKthread != 0}
	if !want.Kernel {
		want.Cmdline, _ = p.CmdLine()
		if raw := strings.Join(want.Cmdline, "\x00"); len(raw) > MaxCmdline {
			want.Cmdline = splitCmdline([]byte(raw), MaxCmdline) // TestSplitCmdline covers the cut
		}
		want.Exe, _ = p.Executable()
		if cgs, err := p.Cgroups(); err == nil {
			var lines []cgroupLine
			for _, c := range cgs {
				lines = append(lines, cgroupLine{c.HierarchyID, c.Controllers, c.Path})
			}
			want.Cgroup, want.Memcg = pickCgroups(lines)
		}
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return got, want, true
	}
	return got, want, false
}

func TestSplitCmdline(t *testing.T) {
	long := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		in   string
		max  int
		want []string
	}{
		{"", 16, nil},
		{"a\x00bc\x00", 16, []string{"a", "bc"}},
		{"abcd\x00efgh\x00", 10, []string{"abcd", "efgh"}},                  // max+1 with the final NUL: whole
		{"abcd\x00efgh\x00ij\x00", 10, []string{"abcd", "efgh", Truncated}}, // ends on a NUL at the cut
		{"abcd\x00efghij\x00", 10, []string{"abcd", Truncated}},             // the partial argument goes
		{"abcdefghijkl\x00x\x00", 10, []string{"abcdefghij" + Truncated}},   // one argument too long
		{"abcdefgh\xc3\xa9z\x00", 9, []string{"abcdefgh" + Truncated}},      // no half rune
		{"abcdefg\xc3\xa9z\x00", 9, []string{"abcdefg\xc3\xa9" + Truncated}},
		{"sh\x00" + long + "\x00" + long + "\x00", 4096, []string{"sh", long, Truncated}},
	} {
		if got := splitCmdline([]byte(tc.in), tc.max); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitCmdline(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// A process with a 960 KB argv costs at most MaxCmdline of it, and the
// reader's buffer does not grow to its size.
func TestInfoHostileCmdline(t *testing.T) {
	// sh ignores the arguments after its -c script's $0, so it stays alive
	// with them in its argv (sleep would reject them and exit at once).
	args := []string{"-c", "sleep 3600; exit 0", "sh"}
	for i := 0; i < 8; i++ {
		args = append(args, strings.Repeat(string(rune('a'+i)), 120_000))
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// the group: sh and its sleep
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	r, err := NewReader("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var in Info
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if in, err = r.Info(cmd.Process.Pid); err == nil && len(in.Cmdline) > 1 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/sh", "-c", "sleep 3600; exit 0", "sh", Truncated}
	if !reflect.DeepEqual(in.Cmdline, want) {
		t.Errorf("cmdline of %d bytes read as %.200q, want %q", len(strings.Join(args, " ")), in.Cmdline, want)
	}
	if n := len(strings.Join(in.Cmdline, "\x00")); n > MaxCmdline+len(Truncated) {
		t.Errorf("kept %d bytes of the command line, want at most %d", n, MaxCmdline+len(Truncated))
	}
	if c := cap(r.raw.buf); c > 4*MaxCmdline {
		t.Errorf("read buffer grew to %d bytes", c)
	}
}

// A smaps_rollup whose Rss is far from statm's resident size (a mapping
// skipped or counted twice) is reported as unsettled, with the closest read.
func TestSmapsCheckedAgainstStatm(t *testing.T) {
	page := uint64(os.Getpagesize())
	for _, c := range []struct {
		rollupKB uint64
		err      error
	}{{40960, nil}, {40960 + 512, nil}, {40960 - 15<<10, ErrUnsettled}, {40960 + 8<<10, ErrUnsettled}} {
		root := t.TempDir()
		dir := root + "/42"
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		statm := fmt.Sprintf("20000 %d 100 10 0 9000 0\n", (40<<20)/page)
		rollup := fmt.Sprintf("00400000-7fff0000 ---p 00000000 00:00 0    [rollup]\nRss: %d kB\nPss: %d kB\nPrivate_Clean: 0 kB\nPrivate_Dirty: 1024 kB\nSwap: 0 kB\nSwapPss: 0 kB\n", c.rollupKB, c.rollupKB/2)
		for name, text := range map[string]string{"statm": statm, "smaps_rollup": rollup} {
			if err := os.WriteFile(dir+"/"+name, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r, err := NewReader(root)
		if err != nil {
			t.Fatal(err)
		}
		s, err := r.Smaps(42)
		if !errors.Is(err, c.err) || err == nil && c.err != nil {
			t.Errorf("rollup Rss %d kB, statm 40 MiB: err %v, want %v", c.rollupKB, err, c.err)
		}
		if s.RSS != c.rollupKB<<10 || s.PSS != c.rollupKB<<9 || s.USS != 1<<20 {
			t.Errorf("rollup Rss %d kB: read %+v", c.rollupKB, s)
		}
	}
}
