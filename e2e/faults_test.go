package e2e

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// inMountNS runs a shell script in a private mount namespace, so it can hide
// kernel interfaces from oomtrace without touching the machine's mounts.
func inMountNS(t *testing.T, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script, "sh", oomtraceBin(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Kernel and environment faults end in a fallback or in one line naming
// what is missing, never a stack trace.
func TestEnvironmentFaults(t *testing.T) {
	testutil.NeedRoot(t)
	t.Run("tracefs not mounted", func(t *testing.T) {
		out, err := inMountNS(t, `
			umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null
			grep -qE " /sys/kernel(/debug)?/tracing tracefs " /proc/self/mounts && { echo "tracefs still mounted"; exit 9; }
			"$1" events --duration 1s --min-size 1G >/dev/null || exit $?
			grep " tracefs " /proc/self/mounts`)
		if err != nil || !strings.Contains(out, "/sys/kernel/tracing tracefs") {
			t.Errorf("oomtrace did not mount tracefs and run: %v\n%s", err, out)
		}
	})
	t.Run("no BTF", func(t *testing.T) {
		for _, args := range []string{"events", "record --out /tmp/x", "doctor"} {
			out, err := inMountNS(t, `mount --bind /dev/null /sys/kernel/btf/vmlinux && exec "$1" `+args)
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Errorf("%s without BTF: %v, want exit 1\n%s", args, err, out)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Errorf("%s without BTF: a stack trace:\n%s", args, out)
			}
			// The error is the last line, whole, and names BTF (doctor's
			// checks come before it; record may warn first).
			last := strings.TrimSpace(out)
			last = last[strings.LastIndexByte(last, '\n')+1:]
			name, _, _ := strings.Cut(args, " ")
			if !strings.HasPrefix(last, "oomtrace "+name+": ") || strings.Count(out, "oomtrace "+name+": ") != 1 ||
				!strings.Contains(strings.ToLower(last), "btf") {
				t.Errorf("%s without BTF: last line %q, want the one-line error naming BTF\n%s", args, last, out)
			}
		}
	})
	t.Run("tracefs cannot be mounted", func(t *testing.T) {
		out, err := inMountNS(t, `
			umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null
			d=$(mktemp -d) && mount --bind /sys/kernel/btf "$d"
			mount -t tmpfs -o size=64k none /sys/kernel && mkdir /sys/kernel/btf
			mount --bind "$d" /sys/kernel/btf && mount -o remount,ro /sys/kernel || exit 9
			exec "$1" events --duration 1s`)
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 || !strings.Contains(out, "tracefs") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("want one line naming tracefs and exit 1, got %v:\n%s", err, out)
		}
	})
}
