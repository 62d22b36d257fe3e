package recorder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/dump"
)

func stackOf(held uint64, leaf string, depth int) aggregate.Stack {
	st := aggregate.Stack{HeldBytes: held, GrownBytes: 2 * held, Samples: held >> 19,
		Frames: []aggregate.Frame{{Function: leaf, File: "app.c", Line: 7, Module: "/usr/bin/app", Kind: "native"}}}
	for i := 1; i < depth; i++ {
		st.Frames = append(st.Frames, aggregate.Frame{Module: "/usr/bin/app", Offset: uint64(i), Kind: "native"})
	}
	return st
}

// An OOM dump carries the stacks of the victim's service, the trigger's and
// the top growers', bounded, from the last snapshot that had each service,
// also when the victim's service is gone from the newest one; a pprof
// profile lies beside it. A snapshot dump of services without stacks gets
// neither.
func TestDumpCarriesStacks(t *testing.T) {
	dir := t.TempDir()
	var kernel uint64
	r, c, _ := newTest(t, dir, &kernel)

	var hog []aggregate.Stack
	for i := range 20 {
		hog = append(hog, stackOf(uint64(i+1)<<20, "keep_it", 70+i))
	}
	trig := []aggregate.Stack{stackOf(3<<20, "trig_alloc", 3)}
	quiet := []aggregate.Stack{stackOf(1<<20, "quiet_alloc", 2)}
	for i := range 3 {
		r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second), Services: []aggregate.Service{
			{Name: "svc-hog", Procs: 1, Memory: aggregate.Memory{RSS: uint64(60+10*i) << 20}, Stacks: hog},
			{Name: "svc-trig", Procs: 1, Memory: aggregate.Memory{RSS: 8 << 20}, Stacks: trig},
			{Name: "svc-quiet", Procs: 1, Memory: aggregate.Memory{RSS: 5 << 20}, Stacks: quiet},
		}})
	}
	// The victim's service dies with the kill: the next snapshot shows it
	// without processes or stacks, the newest lacks it.
	r.OnEvent(oomEvent(c.step(time.Second), 100))
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(time.Second), Services: []aggregate.Service{
		{Name: "svc-hog", Procs: 0},
		{Name: "svc-trig", Procs: 1, Memory: aggregate.Memory{RSS: 8 << 20}, Stacks: trig}}})
	r.OnSnapshot(aggregate.Snapshot{Time: c.step(2 * time.Second), Services: []aggregate.Service{
		{Name: "svc-trig", Procs: 1, Memory: aggregate.Memory{RSS: 8 << 20}, Stacks: trig}}})
	ds := readDumps(t, filepath.Join(dir, "oom-*-100.json"))
	if len(ds) != 1 {
		t.Fatalf("%d dumps", len(ds))
	}
	d := ds[0]
	got := map[string][]aggregate.Stack{}
	for _, s := range d.Services {
		got[s.Name] = s.Stacks
	}
	v := got["svc-hog"]
	if len(v) != dump.MaxStacks {
		t.Fatalf("victim's service: %d stacks, want %d", len(v), dump.MaxStacks)
	}
	for i, st := range v {
		if st.HeldBytes != uint64(20-i)<<20 || len(st.Frames) != dump.MaxFrames || !st.Truncated || st.Frames[0].Function != "keep_it" {
			t.Errorf("stack %d: held %d, %d frames, truncated %v, leaf %q", i, st.HeldBytes, len(st.Frames), st.Truncated, st.Frames[0].Function)
		}
	}
	if len(got["svc-trig"]) != 1 || got["svc-trig"][0].Frames[0].Function != "trig_alloc" {
		t.Errorf("trigger's service stacks: %+v", got["svc-trig"])
	}
	// svc-quiet is among the top growers of so few services: it has its own.
	if len(got["svc-quiet"]) != 1 {
		t.Errorf("svc-quiet stacks: %+v", got["svc-quiet"])
	}
	base := strings.TrimSuffix(r.Dumps()[0], ".json")
	if _, err := os.Stat(base + ".pb.gz"); err != nil {
		t.Errorf("no profile beside the dump: %v", err)
	}
	txt, _ := os.ReadFile(base + ".txt")
	if !strings.Contains(string(txt), "Growth stacks of svc-hog (VICTIM)") {
		t.Errorf("the text dump lacks the victim's stacks:\n%s", txt)
	}

	// Services without stacks: no stacks, no profile.
	dir2 := t.TempDir()
	r2, c2, _ := newTest(t, dir2, &kernel)
	r2.OnSnapshot(aggregate.Snapshot{Time: c2.step(time.Second), Services: []aggregate.Service{
		{Name: "svc-a", Procs: 1, Memory: aggregate.Memory{RSS: 8 << 20}}}})
	paths, err := r2.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Errorf("snapshot without stacks wrote %q", paths)
	}
}
