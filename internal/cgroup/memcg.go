package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Memcg is one memory cgroup.
type Memcg struct {
	H    Hierarchy
	Path string // relative to the hierarchy root, "/a/b"
}

func (m Memcg) file(v1, v2 string) string {
	if m.H.Version == 1 {
		return filepath.Join(m.H.Dir(m.Path), v1)
	}
	return filepath.Join(m.H.Dir(m.Path), v2)
}

// Usage is the memory charged to the cgroup, in bytes.
func (m Memcg) Usage() (uint64, error) {
	return readUint(m.file("memory.usage_in_bytes", "memory.current"))
}

// Limit is the cgroup's memory limit in bytes; 0 when unlimited.
func (m Memcg) Limit() (uint64, error) {
	b, err := os.ReadFile(m.file("memory.limit_in_bytes", "memory.max"))
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if v >= 1<<62 { // v1 says "unlimited" with a huge page-rounded number
		return 0, nil
	}
	return v, nil
}

// Swap is what the cgroup has swapped out and how much it may: v2
// memory.swap.current and memory.swap.max; v1 memory.memsw.usage_in_bytes
// less the memory usage, and the room memory.memsw.limit_in_bytes leaves
// beyond memLimit (its memory limit, 0 for none). A limit of 0 is none.
func (m Memcg) Swap(usage, memLimit uint64) (swap, limit uint64, err error) {
	if m.H.Version == 2 {
		if swap, err = readUint(m.file("", "memory.swap.current")); err != nil {
			return 0, 0, err
		}
		b, err := os.ReadFile(m.file("", "memory.swap.max"))
		if err != nil {
			return swap, 0, nil
		}
		if s := strings.TrimSpace(string(b)); s != "max" {
			limit, _ = strconv.ParseUint(s, 10, 64)
		}
		return swap, limit, nil
	}
	memsw, err := readUint(m.file("memory.memsw.usage_in_bytes", ""))
	if err != nil {
		return 0, 0, err
	}
	if memsw > usage {
		swap = memsw - usage
	}
	if l, err := readUint(m.file("memory.memsw.limit_in_bytes", "")); err == nil && l < 1<<62 && memLimit > 0 && l > memLimit {
		limit = l - memLimit
	}
	return swap, limit, nil
}

// OOMKills is the kernel's count of OOM kills in this cgroup: v1 memory.oom_control
// oom_kill, v2 memory.events oom_kill.
func (m Memcg) OOMKills() (uint64, error) {
	return readKey(m.file("memory.oom_control", "memory.events"), "oom_kill")
}

// OOMs is how often a v2 cgroup hit its own limit and the OOM killer was
// invoked for it (memory.events oom); v1 has no such counter.
func (m Memcg) OOMs() (uint64, error) {
	if m.H.Version != 2 {
		return 0, errors.New("no oom event counter on cgroup v1")
	}
	return readKey(filepath.Join(m.H.Dir(m.Path), "memory.events"), "oom")
}

// readKey reads the value of a "key value" line of a cgroup file.
func readKey(path, key string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+" "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s counter in %s", key, path)
}

// CreateChild makes a memory cgroup named name under parent with a limit in
// bytes, and no swap where the controller allows setting that.
func CreateChild(h Hierarchy, parent, name string, limit uint64) (Memcg, error) {
	m := Memcg{H: h, Path: filepath.Join(parent, name)}
	if h.Version == 2 {
		if err := enableMemory(h.Dir(parent)); err != nil {
			return m, err
		}
	}
	if err := os.Mkdir(h.Dir(m.Path), 0o755); err != nil {
		return m, err
	}
	lim := strconv.FormatUint(limit, 10)
	if err := os.WriteFile(m.file("memory.limit_in_bytes", "memory.max"), []byte(lim), 0); err != nil {
		m.Remove()
		return m, fmt.Errorf("set memory limit: %w", err)
	}
	if h.Version == 1 {
		_ = os.WriteFile(m.file("memory.memsw.limit_in_bytes", ""), []byte(lim), 0)
		_ = os.WriteFile(m.file("memory.swappiness", ""), []byte("0"), 0)
	} else {
		_ = os.WriteFile(m.file("", "memory.swap.max"), []byte("0"), 0)
	}
	return m, nil
}

// AddProc moves a process into the cgroup.
func (m Memcg) AddProc(pid int) error {
	return os.WriteFile(filepath.Join(m.H.Dir(m.Path), "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
}

// Procs lists the processes in the cgroup.
func (m Memcg) Procs() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(m.H.Dir(m.Path), "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// Remove deletes the cgroup, retrying while the kernel still holds it busy.
func (m Memcg) Remove() error {
	dir := m.H.Dir(m.Path)
	var err error
	for i := 0; i < 100; i++ {
		if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// enableMemory lets a v2 cgroup's children use the memory controller.
func enableMemory(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err == nil && hasWord(string(b), "memory") {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
		return fmt.Errorf("enable the memory controller for children of %s: %w", dir, err)
	}
	return nil
}
