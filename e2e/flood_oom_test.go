package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/testutil"
)

// The events ring overflows under a flood while a process is OOM-killed:
// the kill still arrives and gets its dump, and the loss is counted per type
// in the dump, the metrics and the exit summary.
func TestFloodDoesNotHideOOM(t *testing.T) {
	testutil.NeedRoot(t)
	cg := testCgroup(t, "flood", 32<<20)
	port := freePort(t)
	out, rec, stderr := startRecorder(t, "-d", "250ms", "--ring-size", "4K", "--min-size", "1", "--metrics-addr", fmt.Sprintf(":%d", port))

	flood := testutil.StartChild(t, "flood", "2", "200000", "65536")
	hog := startChildIn(t, cg, "hog", strconv.Itoa(4<<20))
	hog.Expect(t, "ready")
	// The flood is under way once the recorder counts mmap events lost to it.
	lost := `oomtrace_events_lost_total{reason="ring",type="mmap"}`
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if v, err := tryScrape(port, lost); err == nil && v > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the recorder counted no mmap event lost to the flood within 15s")
		}
	}
	hog.Send(t)
	hog.Cmd.Wait()
	if !running(t, flood.Pid) {
		t.Fatal("the flood ended before the hog's OOM kill: make it longer")
	}
	flood.Expect(t, "flood")

	files := waitGlob(t, filepath.Join(out, "oom-*.json"), 1, 15*time.Second)
	d, err := dump.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Victim.PID != uint32(hog.Pid) {
		t.Errorf("victim %d, want the hog %d", d.Victim.PID, hog.Pid)
	}
	if d.LostEvents["mmap"] == 0 || d.LostEvents["oom_kill"] != 0 {
		t.Errorf("dump lost events %v: want mmap losses and no OOM loss", d.LostEvents)
	}
	if v, err := tryScrape(port, `oomtrace_events_lost_total{reason="ring",type="mmap"}`); err != nil || v == 0 {
		t.Errorf("metrics show no mmap loss: %v %v", v, err)
	}
	rec.Process.Signal(syscall.SIGTERM)
	rec.Wait()
	m := regexp.MustCompile(`mmap=(\d+)/(\d+)`).FindStringSubmatch(stderr.String())
	if m == nil || m[2] == "0" {
		t.Errorf("exit summary shows no mmap loss:\n%s", stderr.String())
	}
}

// running reports whether pid, a child not yet waited for, has not exited.
func running(t *testing.T, pid int) bool {
	t.Helper()
	stat := testutil.ReadFile(t, fmt.Sprintf("/proc/%d/stat", pid))
	f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
