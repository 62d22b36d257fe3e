package cgroup

import (
	"strings"
	"testing"
)

const mountinfoV1 = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const mountinfoV2 = `25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, info string
		v2mem      bool
		want       Hierarchy
		err        bool
	}{
		{"v1 with an empty unified", mountinfoV1, false, Hierarchy{1, "/sys/fs/cgroup/memory"}, false},
		{"v1 wins over v2", mountinfoV1, true, Hierarchy{1, "/sys/fs/cgroup/memory"}, false},
		{"v2", mountinfoV2, true, Hierarchy{2, "/sys/fs/cgroup"}, false},
		{"v2 without memory", mountinfoV2, false, Hierarchy{}, true},
		{"nothing", "", true, Hierarchy{}, true},
		{"escaped mount", `40 30 0:37 / /mnt/cg\040v2 rw - cgroup2 cgroup2 rw` + "\n", true, Hierarchy{2, "/mnt/cg v2"}, false},
	} {
		got, err := detect(strings.NewReader(tc.info), func(string) bool { return tc.v2mem })
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestPathFromProcCgroup(t *testing.T) {
	v1 := "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/87c1\n3:cpu,cpuacct:/x\n0::/\n"
	if p, ok := PathFromProcCgroup(v1, 1); !ok || p != "/process_api/87c1" {
		t.Errorf("v1: %q %v", p, ok)
	}
	if p, ok := PathFromProcCgroup(v1, 2); !ok || p != "/" {
		t.Errorf("v2 line of a v1 host: %q %v", p, ok)
	}
	v2 := "0::/system.slice/nova-api.service\n"
	if p, ok := PathFromProcCgroup(v2, 2); !ok || p != "/system.slice/nova-api.service" {
		t.Errorf("v2: %q %v", p, ok)
	}
	if _, ok := PathFromProcCgroup(v2, 1); ok {
		t.Error("v1 memory path found in a v2-only file")
	}
	// Paths may contain colons.
	if p, ok := PathFromProcCgroup("0::/a:b/c\n", 2); !ok || p != "/a:b/c" {
		t.Errorf("colon path: %q", p)
	}
}

func TestDir(t *testing.T) {
	h := Hierarchy{Version: 1, Mount: "/sys/fs/cgroup/memory"}
	for in, want := range map[string]string{"/": "/sys/fs/cgroup/memory", "/a/b": "/sys/fs/cgroup/memory/a/b", "../../etc": "/sys/fs/cgroup/memory/etc"} {
		if got := h.Dir(in); got != want {
			t.Errorf("Dir(%q) = %q, want %q", in, got, want)
		}
	}
}

// /proc/PID/cgroup is read from every process: no content may panic, and
// a path found is one of the file's own.
func FuzzPathFromProcCgroup(f *testing.F) {
	f.Add("9:name=systemd:/\n4:memory:/a/b\n0::/\n", 1)
	f.Add("0::/system.slice/x.service\n", 2)
	f.Add("4:memory,cpu:\n::::\n", 1)
	f.Fuzz(func(t *testing.T, text string, version int) {
		p, ok := PathFromProcCgroup(text, version)
		if ok && !strings.Contains(text, p) {
			t.Fatalf("path %q is not in %q", p, text)
		}
	})
}

func FuzzDetect(f *testing.F) {
	f.Add(mountinfoV1)
	f.Add(mountinfoV2)
	f.Fuzz(func(t *testing.T, info string) {
		h, err := detect(strings.NewReader(info), func(string) bool { return true })
		if err == nil && (h.Version != 1 && h.Version != 2 || h.Mount == "") {
			t.Fatalf("detected %+v", h)
		}
	})
}
