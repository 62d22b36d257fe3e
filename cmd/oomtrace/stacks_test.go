package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/oomtrace/oomtrace/tracer"
)

// --stack-sample: the tracer's default unless told, 0 turns stacks off (no
// resolver either), and a size too small to be an interval is refused.
func TestStackSampleFlag(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		want  uint64
		fails bool
	}{
		{nil, tracer.DefaultStackSample, false},
		{[]string{"--stack-sample", "0"}, 0, false},
		{[]string{"--stack-sample", "2MiB"}, 2 << 20, false},
		{[]string{"--stack-sample", "1K"}, 0, true},
		{[]string{"--stack-sample", "lots"}, 0, true},
	} {
		var e engineFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		e.register(fs, time.Second, "512KiB")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := e.config()
		if tc.fails {
			if err == nil {
				t.Errorf("%v: no error", tc.args)
			}
			continue
		}
		if err != nil || cfg.tracer.StackSample != tc.want || (cfg.agg.Stacks != nil) != (tc.want > 0) {
			t.Errorf("%v: interval %d, resolver %v, %v; want %d", tc.args, cfg.tracer.StackSample, cfg.agg.Stacks != nil, err, tc.want)
		}
	}
}

// The recorder (record, run) samples stacks at 512 KiB like top, with the
// resolver's limits sized for its memory bound.
func TestRecorderStacksByDefault(t *testing.T) {
	var f recordFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.register(fs, "out")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.engineFlags.config()
	if err != nil || cfg.tracer.StackSample != tracer.DefaultStackSample || cfg.agg.Stacks == nil {
		t.Errorf("record's default: interval %d, resolver %v, %v; want %d with a resolver", cfg.tracer.StackSample, cfg.agg.Stacks != nil, err, tracer.DefaultStackSample)
	}
}

// A call the kernel sent only because it was sampled is below --min-size;
// one at least that large, or not sampled, is not.
func TestBelowMinSize(t *testing.T) {
	s := &tracer.Sample{Weight: 512 << 10}
	for _, tc := range []struct {
		ev   tracer.Event
		want bool
	}{
		{tracer.Event{Type: tracer.EventMmap, Alloc: tracer.Alloc{Len: 64 << 10}, Sample: s}, true},
		{tracer.Event{Type: tracer.EventMmap, Alloc: tracer.Alloc{Len: 1 << 20}, Sample: s}, false},
		{tracer.Event{Type: tracer.EventMmap, Alloc: tracer.Alloc{Len: 64 << 10}}, false},
		{tracer.Event{Type: tracer.EventBrk, Alloc: tracer.Alloc{Len: 8 << 20, Delta: 132 << 10}, Sample: s}, true},
		{tracer.Event{Type: tracer.EventMremap, Alloc: tracer.Alloc{Len: 8 << 20, Delta: 2 << 20}, Sample: s}, false},
		{tracer.Event{Type: tracer.EventExit, Sample: s}, false},
	} {
		if got := belowMinSize(&tc.ev, 1<<20); got != tc.want {
			t.Errorf("%s len %d delta %d sampled %v: %v, want %v", tc.ev.Type, tc.ev.Alloc.Len, tc.ev.Alloc.Delta, tc.ev.Sample != nil, got, tc.want)
		}
	}
}
