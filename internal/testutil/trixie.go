package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TrixieDefault is where .ci/trixie-root.sh makes the Debian trixie root
// (python3.13, memray, austin) unless OOMTRACE_TRIXIE_ROOT says otherwise.
const TrixieDefault = "/var/tmp/oomtrace-trixie"

// TrixieRoot is the trixie root, complete; missing, the test skips (or
// fails under CI=true, where .ci/run makes it) saying how to make it.
func TrixieRoot(t testing.TB) string {
	t.Helper()
	NeedRoot(t) // chroot
	root := os.Getenv("OOMTRACE_TRIXIE_ROOT")
	if root == "" {
		root = TrixieDefault
	}
	if _, err := os.Stat(filepath.Join(root, ".complete")); err != nil {
		SkipOrFail(t, "no Debian trixie root at %s (make it: sudo bash .ci/trixie-root.sh)", root)
	}
	return root
}

// TrixieDir is a directory in the root's /tmp, removed when the test ends:
// its path inside the root and outside.
func TrixieDir(t testing.TB, root string) (inside, outside string) {
	t.Helper()
	outside, err := os.MkdirTemp(filepath.Join(root, "tmp"), "oomtrace-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(outside) })
	return "/" + filepath.Join("tmp", filepath.Base(outside)), outside
}

// InTrixie is a command running args inside the root, with /proc mounted
// there in a mount namespace of its own (gone with the process, so nothing
// stays mounted). unshare and chroot exec in turn: the command's pid is the
// program's.
func InTrixie(root string, args ...string) *exec.Cmd {
	script := `mount -t proc proc "$0/proc" && exec chroot "$0" "$@"`
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, root}, args...)...)
}
