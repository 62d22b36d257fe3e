package native

import (
	"bytes"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end, off uint64
	exec            bool
	dev             string // "fd:01"
	inode           uint64
	path            string // as in maps, " (deleted)" kept
}

// maxMapsLine bounds one maps line: a path is at most PATH_MAX (4096) and the
// fixed fields about 100 bytes; longer lines are dropped.
const maxMapsLine = 4096 + 128

// parseMaps parses /proc/PID/maps text, keeping at most maxLines well-formed
// lines and dropping malformed ones; the result is sorted by start and free of
// empty or overlapping ranges.
func parseMaps(data []byte, maxLines int) []mapping {
	var out []mapping
	for len(data) > 0 && len(out) < maxLines {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) > maxMapsLine {
			continue
		}
		if m, ok := parseMapsLine(string(line)); ok {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	// Overlaps cannot come from the kernel; drop them so lookups stay unambiguous.
	kept := out[:0]
	for _, m := range out {
		if n := len(kept); n > 0 && m.start < kept[n-1].end {
			continue
		}
		kept = append(kept, m)
	}
	return kept
}

func parseMapsLine(s string) (mapping, bool) {
	var m mapping
	field := func() string {
		s = strings.TrimLeft(s, " ")
		f, rest, _ := strings.Cut(s, " ")
		s = rest
		return f
	}
	rng := field()
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		return m, false
	}
	var err error
	if m.start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, false
	}
	if m.end, err = strconv.ParseUint(hi, 16, 64); err != nil || m.end <= m.start {
		return m, false
	}
	perms := field()
	if len(perms) != 4 {
		return m, false
	}
	m.exec = perms[2] == 'x'
	if m.off, err = strconv.ParseUint(field(), 16, 64); err != nil {
		return m, false
	}
	m.dev = field()
	if !strings.Contains(m.dev, ":") {
		return m, false
	}
	if m.inode, err = strconv.ParseUint(field(), 10, 64); err != nil {
		return m, false
	}
	m.path = strings.TrimLeft(s, " ")
	return m, true
}

// readMaps reads dir/maps (dir: /proc/PID or /proc/PID/task/TID), at most
// maxLines lines of maxMapsLine bytes.
func readMaps(dir string, maxLines int) ([]mapping, error) {
	f, err := os.Open(dir + "/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(maxLines)*maxMapsLine))
	if err != nil {
		return nil, err
	}
	return parseMaps(data, maxLines), nil
}

// procMaps reads pid's mappings and says from which /proc directory. Once
// the leader has exited (pthread_exit) while other threads run, its maps
// are empty, and so are its map_files and root: a live thread's stand in.
func procMaps(pid uint32, maxLines int) (string, []mapping) {
	dir := "/proc/" + strconv.FormatUint(uint64(pid), 10)
	ms, err := readMaps(dir, maxLines)
	if err != nil || len(ms) > 0 {
		return dir, ms
	}
	tasks, _ := os.ReadDir(dir + "/task")
	for i, t := range tasks {
		if i >= maxTaskScan {
			break
		}
		td := dir + "/task/" + t.Name()
		if tm, err := readMaps(td, maxLines); err == nil && len(tm) > 0 {
			return td, tm
		}
	}
	return dir, ms
}

// maxTaskScan bounds the threads procMaps tries when the leader is gone.
const maxTaskScan = 64

// find returns the mapping holding addr, or nil.
func findMapping(ms []mapping, addr uint64) *mapping {
	i := sort.Search(len(ms), func(i int) bool { return ms[i].end > addr })
	if i < len(ms) && ms[i].start <= addr {
		return &ms[i]
	}
	return nil
}

// fileBacked reports whether the mapping names a file (not [heap], [vdso],
// anonymous memory or a memfd-less special).
func (m *mapping) fileBacked() bool {
	return m.inode != 0 && strings.HasPrefix(m.path, "/")
}
