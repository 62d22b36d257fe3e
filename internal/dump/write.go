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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/oomtrace/oomtrace/internal/safe"
)

// nameTime is the timestamp layout of dump file names: basic ISO 8601, UTC,
// to the millisecond.
const nameTime = "20060102T150405.000Z"

// Name returns the base name (without extension) of a dump's files:
//
//	oom-20261125T190257.123Z-10717   KindOOM: time of the kill, then the victim's pid
//	snapshot-20261125T190257.123Z    KindSnapshot
//	warn-20261125T190257.123Z        KindWarn
//	summary                          KindSummary (one per run)
//
// The time is printed in UTC to the millisecond. Two OOM kills in the same
// millisecond still get distinct names because their victims' pids differ.
// The pid is ignored for other kinds; two of them in the same millisecond
// (warnings for two domains in one sample) would share a name, so a writer
// that may produce such pairs makes them unique with Unique. An unknown kind
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

// Unique returns the first of base, base-2, base-3, ... that taken reports
// free.
func Unique(base string, taken func(string) bool) string {
	name := base
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// WriteFiles writes d as base+".json", base+".html" and base+".txt" in dir,
// in that order, then, when some service has growth stacks, their pprof
// profile as base+".pb.gz"; it returns the paths written.
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
	type file struct {
		ext    string
		render func(io.Writer) error
	}
	files := []file{
		{".json", func(w io.Writer) error { return writeJSON(w, d) }},
		{".html", func(w io.Writer) error { return WriteHTML(w, d) }},
		{".txt", func(w io.Writer) error { return WriteText(w, d) }},
	}
	if HasStacks(d) {
		files = append(files, file{".pb.gz", func(w io.Writer) error { return WriteProfile(w, d) }})
	}
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, base+f.ext)
		if err := writeAtomic(path, f.render); err != nil {
			return written, fmt.Errorf("write dump %s: %s", path, safe.FoldSpace(err.Error()))
		}
		written = append(written, path)
	}
	return written, nil
}

// writeJSON encodes d, indented, with non-finite floats made finite.
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

// finiteDump returns a copy of d whose floats JSON can hold (see
// aggregate's Finite); d itself is never modified.
func finiteDump(d *Dump) *Dump {
	c := *d
	c.Warning = d.Warning.Finite()
	c.System = d.System.Finite()
	c.Services = slices.Clone(d.Services)
	for i := range c.Services {
		if g := c.Services[i].GrowthPerSec; math.IsNaN(g) || math.IsInf(g, 0) {
			c.Services[i].GrowthPerSec = 0
		}
	}
	return &c
}
