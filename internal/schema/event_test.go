package schema

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/tracer"
)

func TestFromEventShapes(t *testing.T) {
	at := time.Date(2026, 11, 25, 19, 2, 57, 123456789, time.UTC)
	for _, tc := range []struct {
		ev   tracer.Event
		want []string
		not  []string
	}{
		{tracer.Event{Type: tracer.EventMmap, Time: at, PID: 7, TID: 8, Comm: "py", Alloc: tracer.Alloc{Addr: 4096, Len: 1 << 20, Delta: 1 << 20, Prot: 3, Flags: 0x22}},
			[]string{`"type":"mmap"`, `"time":"2026-11-25T19:02:57.123456789Z"`, `"pid":7`, `"tid":8`, `"len":1048576`, `"prot":3`, `"flags":34`},
			[]string{`"victim"`, `"ppid"`, `"exit_code"`}},
		{tracer.Event{Type: tracer.EventExit, Time: at, PID: 9, Proc: tracer.Proc{PPID: 1, ExitCode: 0}},
			[]string{`"type":"exit"`, `"ppid":1`, `"exit_code":0`},
			[]string{`"len"`, `"filename"`}},
		{tracer.Event{Type: tracer.EventExec, Time: at, PID: 9, Proc: tracer.Proc{PPID: 1, Filename: "/bin/x"}},
			[]string{`"filename":"/bin/x"`},
			[]string{`"exit_code"`}},
		{tracer.Event{Type: tracer.EventOOMKill, Time: at, PID: 5, OOM: &tracer.OOMKill{Victim: tracer.Task{PID: 5, Comm: "hog"}, Trigger: tracer.Task{PID: 6, Comm: "trig"},
			AnonRSSBytes: 64 << 20, MemcgPath: "/a", Source: "tp_btf"}},
			[]string{`"type":"oom_kill"`, `"victim":{"pid":5`, `"comm":"hog"`, `"anon_rss_bytes":67108864`, `"memcg_path":"/a"`, `"trigger":{"pid":6,"tid":0,"comm":"trig"}`, `"source":"tp_btf"`},
			[]string{`"len"`}},
	} {
		b, err := json.Marshal(FromEvent(&tc.ev))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %s", b, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(string(b), n) {
				t.Errorf("%s has %s", b, n)
			}
		}
	}
}

// Any bytes in a name still give valid JSON.
func TestFromEventInvalidUTF8(t *testing.T) {
	ev := tracer.Event{Type: tracer.EventExec, Comm: "bad\xff\x1b[31m", Proc: tracer.Proc{Filename: "\xc3\x28"}}
	b, err := json.Marshal(FromEvent(&ev))
	if err != nil || !json.Valid(b) {
		t.Fatalf("%s: %v", b, err)
	}
}
