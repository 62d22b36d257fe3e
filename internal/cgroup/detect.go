// Package cgroup finds the memory controller (cgroup v1 or v2), reads memory
// cgroup figures, and manages the child cgroups oomtrace's tests create.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Hierarchy is where the memory controller is mounted.
type Hierarchy struct {
	Version int    // 1 or 2
	Mount   string // e.g. /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2)
}

// ErrNoMemoryController means neither v1 nor v2 offers the memory controller.
var ErrNoMemoryController = errors.New("no cgroup memory controller is mounted")

// Detect finds the memory controller from /proc/self/mountinfo.
func Detect() (Hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Hierarchy{}, err
	}
	defer f.Close()
	return detect(f, func(mount string) bool {
		b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
		return err == nil && hasWord(string(b), "memory")
	})
}

// detect prefers a v1 memory hierarchy; otherwise a v2 mount whose root
// offers memory.
func detect(mountinfo io.Reader, v2HasMemory func(mount string) bool) (Hierarchy, error) {
	var v2 []string
	sc := bufio.NewScanner(mountinfo)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		mount := unescape(pf[4])
		switch qf[0] {
		case "cgroup":
			for _, opt := range strings.Split(qf[2], ",") {
				if opt == "memory" {
					return Hierarchy{Version: 1, Mount: mount}, nil
				}
			}
		case "cgroup2":
			v2 = append(v2, mount)
		}
	}
	if err := sc.Err(); err != nil {
		return Hierarchy{}, err
	}
	for _, m := range v2 {
		if v2HasMemory(m) {
			return Hierarchy{Version: 2, Mount: m}, nil
		}
	}
	return Hierarchy{}, ErrNoMemoryController
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// PathOf returns pid's cgroup path in this hierarchy ("/" for the root),
// from /proc/PID/cgroup.
func (h Hierarchy) PathOf(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	p, ok := PathFromProcCgroup(string(b), h.Version)
	if !ok {
		return "", fmt.Errorf("no memory cgroup for pid %d", pid)
	}
	return p, nil
}

// PathFromProcCgroup picks the memory cgroup (v1) or unified (v2) path out of
// the text of /proc/PID/cgroup.
func PathFromProcCgroup(text string, version int) (string, bool) {
	for _, line := range strings.Split(text, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if version == 2 && parts[0] == "0" && parts[1] == "" {
			return parts[2], true
		}
		if version == 1 {
			for _, c := range strings.Split(parts[1], ",") {
				if c == "memory" {
					return parts[2], true
				}
			}
		}
	}
	return "", false
}

// Dir is the directory of a cgroup path in this hierarchy.
func (h Hierarchy) Dir(path string) string { return filepath.Join(h.Mount, filepath.Clean("/"+path)) }
