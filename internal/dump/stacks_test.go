package dump

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// The tree merges stacks by common prefix from the outermost frame: the two
// request stacks share __libc_start_main, main and handle_request (called
// from two lines, so its line is dropped) and split at their leaves; the
// worker thread and the truncated stack are roots of their own.
func TestFlameTreeMergesPrefixes(t *testing.T) {
	root := flameTree(victimStacks(), true)
	if root.held != 950*mib || root.grown != 1510*mib || root.samples != 3020 {
		t.Fatalf("root: held %d grown %d samples %d", root.held, root.grown, root.samples)
	}
	names := func(n *flameNode) []string {
		var out []string
		for _, c := range n.children {
			if c.marker != "" {
				out = append(out, c.marker)
			} else {
				out = append(out, frameName(c.frame))
			}
		}
		return out
	}
	if got, want := names(root), []string{"__libc_start_main", "start_thread", truncatedMark}; !reflect.DeepEqual(got, want) {
		t.Fatalf("roots %q, want %q", got, want)
	}
	start := root.children[0]
	if start.held != 800*mib || len(start.children) != 1 {
		t.Fatalf("__libc_start_main: held %d, %d children", start.held, len(start.children))
	}
	main := start.children[0]
	if len(main.children) != 1 || main.frame.Line != 40 {
		t.Fatalf("main: %d children, line %d", len(main.children), main.frame.Line)
	}
	hr := main.children[0]
	if frameName(hr.frame) != "handle_request" || hr.held != 800*mib || hr.frame.Line != 0 {
		t.Fatalf("handle_request merged wrong: %+v held %d", hr.frame, hr.held)
	}
	if got, want := names(hr), []string{topFunc, "json_parse_buf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("handle_request's callees %q, want %q", got, want)
	}
	trunc := root.children[2]
	if len(trunc.children) != 1 || trunc.children[0].frame.Function != hostileFunc || trunc.held != 50*mib {
		t.Errorf("the truncated stack is not under its mark: %+v", trunc)
	}
	// Frames without a function merge by module and offset, not all into one.
	other := []aggregate.Stack{
		{HeldBytes: 1, Frames: []aggregate.Frame{{Module: libc, Offset: 0x10}}},
		{HeldBytes: 1, Frames: []aggregate.Frame{{Module: libc, Offset: 0x20}}},
		{HeldBytes: 1, Frames: []aggregate.Frame{{Module: libc, Offset: 0x10}}},
	}
	if r := flameTree(other, true); len(r.children) != 2 || r.children[0].held != 2 {
		t.Errorf("unnamed frames: %d roots, first holds %d", len(r.children), r.children[0].held)
	}
}

// Each frame is as wide as the bytes held under it, its callees lie within
// it side by side, largest first, and the outermost frame is on top.
func TestFlameWidthsFollowHeldBytes(t *testing.T) {
	d := testDumpStacks()
	v := newFlame(d.Services[0], true)
	const total = 950.0 * mib
	byName := map[string]flameRect{}
	for _, r := range v.Rects {
		byName[r.name] = r
	}
	for name, held := range map[string]float64{
		"all": total, "__libc_start_main": 800 * mib, "main": 800 * mib, "handle_request": 800 * mib,
		topFunc: 600 * mib, "json_parse_buf": 200 * mib, "start_thread": 100 * mib, truncatedMark: 50 * mib,
		hostileFunc: 50 * mib, libc + "+0x9a3f0": 100 * mib,
	} {
		r, ok := byName[name]
		if !ok {
			t.Errorf("no frame %q drawn", name)
			continue
		}
		if want := held / total * flameW; math.Abs(r.w-want) > 1e-6 {
			t.Errorf("%s: width %.3f, want %.3f", name, r.w, want)
		}
		if w, _ := strconv.ParseFloat(r.W, 64); math.Abs(w-r.w) > 0.051 {
			t.Errorf("%s: drawn width %s for %.3f", name, r.W, r.w)
		}
	}
	depth := map[string]int{"all": 0, "__libc_start_main": 1, "main": 2, "handle_request": 3, topFunc: 4, truncatedMark: 1, hostileFunc: 2}
	for name, dep := range depth {
		if byName[name].depth != dep {
			t.Errorf("%s at depth %d, want %d", name, byName[name].depth, dep)
		}
	}
	if a, b := byName[topFunc], byName["json_parse_buf"]; a.x != byName["handle_request"].x || math.Abs(b.x-(a.x+a.w)) > 1e-6 {
		t.Errorf("callees not side by side under their caller: %v+%v, %v", a.x, a.w, b.x)
	}
	if s, tr := byName["start_thread"], byName[truncatedMark]; math.Abs(tr.x+tr.w-flameW) > 1e-6 || s.x >= tr.x {
		t.Errorf("roots do not fill the width largest first: start_thread at %v, mark at %v+%v", s.x, tr.x, tr.w)
	}
	if v.H != 5*flameRow {
		t.Errorf("height %d, want 5 rows", v.H)
	}
	// A frame narrower than flameMinW is left out and counted.
	tiny := Service{Name: "s", Stacks: []aggregate.Stack{
		{HeldBytes: 1 << 40, Frames: []aggregate.Frame{native("big", "", 0, "")}},
		{HeldBytes: 1, Frames: []aggregate.Frame{native("small", "", 0, ""), native("outer", "", 0, "")}},
	}}
	if v := newFlame(tiny, true); v.Omitted != 1 || len(v.Rects) != 2 {
		t.Errorf("tiny frame: %d omitted, %d drawn", v.Omitted, len(v.Rects))
	}
	// Figures that would wrap around when summed (a decoded dump may hold
	// any) saturate: no frame is wider than the graph.
	huge := Service{Name: "s", Stacks: []aggregate.Stack{
		{HeldBytes: math.MaxUint64 - 1, Frames: []aggregate.Frame{native("a", "", 0, "")}},
		{HeldBytes: 3, Frames: []aggregate.Frame{native("b", "", 0, "")}},
	}}
	hv := newFlame(huge, true)
	if len(hv.Rects) != 2 || hv.Omitted != 1 { // all and a; b is too narrow
		t.Errorf("huge figures: %d frames drawn, %d omitted, want 2 and 1", len(hv.Rects), hv.Omitted)
	}
	for _, r := range hv.Rects {
		if r.w > flameW+1e-6 || r.w < 0 {
			t.Errorf("huge figures: %s is %v wide", r.name, r.w)
		}
	}
	if v := newFlame(Service{Name: "s", Stacks: []aggregate.Stack{{GrownBytes: 5, Frames: []aggregate.Frame{native("f", "", 0, "")}}}}, true); v.Empty == "" || len(v.Rects) != 0 {
		t.Errorf("nothing held, yet %d frames drawn", len(v.Rects))
	}
}

var flameRectRE = regexp.MustCompile(`<g><title>([^<]*)</title><rect x="([0-9.]+)" y="([0-9]+)" width="([0-9.]+)" height="17" fill="#[0-9a-f]{6}"/>`)

// The page draws the victim service's frames as SVG rects whose titles carry
// the hover details, every name escaped.
func TestFlameHTML(t *testing.T) {
	out := renderHTML(t, testDumpStacks())
	if _, err := indexes(out, `<svg class="flame"`, "Where nova-api.service grew", "<h2>Growth stacks</h2>"); err != nil {
		t.Fatal(err)
	}
	rects := flameRectRE.FindAllStringSubmatch(out, -1)
	if len(rects) != 11 {
		t.Fatalf("%d flame rects, want 11", len(rects))
	}
	var top []string
	for _, r := range rects {
		if strings.HasPrefix(r[1], topFunc+"\n") {
			top = r
		}
	}
	if top == nil {
		t.Fatalf("no rect titled %s", topFunc)
	}
	for _, want := range []string{"nova/cache.c:212", "module /usr/bin/nova-api", "held 600.0MiB (63.2% of", "grown 800.0MiB, 1600 samples"} {
		if !strings.Contains(top[1], want) {
			t.Errorf("title of %s lacks %q: %q", topFunc, want, top[1])
		}
	}
	if w, _ := strconv.ParseFloat(top[4], 64); math.Abs(w-600.0/950*flameW) > 0.051 {
		t.Errorf("%s drawn %s wide", topFunc, top[4])
	}
	// Hostile names are text: escaped by the template, control bytes made
	// visible by safe.Text.
	for _, want := range []string{"&lt;script&gt;alert(&#34;flame&#34;)&lt;/script&gt;", `/tmp/\x1b[31mevil.so`, `leak\x1b[2J`,
		"&lt;img src=x onerror=alert(1)&gt;.so"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks the escaped %q", want)
		}
	}
	// A dump without stacks has neither the graph nor its style.
	plain := renderHTML(t, testDump())
	if strings.Contains(plain, "flame") || strings.Contains(plain, "Growth stacks") {
		t.Error("a dump without stacks shows a flame graph")
	}
}

// The text lists each service's stacks, frames innermost first, with the
// truncation marked and names escaped.
func TestTextStacks(t *testing.T) {
	out := renderText(t, testDumpStacks()) // also: no line over 100 columns, no raw control character
	if _, err := indexes(out, "What grew", "Growth stacks of nova-api.service (VICTIM): top 4 of 4",
		"#1  held 600.0MiB (63.2%)  grown 800.0MiB  samples 1600", topFunc, "nova/cache.c:212", "handle_request",
		"main", "__libc_start_main", "~_64-linux-gnu/libc.so.6", "~sr/lib/x86_64-linux-gnu/libc.so.6+0x9a3f0",
		`#4  held 50.0MiB (5.3%)  grown 50.0MiB  samples 100  TRUNCATED`,
		"(unwinding stopped here)", "Growth stacks of <img src=x onerror=aler~: top 1 of 1", "Last 18 events of the victim's"); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	pos, _ := indexes(out[strings.Index(out, "Growth stacks of"):], topFunc, "handle_request", "main", "__libc_start_main", "json_parse_buf")
	for i := 1; i < len(pos); i++ {
		if pos[i] < pos[i-1] {
			t.Errorf("frames out of order (innermost first) at %d: %v", i, pos)
		}
	}
	if strings.ContainsRune(out, 0x1b) || !strings.Contains(out, `leak\x1b[2J`) {
		t.Error("a control character in a frame name reached the text")
	}
	// More frames than the text shows: the rest is counted.
	d := testDumpStacks()
	st := &d.Services[0].Stacks[0]
	for i := range 20 {
		st.Frames = append(st.Frames, native(fmt.Sprintf("outer%d", i), "", 0, ""))
	}
	long := strings.Repeat("x", 300)
	st.Frames[1] = aggregate.Frame{Function: long, File: "/" + long + "/a.c", Line: 9, Module: "/" + long + "/b.so"}
	st.Frames[2] = aggregate.Frame{Module: "/" + long + "/c.so", Offset: 0xabc}
	out = renderText(t, d)
	if !strings.Contains(out, "... 8 outer frames in the JSON dump") || strings.Contains(out, "outer12") {
		t.Errorf("deep stack not cut at %d frames:\n%s", textFrames, out)
	}
	x := func(end string, width int) string { return "~" + strings.Repeat("x", width-1-len(end)) + end }
	if _, err := indexes(out, x("/a.c:9", textWhere), x("/b.so", textWhere), x("/c.so+0xabc", textFunc),
		strings.Repeat("x", textFunc-1)+"~"); err != nil {
		t.Errorf("long paths not cut from the left: %v\n%s", err, out)
	}
}

func TestDecodeStacks(t *testing.T) {
	want := withUTF8(testDumpStacks())
	got, err := Decode(bytes.NewReader(encode(t, testDumpStacks())))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Services, want.Services) {
		t.Errorf("stacks do not survive encoding and decoding:\n%+v\nwant\n%+v", got.Services[0].Stacks, want.Services[0].Stacks)
	}
	// A dump without stacks (the golden file, as written before stacks
	// existed) decodes with none.
	old, err := ReadFile("testdata/golden/oom.json")
	if err != nil {
		t.Fatal(err)
	}
	if HasStacks(old) {
		t.Error("an old dump decodes with stacks")
	}

	frame := `{"function":"f","kind":"native"}`
	stack := `{"held_bytes":1,"grown_bytes":1,"samples":1,"truncated":false,"frames":[` + frame + `]}`
	rep := func(s string, n int) string { return strings.TrimSuffix(strings.Repeat(s+",", n), ",") }
	svc := func(stacks string) string { return `{"name":"s","stacks":[` + stacks + `]}` }
	doc := func(services ...string) string {
		return `{"version":1,"kind":"snapshot","time":"2026-11-25T19:02:57Z","services":[` + strings.Join(services, ",") + `]}`
	}
	for _, c := range []struct{ name, in, want string }{
		{"too many stacks", doc(svc(rep(stack, MaxStacks+1))), "17 stacks, more than 16"},
		{"too many frames", doc(svc(strings.Replace(stack, frame, rep(frame, MaxFrames+1), 1))), "stack 1: 65 frames, more than 64"},
		{"no frames", doc(svc(strings.Replace(stack, frame, "", 1))), "stack 1: no frames"},
		{"null frames", doc(svc(strings.Replace(stack, "["+frame+"]", "null", 1))), "stack 1: no frames"},
		{"negative line", doc(svc(strings.Replace(stack, `"kind"`, `"line":-4,"kind"`, 1))), "frame 1: line -4"},
		{"huge name", doc(svc(strings.Replace(stack, `"f"`, `"`+strings.Repeat("x", maxFrameString+1)+`"`, 1))), "a name of 4097 bytes"},
		{"negative bytes", doc(svc(strings.Replace(stack, `"held_bytes":1`, `"held_bytes":-1`, 1))), "truncated or corrupt dump"},
		{"bytes overflow", doc(svc(strings.Replace(stack, `"held_bytes":1`, `"held_bytes":1e400`, 1))), "truncated or corrupt dump"},
		{"frame not an object", doc(svc(strings.Replace(stack, frame, `"main"`, 1))), "truncated or corrupt dump"},
		{"too many services", doc(rep(svc(stack), MaxStackServices+1)), "stacks on more than 8 services"},
	} {
		_, err := Decode(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") || len(err.Error()) > 300 {
			t.Errorf("%s: error is not one short line: %q", c.name, err)
		}
	}
	// At the bounds it decodes.
	if _, err := Decode(strings.NewReader(doc(svc(rep(strings.Replace(stack, frame, rep(frame, MaxFrames), 1), MaxStacks))))); err != nil {
		t.Errorf("16 stacks of 64 frames: %v", err)
	}
}

// AttachStacks takes the victim's and the trigger's services first, then
// the top growers, bounds stacks and frames, and copies them.
func TestAttachStacks(t *testing.T) {
	d := testDump()
	d.Kills[0].Trigger.Service = "postgres.service" // the trigger's service grew least
	d.Services = append(d.Services, Service{Name: "absent.service"})
	deep := make([]aggregate.Frame, 80)
	for i := range deep {
		deep[i] = native(fmt.Sprintf("f%d", i), "", 0, "")
	}
	var many []aggregate.Stack
	for i := range 20 {
		many = append(many, aggregate.Stack{HeldBytes: uint64(i) * mib, GrownBytes: 1, Samples: 1, Frames: deep})
	}
	many = append(many, aggregate.Stack{HeldBytes: 1 << 40}) // no frames: dropped
	src := map[string][]aggregate.Stack{
		victimSvc:          many,
		"postgres.service": victimStacks(),
		hostileName:        victimStacks()[:1],
	}
	var asked []string
	AttachStacks(d, func(name string) []aggregate.Stack { asked = append(asked, name); return src[name] })
	if want := []string{victimSvc, "postgres.service", hostileName, "absent.service"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked for %q, want %q", asked, want)
	}
	v := d.Services[0].Stacks
	if len(v) != MaxStacks {
		t.Fatalf("victim has %d stacks, want %d", len(v), MaxStacks)
	}
	for i, st := range v {
		if st.HeldBytes != uint64(19-i)*mib || len(st.Frames) != MaxFrames || !st.Truncated || st.Frames[0].Function != "f0" {
			t.Errorf("stack %d: held %d, %d frames, truncated %v, leaf %q", i, st.HeldBytes, len(st.Frames), st.Truncated, st.Frames[0].Function)
		}
	}
	deep[0].Function = "changed"
	if v[0].Frames[0].Function != "f0" {
		t.Error("the dump shares frames with the snapshot")
	}
	if pg := d.Services[1].Stacks; len(pg) != 4 || pg[0].Frames[0].Function != topFunc || pg[3].Truncated != true {
		t.Errorf("trigger's service stacks: %+v", pg)
	}
	// At most MaxStackServices services get stacks.
	d = testDump()
	for i := range 12 {
		d.Services = append(d.Services, Service{Name: fmt.Sprintf("svc%02d", i), GrowthBytes: int64(100 - i)})
	}
	AttachStacks(d, func(string) []aggregate.Stack { return victimStacks() })
	n := 0
	for _, s := range d.Services {
		if len(s.Stacks) > 0 {
			n++
		}
	}
	if n != MaxStackServices || len(d.Services[0].Stacks) == 0 {
		t.Errorf("%d services with stacks (victim's: %d), want %d", n, len(d.Services[0].Stacks), MaxStackServices)
	}
	// A dump with many stacks still decodes: the bounds of AttachStacks are
	// those Decode enforces.
	if _, err := Decode(bytes.NewReader(encode(t, d))); err != nil {
		t.Errorf("a dump AttachStacks filled does not decode: %v", err)
	}
}
