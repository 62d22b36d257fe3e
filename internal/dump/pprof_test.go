package dump

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/oomtrace/oomtrace/internal/testutil"
)

// The profile beside a dump with stacks has one sample per stack with its
// grown and held bytes and service, one location per distinct frame, one
// mapping per module; a dump without stacks gets no profile.
func TestWriteFilesProfile(t *testing.T) {
	dir := t.TempDir()
	d := testDumpStacks()
	paths, err := WriteFiles(dir, "oom", d)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 || paths[3] != filepath.Join(dir, "oom.pb.gz") {
		t.Fatalf("paths %q", paths)
	}
	f, err := os.Open(paths[3])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SampleType) != 2 || p.SampleType[0].Type != "grown_space" || p.SampleType[1].Type != "held_space" ||
		p.SampleType[0].Unit != "bytes" || p.SampleType[1].Unit != "bytes" || p.DefaultSampleType != "held_space" {
		t.Errorf("sample types %v, default %q", p.SampleType, p.DefaultSampleType)
	}
	if p.TimeNanos != d.Time.UnixNano() || p.DurationNanos != (10*time.Minute).Nanoseconds() {
		t.Errorf("time %d, duration %d", p.TimeNanos, p.DurationNanos)
	}
	type want struct {
		service      string
		grown, held  int64
		frames       []string
		truncated    bool
		samples      int64
		firstMapping string
	}
	var wants []want
	for _, s := range d.Services {
		for _, st := range s.Stacks {
			w := want{service: withUTF8(&s).Name, grown: int64(st.GrownBytes), held: int64(st.HeldBytes), truncated: st.Truncated,
				samples: int64(st.Samples)}
			for _, fr := range st.Frames {
				w.frames = append(w.frames, frameName(fr))
			}
			wants = append(wants, w)
		}
	}
	if len(p.Sample) != len(wants) {
		t.Fatalf("%d samples, want %d", len(p.Sample), len(wants))
	}
	for i, s := range p.Sample {
		w := wants[i]
		var frames []string
		for _, l := range s.Location {
			if len(l.Line) != 1 {
				t.Fatalf("sample %d: a location with %d lines", i, len(l.Line))
			}
			frames = append(frames, l.Line[0].Function.Name)
		}
		if s.Value[0] != w.grown || s.Value[1] != w.held || fmt.Sprint(frames) != fmt.Sprint(w.frames) ||
			s.Label["service"][0] != w.service || (s.Label["truncated"] != nil) != w.truncated || s.NumLabel["samples"][0] != w.samples {
			t.Errorf("sample %d: values %v, frames %q, labels %v %v; want %+v", i, s.Value, frames, s.Label, s.NumLabel, w)
		}
	}
	// main and __libc_start_main are shared by two stacks: one location
	// each; handle_request calls from two lines: two locations, one function.
	if len(p.Location) != 11 || len(p.Function) != 10 {
		t.Errorf("%d locations, %d functions, want 11 and 10", len(p.Location), len(p.Function))
	}
	mods := map[string]bool{}
	for _, m := range p.Mapping {
		if mods[m.File] || !m.HasFunctions {
			t.Errorf("mapping %q repeated or without functions", m.File)
		}
		mods[m.File] = true
	}
	if len(mods) != 4 || !mods[libc] || !mods[novaBin] || !mods[`/tmp/\x1b[31mevil.so`] {
		t.Errorf("mappings %v", mods)
	}
	for _, fn := range p.Function {
		if strings.ContainsRune(fn.Name, 0x1b) {
			t.Errorf("a raw ESC in function %q", fn.Name)
		}
	}

	paths, err = WriteFiles(t.TempDir(), "plain", testDump())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Errorf("a dump without stacks wrote %q", paths)
	}
	if err := WriteProfile(&bytes.Buffer{}, testDump()); err == nil {
		t.Error("WriteProfile of a dump without stacks: no error")
	}
}

// `go tool pprof -top` reads the profile and puts the function that holds
// most first, with its share of all held bytes.
func TestProfileInGoToolPprof(t *testing.T) {
	goTool := testutil.NeedTool(t, "go", "golang-go")
	dir := t.TempDir()
	d := testDumpStacks()
	paths, err := WriteFiles(dir, "oom", d)
	if err != nil {
		t.Fatal(err)
	}
	var total, top uint64
	for _, s := range d.Services {
		for _, st := range s.Stacks {
			total += st.HeldBytes
			if st.Frames[0].Function == topFunc {
				top += st.HeldBytes
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "tool", "pprof", "-top", paths[3])
	// No symbolization against this machine's files, no browser, no network.
	cmd.Env = append(os.Environ(), "PPROF_BINARY_PATH="+dir, "PPROF_TMPDIR="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool pprof -top: %v\n%s", err, stderr.String())
	}
	// The rows follow the header "flat  flat%  sum%  cum  cum%".
	lines := strings.Split(string(out), "\n")
	row := -1
	for i, l := range lines {
		if f := strings.Fields(l); len(f) >= 5 && f[0] == "flat" && f[1] == "flat%" {
			row = i + 1
			break
		}
	}
	if row < 0 || row >= len(lines) {
		t.Fatalf("no table in:\n%s", out)
	}
	f := strings.Fields(lines[row])
	if len(f) < 6 || f[5] != topFunc {
		t.Fatalf("first row %q, want %s on top in:\n%s", lines[row], topFunc, out)
	}
	if want := fmt.Sprintf("%.2f%%", 100*float64(top)/float64(total)); f[1] != want {
		t.Errorf("%s flat share %s, want %s (of all held bytes)", topFunc, f[1], want)
	}
	if !strings.Contains(string(out), "held_space") {
		t.Errorf("not the held_space sample type by default:\n%s", out)
	}
}
