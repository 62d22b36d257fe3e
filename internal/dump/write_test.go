package dump

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestName(t *testing.T) {
	at := time.Date(2026, 11, 25, 20, 2, 57, 500, time.FixedZone("CET", 3600))
	for _, c := range []struct {
		kind string
		pid  uint32
		want string
	}{
		{KindOOM, 10717, "oom-20261125T190257.000Z-10717"},
		{KindSnapshot, 10717, "snapshot-20261125T190257.000Z"},
		{KindWarn, 0, "warn-20261125T190257.000Z"},
		{KindSummary, 10717, "summary"},
		{"../../etc/x", 1, "etcx-20261125T190257.000Z"},
		{"", 1, "dump-20261125T190257.000Z"},
	} {
		if got := Name(c.kind, at, c.pid); got != c.want {
			t.Errorf("Name(%q, %d) = %q, want %q", c.kind, c.pid, got, c.want)
		}
	}
	if a, b := Name(KindOOM, at, 10717), Name(KindOOM, at.Add(100*time.Millisecond), 10718); a == b {
		t.Errorf("two OOM kills in the same second share the name %q", a)
	}
	// Snapshots 350 ms apart (two SIGUSR2 in a second) keep both.
	if a, b := Name(KindSnapshot, at, 0), Name(KindSnapshot, at.Add(350*time.Millisecond), 0); a == b || b != "snapshot-20261125T190257.350Z" {
		t.Errorf("snapshots 350 ms apart: %q and %q", a, b)
	}
	taken := map[string]bool{"warn-x": true, "warn-x-2": true}
	if got := Unique("warn-x", func(n string) bool { return taken[n] }); got != "warn-x-3" {
		t.Errorf("Unique = %q, want warn-x-3", got)
	}
	if got := Unique("warn-y", func(n string) bool { return taken[n] }); got != "warn-y" {
		t.Errorf("Unique = %q, want warn-y", got)
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	d := testDump()
	base := Name(d.Kind, d.Time, d.Victim.PID)
	paths, err := WriteFiles(dir, base, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, base+".json"), filepath.Join(dir, base+".html"), filepath.Join(dir, base+".txt"),
	}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths = %q, want %q", paths, want)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
		if fi.Size() < 1000 {
			t.Errorf("%s: only %d bytes", p, fi.Size())
		}
	}
	if names := listDir(t, dir); len(names) != 3 {
		t.Errorf("dir holds %q, want only the three dump files", names)
	}
	// Writing again replaces the files, still leaving nothing else.
	if _, err := WriteFiles(dir, base, d); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); len(names) != 3 {
		t.Errorf("after a rewrite dir holds %q", names)
	}
	got, err := ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, withUTF8(d)) {
		t.Error("the JSON file does not decode to the dump written")
	}
}

func TestWriteFilesErrors(t *testing.T) {
	d := testDump()
	check := func(t *testing.T, dir string, wantIn ...string) {
		t.Helper()
		paths, err := WriteFiles(dir, "oom-x", d)
		if err == nil {
			t.Fatalf("WriteFiles into %s succeeded: %q", dir, paths)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("error is not one line: %q", msg)
		}
		for _, s := range wantIn {
			if !strings.Contains(msg, s) {
				t.Errorf("error %q does not name %q", msg, s)
			}
		}
		t.Log(msg)
	}
	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		check(t, dir, filepath.Join(dir, "oom-x.json"))
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s was created", dir)
		}
	})
	t.Run("read-only dir", func(t *testing.T) {
		dir := t.TempDir()
		readOnly(t, dir)
		check(t, dir, filepath.Join(dir, "oom-x.json"))
		if names := listDir(t, dir); len(names) != 0 {
			t.Errorf("left behind %q", names)
		}
	})
	t.Run("rename fails", func(t *testing.T) {
		// The final name of the HTML file is a directory: the JSON file is
		// written, the HTML temp file is written and then removed.
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "oom-x.html"), 0o700); err != nil {
			t.Fatal(err)
		}
		check(t, dir, filepath.Join(dir, "oom-x.html"))
		names := listDir(t, dir)
		if !reflect.DeepEqual(names, []string{"oom-x.html", "oom-x.json"}) {
			t.Errorf("dir holds %q, want the JSON file and the blocking directory only", names)
		}
	})
	t.Run("file for dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(dir, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		check(t, dir, filepath.Join(dir, "oom-x.json"))
		if b, err := os.ReadFile(dir); err != nil || string(b) != "x" {
			t.Errorf("the file in the directory's place now holds %q (%v)", b, err)
		}
	})
	t.Run("bad base", func(t *testing.T) {
		for _, base := range []string{"", ".", "..", "a/b", "../x"} {
			if _, err := WriteFiles(t.TempDir(), base, d); err == nil {
				t.Errorf("base %q accepted", base)
			}
		}
	})
}

// readOnly makes dir unwritable for the rest of the test: by its mode, or,
// since root ignores modes, by a read-only bind mount in a mount namespace of
// the test's own thread, which stays locked so that no other goroutine runs
// there (the runtime ends a thread still locked when its goroutine exits).
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if !writable(dir) {
		return
	}
	runtime.LockOSThread()
	err := unix.Unshare(unix.CLONE_NEWNS)
	if err == nil {
		err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	}
	if err == nil {
		err = unix.Mount(dir, dir, "", unix.MS_BIND, "")
	}
	if err == nil {
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
		err = unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
	}
	if err != nil {
		testutil.SkipOrFail(t, "root ignores the mode of %s, and a read-only bind mount of it failed: %v", dir, err)
	}
	if writable(dir) {
		t.Fatalf("%s is still writable under a read-only bind mount", dir)
	}
}

func writable(dir string) bool {
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

func TestWriteFilesNonFinite(t *testing.T) {
	d := testDump()
	d.Services[0].GrowthPerSec = math.NaN()
	d.System.PSI.Some10 = math.Inf(1)
	paths, err := WriteFiles(t.TempDir(), "x", d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Services[0].GrowthPerSec != 0 || got.System.PSI.Some10 != 0 {
		t.Errorf("non-finite floats written as %v, %v", got.Services[0].GrowthPerSec, got.System.PSI.Some10)
	}
	if d.System.PSI.Some10 == got.System.PSI.Some10 || d.Services[0].GrowthPerSec == d.Services[0].GrowthPerSec {
		t.Error("WriteFiles modified the dump")
	}
}
