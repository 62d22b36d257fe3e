package top

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// withStacks is the fixture with growth stacks on nova-api: four, the
// first deep, the second truncated with a hostile name and no symbol.
func withStacks() aggregate.Snapshot {
	snap := fixture()
	var deep []aggregate.Frame
	for i := range 12 {
		deep = append(deep, aggregate.Frame{Function: fmt.Sprint("fn", i), File: "/src/app/f.c", Line: 10 + i, Module: "/usr/bin/app", Kind: "native"})
	}
	deep[0].Function = "keep_it"
	snap.Services[0].Stacks = []aggregate.Stack{
		{HeldBytes: 96 * mib, GrownBytes: 100 * mib, Samples: 200, Frames: deep},
		{HeldBytes: 4 * mib, GrownBytes: 50 * mib, Samples: 100, Truncated: true, Frames: []aggregate.Frame{
			{Function: hostile, Module: "/usr/lib/libc.so.6", Kind: "native"}, {Module: "/usr/bin/app", Offset: 0x1a2b, Kind: "native"}}},
		{HeldBytes: 1 * mib, GrownBytes: 1 * mib, Samples: 2, Frames: []aggregate.Frame{{Function: "third", Kind: "native"}}},
		{HeldBytes: 0, GrownBytes: 1 * mib, Samples: 2, Frames: []aggregate.Frame{{Function: "fourth", Kind: "native"}}},
	}
	return snap
}

// The drill-down shows the service's top held-growth stacks, innermost
// frame first, truncated ones marked, names escaped, and fits the screen.
func TestModelDrillDownStacks(t *testing.T) {
	m := newModel(t, 120, 60)
	m.Push(withStacks())
	m = update(t, m, keyDown, keyEnter) // nova-api
	v := m.View()
	for _, want := range []string{
		"GROWTH STACKS", "#1 held 96.0MiB  grown 100.0MiB  200 samples", "keep_it  f.c:10", "fn1  f.c:11",
		"… 4 more", "#2 held 4.0MiB  grown 50.0MiB  100 samples  truncated", `evil\x1b[31m (libc.so.6)`, "app+0x1a2b",
		"#3 held 1.0MiB", "… 1 more stacks", "PID", "/usr/bin/nova-api",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("drill-down lacks %q:\n%s", want, v)
		}
	}
	if strings.Index(v, "keep_it") > strings.Index(v, "fn1") {
		t.Errorf("frames not innermost first:\n%s", v)
	}
	if strings.ContainsRune(v, '\x1b') {
		t.Errorf("raw control byte in the drill-down: %q", v)
	}
	checkFits(t, m)

	// A short screen: fewer stacks and frames, the processes keep rows.
	for _, h := range []int{40, 30, 24, 16} {
		m := update(t, m, tea.WindowSizeMsg{Width: 120, Height: h})
		v := m.View()
		checkFits(t, m)
		if !strings.Contains(v, "PID") || !strings.Contains(v, " 101 ") {
			t.Errorf("%d lines: the processes lost their rows:\n%s", h, v)
		}
		if h >= 24 && !strings.Contains(v, "keep_it") {
			t.Errorf("%d lines: no room left for the top stack:\n%s", h, v)
		}
	}
}

// A service without stacks shows no stack block.
func TestModelDrillDownNoStacks(t *testing.T) {
	m := update(t, newModel(t, 120, 40), keyDown, keyEnter)
	if v := m.View(); strings.Contains(v, "GROWTH STACKS") {
		t.Errorf("stack block without stacks:\n%s", v)
	}
}

// top --json carries each service's stacks.
func TestJSONStacks(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, withStacks(), SortRSS); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"stacks":[{"held_bytes":100663296,"grown_bytes":104857600,"samples":200,"truncated":false,"frames":[{"function":"keep_it","file":"/src/app/f.c","line":10,"module":"/usr/bin/app","kind":"native"}`,
		`"truncated":true`, `"offset":6699`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("top --json lacks %s:\n%s", want, b.String())
		}
	}
}
