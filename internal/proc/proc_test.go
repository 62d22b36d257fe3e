package proc

import (
	"os"
	"syscall"
	"testing"

	"github.com/prometheus/procfs"
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
	s1, _ := r.Smaps(pid)
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
	v1 := []procfs.Cgroup{
		{HierarchyID: 9, Controllers: []string{"name=systemd"}, Path: "/system.slice/nova-api.service"},
		{HierarchyID: 4, Controllers: []string{"memory"}, Path: "/system.slice/nova-api.service"},
		{HierarchyID: 0, Controllers: nil, Path: "/"},
	}
	if u, m := pickCgroups(v1); u != "/system.slice/nova-api.service" || m != u {
		t.Errorf("v1: unit path %q memcg %q", u, m)
	}
	v2 := []procfs.Cgroup{{HierarchyID: 0, Path: "/system.slice/docker-abc.scope"}}
	if u, m := pickCgroups(v2); u != "/system.slice/docker-abc.scope" || m != u {
		t.Errorf("v2: unit path %q memcg %q", u, m)
	}
	// Hybrid: v1 systemd at the root says nothing; the v2 path does.
	hy := []procfs.Cgroup{{HierarchyID: 1, Controllers: []string{"name=systemd"}, Path: "/"}, {HierarchyID: 0, Path: "/user.slice/session-1.scope"}}
	if u, _ := pickCgroups(hy); u != "/user.slice/session-1.scope" {
		t.Errorf("hybrid: unit path %q", u)
	}
}
