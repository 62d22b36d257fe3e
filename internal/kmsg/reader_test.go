package kmsg

import (
	"errors"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// testdata/kmsg-6.18-memcg.txt holds raw /dev/kmsg records (dictionary lines
// included) of a memcg OOM kill on 6.18.44, read on this project's test VM.
const dump618 = "testdata/kmsg-6.18-memcg.txt"

var want618 = Report{Usec: 513042773, Trigger: "workload", TriggerPID: 5403, Reason: "Memory cgroup out of memory", GFPMask: "0xcc0(GFP_KERNEL)",
	Constraint: "CONSTRAINT_MEMCG",
	OOMMemcg:   "/process_api/87c1cb32710203ddaeb1a7bbaeab7b46/manual-test",
	TaskMemcg:  "/process_api/87c1cb32710203ddaeb1a7bbaeab7b46/manual-test",
	PID:        5403, Comm: "workload", UID: 0,
	TotalVMKB: 67880, AnonRSSKB: 65024, FileRSSKB: 1460, PgTablesKB: 168}

// kmsgRecords splits a dump into records as read(2) returns them: a line
// and its dictionary lines.
func kmsgRecords(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(l, " ") && len(recs) > 0 {
			recs[len(recs)-1] += l
		} else if l != "" {
			recs = append(recs, l)
		}
	}
	return recs
}

func nextOrFail(t *testing.T, r *Reader) Report {
	t.Helper()
	rep, err := r.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return rep
}

func TestReaderCloseUnblocksNext(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	r := newReader(pr)
	go func() {
		for _, rec := range kmsgRecords(t, dump618) { // one record a write, like /dev/kmsg
			pw.WriteString(rec)
		}
	}()
	if rep := nextOrFail(t, r); !reflect.DeepEqual(rep, want618) {
		t.Fatalf("got %+v\nwant %+v", rep, want618)
	}

	done := make(chan error, 1)
	go func() { _, err := r.Next(); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Next returned with nothing to read: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("pending Next: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Next")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Next(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
}

func TestReaderSplitWrites(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r := newReader(pr)
	defer r.Close()
	data, err := os.ReadFile(dump618)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for len(data) > 0 {
			n := min(7, len(data))
			pw.Write(data[:n])
			data = data[n:]
		}
		pw.Close()
	}()
	if rep := nextOrFail(t, r); !reflect.DeepEqual(rep, want618) {
		t.Fatalf("got %+v", rep)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// script is a source that returns canned reads.
type script []any // string or error

func (s *script) Read(b []byte) (int, error) {
	if len(*s) == 0 {
		return 0, io.EOF
	}
	step := (*s)[0]
	*s = (*s)[1:]
	if err, ok := step.(error); ok {
		return 0, err
	}
	return copy(b, step.(string)), nil
}

func (s *script) Close() error { return nil }

func TestReaderSkipsOverwrittenRecords(t *testing.T) {
	src := &script{
		"4,10,100,-;w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n",
		&os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EPIPE},
		"3,11,200,-;Out of memory: Killed process 4 (d) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB\n",
		"3,12,300,-;Out of memory: Killed process 5 (e) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB", // no newline at EOF
	}
	r := newReader(src)
	if rep := nextOrFail(t, r); rep.PID != 4 || rep.Trigger != "" || rep.Usec != 200 {
		t.Errorf("after EPIPE: %+v", rep)
	}
	if rep := nextOrFail(t, r); rep.PID != 5 {
		t.Errorf("last record: %+v", rep)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("at the end: %v", err)
	}
}

func TestReaderReadError(t *testing.T) {
	r := newReader(&script{syscall.EIO})
	if _, err := r.Next(); !errors.Is(err, syscall.EIO) {
		t.Errorf("got %v, want EIO", err)
	}
}

func TestOpenFile(t *testing.T) {
	r, err := Open(dump618, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rep := nextOrFail(t, r); !reflect.DeepEqual(rep, want618) {
		t.Fatalf("got %+v", rep)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}

	r2, err := Open(dump618, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Next(); err != io.EOF {
		t.Fatalf("from the end: %v, want io.EOF", err)
	}

	if _, err := Open("testdata/no-such-file", false); err == nil {
		t.Fatal("opened a missing file")
	}
}

// TestDevKmsg reads the real /dev/kmsg (root only; it causes no OOM) and
// closes the reader while Next waits in the poller for a new record.
func TestDevKmsg(t *testing.T) {
	for _, fromEnd := range []bool{false, true} {
		r, err := Open("/dev/kmsg", fromEnd)
		if err != nil {
			testutil.SkipOrFail(t, "cannot open /dev/kmsg (root only where dmesg_restrict is set): %v", err)
		}
		done := make(chan error, 1)
		n := 0
		go func() {
			for {
				rep, err := r.Next()
				if err != nil {
					done <- err
					return
				}
				if rep.PID <= 0 {
					t.Errorf("report without a pid: %+v", rep)
				}
				n++
			}
		}()
		waitPolling(t)
		r.Close()
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("fromEnd=%v: %v, want os.ErrClosed", fromEnd, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fromEnd=%v: Close did not unblock Next", fromEnd)
		}
		t.Logf("fromEnd=%v: %d reports", fromEnd, n)
	}
}

// waitPolling waits until a goroutine's Next is parked in the poller, so
// that Close has a pending read to unblock (Next checks for Close before it
// reads, which would pass the test without one).
func waitPolling(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "runtime_pollWait") && strings.Contains(g, "kmsg.(*Reader).Next") {
				return
			}
		}
	}
	t.Fatal("Next did not wait in the poller within 10s")
}
