package schema

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/tracer"
)

// A sampled call carries its stack; others carry none.
func TestEventStack(t *testing.T) {
	ev := tracer.Event{Type: tracer.EventBrk, PID: 7, Alloc: tracer.Alloc{Addr: 0x5000, Delta: 4096},
		Sample: &tracer.Sample{Weight: 600 << 10}}
	out := FromEvent(&ev)
	out.WithStack(&ev, []aggregate.Frame{{Function: "keep_it", Module: "/bin/kc", Offset: 0x1139, Kind: "native"}, {Function: "main", Kind: "native"}}, true)
	b, _ := json.Marshal(out)
	want := `"stack":{"weight_bytes":614400,"truncated":true,"frames":[{"function":"keep_it","module":"/bin/kc","offset":4409,"kind":"native"},{"function":"main","kind":"native"}]}`
	if !strings.Contains(string(b), want) {
		t.Errorf("%s lacks %s", b, want)
	}
	ev.Sample = nil
	out = FromEvent(&ev)
	out.WithStack(&ev, nil, false)
	if b, _ := json.Marshal(out); strings.Contains(string(b), `"stack"`) {
		t.Errorf("unsampled event with a stack: %s", b)
	}
}
