package oomtrace

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/dump"
)

// The events ring overflows under a flood while a process is OOM-killed:
// the kill still arrives and gets its dump, and the loss is counted per type
// in the dump, the metrics and the exit summary.
func TestFloodDoesNotHideOOM(t *testing.T) {
	requireRoot(t)
	cg := testCgroup(t, "flood", 32<<20)
	port := freePort(t)
	out, rec, stderr := startRecorder(t, "-d", "250ms", "--ring-size", "4K", "--min-size", "1", "--metrics-addr", fmt.Sprintf(":%d", port))

	flood := startChild(t, "flood", "2", "200000", "65536")
	hog := startChildIn(t, cg, "hog", strconv.Itoa(4<<20))
	hog.expect(t, "ready")
	time.Sleep(200 * time.Millisecond) // the flood is under way
	hog.send(t)
	hog.cmd.Wait()
	flood.expect(t, "flood")

	files := waitGlob(t, filepath.Join(out, "oom-*.json"), 1, 15*time.Second)
	d, err := dump.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Victim.PID != uint32(hog.pid) {
		t.Errorf("victim %d, want the hog %d", d.Victim.PID, hog.pid)
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
