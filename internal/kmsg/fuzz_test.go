package kmsg

import (
	"strings"
	"testing"
)

// FuzzParse feeds raw /dev/kmsg lines through ParseRecord and a Parser. The
// seeds in testdata/fuzz/FuzzParse are the real samples as raw records.
func FuzzParse(f *testing.F) {
	f.Add("4,1,5,-;w invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n" +
		"3,2,6,-;Out of memory: Killed process 7 (a (b) c) total-vm:1kB, anon-rss:1kB, file-rss:0kB")
	f.Fuzz(func(t *testing.T, data string) {
		ParseRecord(data) // a whole read, dictionary lines included
		var p Parser
		for _, line := range strings.Split(data, "\n") {
			rec, err := ParseRecord(line)
			if err != nil {
				continue
			}
			if rec.Priority < 0 {
				t.Fatalf("negative priority from %q", line)
			}
			rep, ok := p.Feed(rec)
			if !ok {
				continue
			}
			// A report only ever comes from a kernel "Killed process" line,
			// and says what that line says.
			v, isKill := parseKilled(rec.Message)
			switch {
			case !rec.kernel():
				t.Fatalf("report from a user-space record %q", line)
			case !isKill || !strings.Contains(rec.Message, killedTag):
				t.Fatalf("report from a line that is not a kill: %q", line)
			case rep.PID <= 0 || rep.PID != v.pid || rep.Comm != v.comm:
				t.Fatalf("report %+v does not match its line %q", rep, line)
			case rep.Usec != rec.Usec:
				t.Fatalf("report time %d, line time %d", rep.Usec, rec.Usec)
			case rep.UID < -1:
				t.Fatalf("uid %d", rep.UID)
			case !strings.Contains(rec.Message, "("+rep.Comm+")"):
				t.Fatalf("comm %q not in %q", rep.Comm, rec.Message)
			}
		}
	})
}
