package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

// Swap reads v2's swap files as they are, and on v1 takes the memory usage
// out of memsw's and the memory limit out of memsw's limit.
func TestSwap(t *testing.T) {
	write := func(dir string, files map[string]string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	root := t.TempDir()
	write(filepath.Join(root, "v2", "a"), map[string]string{"memory.swap.current": "4096", "memory.swap.max": "1048576"})
	write(filepath.Join(root, "v2", "b"), map[string]string{"memory.swap.current": "0", "memory.swap.max": "max"})
	write(filepath.Join(root, "v1", "a"), map[string]string{"memory.memsw.usage_in_bytes": "110", "memory.memsw.limit_in_bytes": "300"})
	write(filepath.Join(root, "v1", "b"), map[string]string{"memory.memsw.usage_in_bytes": "100", "memory.memsw.limit_in_bytes": "9223372036854771712"})
	v1, v2 := Hierarchy{Version: 1, Mount: filepath.Join(root, "v1")}, Hierarchy{Version: 2, Mount: filepath.Join(root, "v2")}
	for _, c := range []struct {
		m                 Memcg
		usage, memLimit   uint64
		wantSwap, wantLim uint64
		wantErr           bool
	}{
		{Memcg{v2, "/a"}, 0, 0, 4096, 1 << 20, false},
		{Memcg{v2, "/b"}, 0, 0, 0, 0, false},
		{Memcg{v1, "/a"}, 100, 200, 10, 100, false},
		{Memcg{v1, "/b"}, 100, 200, 0, 0, false}, // memsw unlimited
		{Memcg{v1, "/none"}, 100, 200, 0, 0, true},
	} {
		s, l, err := c.m.Swap(c.usage, c.memLimit)
		if s != c.wantSwap || l != c.wantLim || (err != nil) != c.wantErr {
			t.Errorf("%+v: swap %d limit %d err %v; want %d %d (error %v)", c.m, s, l, err, c.wantSwap, c.wantLim, c.wantErr)
		}
	}
}
