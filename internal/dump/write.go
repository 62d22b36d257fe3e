package dump

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// nameTime is the timestamp layout of dump file names: basic ISO 8601, UTC.
const nameTime = "20060102T150405Z"

// Name returns the base name (without extension) of a dump's files:
//
//	oom-20261125T190257Z-10717   KindOOM: time of the kill, then the victim's pid
//	snapshot-20261125T190257Z    KindSnapshot
//	warn-20261125T190257Z        KindWarn
//	summary                      KindSummary (one per run)
//
// The time is printed in UTC to the second. Two OOM kills in the same second
// still get distinct names because their victims' pids differ (a pid cannot
// be killed twice in one second). The pid is ignored for other kinds, so a
// second snapshot or warning within the same second replaces the first one
// (atomically: readers see one complete dump or the other). An unknown kind
// is kept only as letters, digits, '-' and '_', so a name never holds a path
// separator.
func Name(kind string, t time.Time, pid uint32) string {
	ts := t.UTC().Format(nameTime)
	switch kind {
	case KindSummary:
		return "summary"
	case KindOOM:
		return fmt.Sprintf("oom-%s-%d", ts, pid)
	}
	k := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, kind)
	if k == "" {
		k = "dump"
	}
	return k + "-" + ts
}

// WriteFiles writes d as base+".json", base+".html" and base+".txt" in dir,
// in that order, and returns the paths written.
//
// Each file is written atomically: into a new temporary file in dir
// (O_EXCL, mode 0600), synced, closed, renamed over the final name, and the
// directory synced. A final name therefore only ever holds a complete file;
// a process killed mid-write (SIGTERM, SIGKILL, power loss) leaves at most a
// hidden ".<name>.tmp-*" file, never a partial dump. On an error the
// temporary file is removed and the error, one line, names the file; the
// paths returned are those completed before it.
func WriteFiles(dir, base string, d *Dump) ([]string, error) {
	if d == nil {
		return nil, errors.New("write dump: no dump")
	}
	if base == "" || base == "." || base == ".." || strings.ContainsAny(base, `/\`+"\x00") {
		return nil, fmt.Errorf("write dump: invalid base name %q", base)
	}
	files := []struct {
		ext    string
		render func(io.Writer) error
	}{
		{".json", func(w io.Writer) error { return writeJSON(w, d) }},
		{".html", func(w io.Writer) error { return WriteHTML(w, d) }},
		{".txt", func(w io.Writer) error { return WriteText(w, d) }},
	}
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, base+f.ext)
		if err := writeAtomic(path, f.render); err != nil {
			return written, fmt.Errorf("write dump %s: %s", path, oneLine(err.Error()))
		}
		written = append(written, path)
	}
	return written, nil
}

// writeJSON encodes d, indented. Non-finite floats, which JSON cannot hold,
// are written as 0 (NaN) or ±MaxFloat64 (±Inf) rather than losing the dump.
func writeJSON(w io.Writer, d *Dump) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(finiteDump(d))
}

// writeAtomic renders into a temporary file beside path and renames it there.
func writeAtomic(path string, render func(io.Writer) error) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*") // O_RDWR|O_CREATE|O_EXCL, 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err = render(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Filesystems that cannot sync a
// directory (EINVAL, ENOTSUP) are not an error: the rename is still atomic.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// oneLine folds an error message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func finite(f float64) float64 {
	switch {
	case math.IsNaN(f):
		return 0
	case math.IsInf(f, 1):
		return math.MaxFloat64
	case math.IsInf(f, -1):
		return -math.MaxFloat64
	}
	return f
}

// finiteDump returns d, or a copy of it with every float made finite when
// one is not. d itself is never modified.
func finiteDump(d *Dump) *Dump {
	if allFinite(d) {
		return d
	}
	c := *d
	c.Warning = finiteTimeToOOM(d.Warning)
	c.System = finiteSystem(d.System)
	if d.Services != nil {
		c.Services = make([]Service, len(d.Services))
		copy(c.Services, d.Services)
		for i := range c.Services {
			c.Services[i].GrowthPerSec = finite(c.Services[i].GrowthPerSec)
		}
	}
	return &c
}

func finiteTimeToOOM(t *aggregate.TimeToOOM) *aggregate.TimeToOOM {
	if t == nil {
		return nil
	}
	c := *t
	c.Seconds, c.Growth = finite(c.Seconds), finite(c.Growth)
	return &c
}

func finiteSystem(s aggregate.System) aggregate.System {
	s.EventsPerSec = finite(s.EventsPerSec)
	s.GrowthBytesPerS = finite(s.GrowthBytesPerS)
	if s.PSI != nil {
		p := *s.PSI
		p.Some10, p.Some60, p.Some300 = finite(p.Some10), finite(p.Some60), finite(p.Some300)
		p.Full10, p.Full60, p.Full300 = finite(p.Full10), finite(p.Full60), finite(p.Full300)
		s.PSI = &p
	}
	s.TimeToOOM = finiteTimeToOOM(s.TimeToOOM)
	if s.Memcgs != nil {
		m := append(s.Memcgs[:0:0], s.Memcgs...)
		for i := range m {
			m[i].TimeToOOM = finiteTimeToOOM(m[i].TimeToOOM)
		}
		s.Memcgs = m
	}
	return s
}

// allFinite reports whether every float in d is finite.
func allFinite(d *Dump) bool {
	ok := func(fs ...float64) bool {
		for _, f := range fs {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return false
			}
		}
		return true
	}
	tto := func(t *aggregate.TimeToOOM) bool { return t == nil || ok(t.Seconds, t.Growth) }
	s := d.System
	if !tto(d.Warning) || !tto(s.TimeToOOM) || !ok(s.EventsPerSec, s.GrowthBytesPerS) {
		return false
	}
	if p := s.PSI; p != nil && !ok(p.Some10, p.Some60, p.Some300, p.Full10, p.Full60, p.Full300) {
		return false
	}
	for _, m := range s.Memcgs {
		if !tto(m.TimeToOOM) {
			return false
		}
	}
	for _, sv := range d.Services {
		if !ok(sv.GrowthPerSec) {
			return false
		}
	}
	return true
}
