package top

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

var (
	keyEnter = tea.KeyMsg{Type: tea.KeyEnter}
	keyEsc   = tea.KeyMsg{Type: tea.KeyEsc}
	keyBack  = tea.KeyMsg{Type: tea.KeyBackspace}
	keyUp    = tea.KeyMsg{Type: tea.KeyUp}
	keyDown  = tea.KeyMsg{Type: tea.KeyDown}
	keyCtrlC = tea.KeyMsg{Type: tea.KeyCtrlC}
)

// newModel is a Model on a w×h screen showing the fixture.
func newModel(t *testing.T, w, h int) Model {
	t.Helper()
	m := NewModel(Options{Output: &bytes.Buffer{}})
	m = update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m.Push(fixture())
	return m
}

func update(t *testing.T, m Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		next, _ := m.Update(msg)
		m = next.(Model)
	}
	return m
}

// order is the services in the order the table shows them.
func order(t *testing.T, view string) []string {
	t.Helper()
	var out []string
	table := false
	for _, l := range strings.Split(view, "\n") {
		f := strings.Fields(strings.TrimPrefix(l, "> "))
		switch {
		case len(f) > 0 && strings.HasPrefix(f[0], "SERVICE"):
			table = true
		case table && len(f) == 0:
			return out // the blank lines above the help line
		case table:
			out = append(out, f[0])
		}
	}
	return out
}

// selectedLine is the line with the selection marker.
func selectedLine(view string) string {
	for _, l := range strings.Split(view, "\n") {
		if strings.HasPrefix(l, "> ") {
			return l
		}
	}
	return ""
}

func checkFits(t *testing.T, m Model) {
	t.Helper()
	v := m.View()
	lines := strings.Split(v, "\n")
	if m.height > 0 && len(lines) > m.height {
		t.Errorf("%d lines on a %d-line screen:\n%s", len(lines), m.height, v)
	}
	for _, l := range lines {
		if w := lipgloss.Width(l); w > m.width {
			t.Errorf("line %d cells wide on a %d-cell screen: %q", w, m.width, l)
		}
	}
}

func TestModelWaiting(t *testing.T) {
	m := NewModel(Options{Output: &bytes.Buffer{}})
	if v := m.View(); !strings.Contains(v, "waiting for the first snapshot") {
		t.Errorf("before any snapshot:\n%s", v)
	}
	m = update(t, m, keyDown, keyEnter, runes("s")) // no crash without data
	if m.SortKey() != SortPSS {
		t.Errorf("sort key %s", m.SortKey())
	}
}

func TestModelHeader(t *testing.T) {
	m := NewModel(Options{Output: &bytes.Buffer{}, Interval: 2e9})
	m = update(t, m, tea.WindowSizeMsg{Width: 160, Height: 40}, SnapshotMsg(fixture()))
	v := m.View()
	for _, want := range []string{
		"05:06:07", "every 2s", "sort rss", "4 services", "used 12.0GiB of 16.0GiB", "avail 4.0GiB",
		"psi some 1.50% full 0.25%", "OOM kills 3", "lost 12 (alloc 10, exit 2)", "unexplained 512.0MiB",
		"OOM in 4m10s (domain /a/b, driven by nova-api)", "q quit", "/ filter", "enter processes",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
}

func TestModelSortKeys(t *testing.T) {
	m := newModel(t, 160, 40)
	rss := []string{"postgres", "nova-api", "kafka", `evil\x1b[31m`}
	if got := order(t, m.View()); !slices.Equal(got, rss) {
		t.Fatalf("initial order %q", got)
	}
	if !strings.Contains(m.View(), "RSS▼") {
		t.Errorf("no sort marker on RSS:\n%s", m.View())
	}
	steps := []struct {
		key  string
		sort SortKey
		want []string
	}{
		{"s", SortPSS, []string{"kafka", "nova-api", "postgres", `evil\x1b[31m`}},
		{"s", SortGrowth, []string{"nova-api", `evil\x1b[31m`, "postgres", "kafka"}},
		{"s", SortOOM, []string{"kafka", `evil\x1b[31m`, "nova-api", "postgres"}},
		{"s", SortName, []string{`evil\x1b[31m`, "kafka", "nova-api", "postgres"}},
		{"s", SortRSS, rss},
		{"n", SortName, []string{`evil\x1b[31m`, "kafka", "nova-api", "postgres"}},
		{"g", SortGrowth, []string{"nova-api", `evil\x1b[31m`, "postgres", "kafka"}},
		{"o", SortOOM, []string{"kafka", `evil\x1b[31m`, "nova-api", "postgres"}},
		{"p", SortPSS, []string{"kafka", "nova-api", "postgres", `evil\x1b[31m`}},
		{"r", SortRSS, rss},
	}
	for _, s := range steps {
		m = update(t, m, runes(s.key))
		v := m.View()
		if m.SortKey() != s.sort || !strings.Contains(v, "sort "+string(s.sort)) {
			t.Errorf("after %q: sort %s, want %s", s.key, m.SortKey(), s.sort)
		}
		if got := order(t, v); !slices.Equal(got, s.want) {
			t.Errorf("after %q: order %q, want %q", s.key, got, s.want)
		}
	}
}

func TestModelSelectionFollowsService(t *testing.T) {
	m := newModel(t, 160, 40)
	if l := selectedLine(m.View()); !strings.Contains(l, "postgres") {
		t.Fatalf("first row not selected: %q", l)
	}
	m = update(t, m, keyDown, runes("j"), runes("k"), keyDown) // rss order: → kafka
	if l := selectedLine(m.View()); !strings.Contains(l, "kafka") {
		t.Fatalf("selected %q, want kafka", l)
	}
	// A filter that keeps kafka keeps it selected.
	m = update(t, m, runes("/"), runes("a"), keyEnter) // nova-api, kafka
	if l := selectedLine(m.View()); !strings.Contains(l, "kafka") {
		t.Errorf("after filtering selected %q, want kafka", l)
	}
	m = update(t, m, keyEsc)
	if l := selectedLine(m.View()); !strings.Contains(l, "kafka") {
		t.Errorf("after clearing the filter selected %q, want kafka", l)
	}
	// A new sort key goes to the top.
	m = update(t, m, runes("n"))
	if l := selectedLine(m.View()); !strings.Contains(l, `evil\x1b[31m`) {
		t.Errorf("after re-sort selected %q, want the first row", l)
	}
	m = update(t, m, keyUp, keyUp, keyUp)
	if l := selectedLine(m.View()); !strings.Contains(l, `evil\x1b[31m`) {
		t.Errorf("up past the top: %q", l)
	}
	m = update(t, m, keyDown, keyDown, keyDown, keyDown, keyDown)
	if l := selectedLine(m.View()); !strings.Contains(l, "postgres") {
		t.Errorf("down past the bottom: %q", l)
	}
	// A new snapshot keeps the selection on the same service.
	m = update(t, m, SnapshotMsg(fixture()))
	if l := selectedLine(m.View()); !strings.Contains(l, "postgres") {
		t.Errorf("after a snapshot: %q", l)
	}
}

func TestModelDrillDown(t *testing.T) {
	m := newModel(t, 160, 40)
	m = update(t, m, keyDown, keyEnter) // nova-api
	v := m.View()
	for _, want := range []string{
		"nova-api (rule)", "procs 2", "PID", "PPID", "COMM", "RSS", "PSS", "USS", "SWAP", "MMAP", "BRK", "CMDLINE",
		"/usr/bin/python3 /usr/bin/nova-api --config /etc/nova.conf", `evil\x1b[31m`,
		`worker \x1b]0;pwned\x07 --evil`, "LEAK?", "esc back",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("drill-down lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "postgres") {
		t.Errorf("drill-down shows other services:\n%s", v)
	}
	// Processes sort by RSS: the 500MiB worker (PID 101) before PID 100.
	if i, j := strings.Index(v, " 101 "), strings.Index(v, " 100 "); i < 0 || j < 0 || i > j {
		t.Errorf("process order:\n%s", v)
	}
	if strings.ContainsRune(v, '\x1b') || strings.ContainsRune(v, '\x07') {
		t.Errorf("raw control byte in drill-down: %q", v)
	}
	checkFits(t, m)

	for _, back := range []tea.KeyMsg{keyEsc, keyBack} {
		m2 := update(t, m, back)
		if got := order(t, m2.View()); len(got) != 4 {
			t.Errorf("after %v: not back on the services:\n%s", back, m2.View())
		}
	}

	// A service that leaves the snapshot.
	gone := fixture()
	gone.Services = gone.Services[1:]
	if v := update(t, m, SnapshotMsg(gone)).View(); !strings.Contains(v, "no longer in the snapshot") {
		t.Errorf("gone service:\n%s", v)
	}
	// A service without per-process figures lists its PIDs.
	m = update(t, newModel(t, 160, 40), keyEnter) // postgres
	if v := m.View(); !strings.Contains(v, "no per-process figures") || !strings.Contains(v, "200 201 202 203") {
		t.Errorf("postgres drill-down:\n%s", v)
	}
}

// Figures that are estimated or partial are marked in the summary: "~" for
// PSS and USS not read yet or old, and for growth over less than 80% of its
// window; "-" for a window the history does not reach past the shorter one.
func TestModelSummaryMarkers(t *testing.T) {
	for _, tc := range []struct {
		downs int
		want  []string
	}{
		{0, []string{"PSS 400.0MiB~", "USS 300.0MiB~", "growth 0B~/s (5m -, 15m -)"}},                                     // postgres: 30 s seen
		{1, []string{"PSS 600.0MiB ", "USS 500.0MiB ", "growth +4.0MiB/s (5m +3.0MiB/s, 15m +2.0MiB/s)", "OOM in 4m10s"}}, // nova-api
		{2, []string{"PSS 700.0MiB~", "USS 500.0MiB~", "growth -1.0MiB/s (5m -512.0KiB~/s, 15m -)"}},                      // kafka: 2 minutes
	} {
		m := newModel(t, 200, 40)
		for range tc.downs {
			m = update(t, m, keyDown)
		}
		v := update(t, m, keyEnter).View()
		for _, w := range tc.want {
			if !strings.Contains(v, w) {
				t.Errorf("summary lacks %q:\n%s", w, v)
			}
		}
		if tc.downs == 1 && strings.Contains(v, "4m10s~") {
			t.Errorf("covered time to OOM marked:\n%s", v)
		}
		// kafka's process is not read yet: its PSS and USS are marked too.
		if tc.downs == 2 && !strings.Contains(v, "500.0MiB  500.0MiB~  500.0MiB~") {
			t.Errorf("unread process's PSS and USS not marked:\n%s", v)
		}
	}
}

func TestModelFilter(t *testing.T) {
	m := newModel(t, 160, 40)
	m = update(t, m, runes("/"), runes("K"), runes("a"))
	v := m.View()
	if got := order(t, v); !slices.Equal(got, []string{"kafka"}) {
		t.Errorf("filter \"Ka\": %q", got)
	}
	if !strings.Contains(v, "filter: Ka") {
		t.Errorf("filter prompt missing:\n%s", v)
	}
	// While typing, q is text, not quit.
	next, cmd := m.Update(runes("q"))
	if cmd != nil {
		t.Errorf("q while typing a filter returned a command")
	}
	m = update(t, next.(Model), keyBack, keyEnter)
	v = m.View()
	if got := order(t, v); !slices.Equal(got, []string{"kafka"}) {
		t.Errorf("applied filter: %q", got)
	}
	if !strings.Contains(v, `filter "Ka"`) || !strings.Contains(v, "1 of 4 services") {
		t.Errorf("applied filter not shown:\n%s", v)
	}
	// Keys work on the filtered table.
	m = update(t, m, keyEnter)
	if v := m.View(); !strings.Contains(v, "kafka (container)") || !strings.Contains(v, "OOM! 2 kills") {
		t.Errorf("drill-down from a filter:\n%s", v)
	}
	m = update(t, m, keyEsc, keyEsc) // back, then clear
	if got := order(t, m.View()); len(got) != 4 {
		t.Errorf("esc did not clear the filter: %q", got)
	}

	// esc while typing drops the filter.
	m = update(t, m, runes("/"), runes("zzz"))
	if v := m.View(); !strings.Contains(v, `no service matches "zzz"`) {
		t.Errorf("no match:\n%s", v)
	}
	m = update(t, m, keyEsc)
	if got := order(t, m.View()); len(got) != 4 {
		t.Errorf("esc while typing: %q", got)
	}
	// The escaped form of a hostile name matches too.
	m = update(t, m, runes("/"), runes(`\x1b`), keyEnter)
	if got := order(t, m.View()); !slices.Equal(got, []string{`evil\x1b[31m`}) {
		t.Errorf(`filter \x1b: %q`, got)
	}
}

func TestModelCoalescedKeys(t *testing.T) {
	// "rj" in one read: sort by RSS, then move down.
	m := update(t, newModel(t, 160, 40), runes("n"), runes("rj"))
	if l := selectedLine(m.View()); m.SortKey() != SortRSS || !strings.Contains(l, "nova-api") {
		t.Errorf("after \"rj\": sort %s, selected %q", m.SortKey(), l)
	}
	if _, cmd := m.Update(runes("jq")); cmd == nil {
		t.Errorf("\"jq\" did not quit")
	}
	// While typing a filter they are text.
	m = update(t, m, runes("/"), runes("ka"))
	if got := order(t, m.View()); !slices.Equal(got, []string{"kafka"}) {
		t.Errorf("filter \"ka\" in one read: %q", got)
	}
}

func TestModelQuit(t *testing.T) {
	for _, k := range []tea.KeyMsg{runes("q"), keyCtrlC} {
		for _, drill := range []bool{false, true} {
			m := newModel(t, 100, 30)
			if drill {
				m = update(t, m, keyEnter)
			}
			next, cmd := m.Update(k)
			if cmd == nil {
				t.Fatalf("%v (drill-down %v): no command", k, drill)
			}
			if _, ok := cmd().(tea.QuitMsg); !ok {
				t.Errorf("%v: command is not quit", k)
			}
			if next.View() != "" {
				t.Errorf("view after quit: %q", next.View())
			}
		}
	}
	m := newModel(t, 100, 30)
	m = update(t, m, runes("/"))
	if _, cmd := m.Update(keyCtrlC); cmd == nil {
		t.Errorf("ctrl+c while typing a filter does not quit")
	}
	if _, cmd := m.Update(feedClosedMsg{}); cmd == nil {
		t.Errorf("a closed feed does not quit")
	}
}

func TestModelHostileNames(t *testing.T) {
	m := newModel(t, 160, 40)
	v := m.View()
	if !strings.Contains(v, `evil\x1b[31m`) {
		t.Errorf("escaped name missing:\n%s", v)
	}
	if strings.ContainsRune(v, '\x1b') {
		t.Errorf("raw ESC in view: %q", v)
	}

	// With colours on, styling adds escapes, but the name's own never survive.
	r := lipgloss.NewRenderer(&bytes.Buffer{})
	r.SetColorProfile(termenv.ANSI256)
	m.st = newStyles(r)
	hostileSvc := fixture()
	hostileSvc.System.TimeToOOM.Domain = "/x\x1b]52;c;AAAA\x07"
	hostileSvc.System.TimeToOOM.Service = hostile
	hostileSvc.System.Lost = map[string]uint64{"al\x1bloc": 1}
	m = update(t, m, SnapshotMsg(hostileSvc), runes("/"), runes("evil"))
	for _, v := range []string{m.View(), update(t, m, keyEnter, runes("x"), keyEsc, keyEnter).View()} {
		if !strings.Contains(v, "\x1b[") {
			t.Fatalf("no styling with colours on: %q", v)
		}
		for _, bad := range []string{"evil\x1b", "\x1b]52", "\x07", "al\x1b"} {
			if strings.Contains(v, bad) {
				t.Errorf("hostile sequence %q in view: %q", bad, v)
			}
		}
	}
}

func TestModelSparkline(t *testing.T) {
	m := newModel(t, 160, 40)
	for _, rss := range []uint64{200 * mib, 300 * mib, 300 * mib} {
		s := fixture()
		s.Services[0].RSS = rss // nova-api: 800, 200, 300, 300 MiB
		m.Push(s)
	}
	v := m.View()
	var line string
	for _, l := range strings.Split(v, "\n") {
		if strings.Contains(l, "nova-api") {
			line = l
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(line), "█▁▂▂") {
		t.Errorf("nova-api sparkline: %q", line)
	}
	if !strings.Contains(v, "RSS TREND") {
		t.Errorf("no trend column:\n%s", v)
	}
	if h := m.history["postgres"]; len(h) != 4 {
		t.Errorf("postgres history %v", h)
	}

	// The history is bounded and forgets services that left.
	for i := range 2 * historyLen {
		s := fixture()
		s.Services[1].RSS = uint64(i)
		s.Services = s.Services[1:]
		m.Push(s)
	}
	if h := m.history["postgres"]; len(h) != historyLen || h[historyLen-1] != 2*historyLen-1 {
		t.Errorf("postgres history after %d snapshots: %v", 2*historyLen, h)
	}
	if _, ok := m.history["nova-api"]; ok {
		t.Errorf("history kept for a service that left")
	}
}

func TestModelFitsAndScrolls(t *testing.T) {
	snap := fixture()
	for i := range 60 {
		snap.Services = append(snap.Services, aggregate.Service{
			Name: fmt.Sprintf("svc-%02d-%s", i, strings.Repeat("long", 20)), Kind: "tree", Memory: aggregate.Memory{RSS: uint64(60-i) * kib},
		})
	}
	for _, size := range [][2]int{{160, 40}, {100, 24}, {80, 20}, {60, 15}, {40, 10}, {20, 5}} {
		m := NewModel(Options{Output: &bytes.Buffer{}})
		m = update(t, m, tea.WindowSizeMsg{Width: size[0], Height: size[1]}, SnapshotMsg(snap))
		checkFits(t, m)
		checkFits(t, update(t, m, keyEnter))
		checkFits(t, update(t, m, runes("/"), runes("svc")))
	}

	m := NewModel(Options{Output: &bytes.Buffer{}})
	m = update(t, m, tea.WindowSizeMsg{Width: 100, Height: 20}, SnapshotMsg(snap))
	for range 30 {
		m = update(t, m, keyDown)
	}
	v := m.View()
	if l := selectedLine(v); !strings.Contains(l, "svc-26-") { // 4 fixture services first
		t.Errorf("selected after 30 downs: %q\n%s", l, v)
	}
	if strings.Contains(v, "postgres") {
		t.Errorf("did not scroll:\n%s", v)
	}
	if !strings.Contains(v, "…") {
		t.Errorf("long names not cut:\n%s", v)
	}
	m = update(t, m, tea.KeyMsg{Type: tea.KeyHome})
	if l := selectedLine(m.View()); !strings.Contains(l, "postgres") {
		t.Errorf("home: %q", l)
	}
	m = update(t, m, tea.KeyMsg{Type: tea.KeyEnd})
	if l := selectedLine(m.View()); !strings.Contains(l, "svc-59-") {
		t.Errorf("end: %q", l)
	}
}

func TestModelNarrowDrillDownKeepsCmdline(t *testing.T) {
	m := update(t, newModel(t, 80, 30), keyDown, keyEnter)
	v := m.View()
	checkFits(t, m)
	if !strings.Contains(v, "/usr/bin/python3 /usr/bin/") || !strings.Contains(v, "CMDLINE") {
		t.Errorf("at 80 columns the command line should win over minor columns:\n%s", v)
	}
}

// Both screens' help names every sort key, and each key it names sorts by
// what it says, there.
func TestModelHelpNamesSortKeys(t *testing.T) {
	for _, screen := range []string{"services", "processes"} {
		m := newModel(t, 160, 40)
		if screen == "processes" {
			m = update(t, m, keyDown, keyEnter)
		}
		v := m.View()
		help := v[strings.LastIndex(v, "\n")+1:]
		if !strings.Contains(help, "s sort") || !strings.Contains(help, "q quit") {
			t.Errorf("%s: help %q", screen, help)
		}
		i := strings.Index(help, "r/p/g/o/n ")
		if i < 0 {
			t.Errorf("%s: help does not name the sort keys: %q", screen, help)
			continue
		}
		keys := strings.Split("r/p/g/o/n", "/")
		what := strings.Split(strings.Fields(help[i:])[1], "/")
		if len(what) != len(keys) {
			t.Fatalf("%s: help %q", screen, help)
		}
		for j, k := range keys {
			m = update(t, m, runes(k))
			if string(m.SortKey()) != what[j] {
				t.Errorf("%s: %q sorts by %s, the help says %s", screen, k, m.SortKey(), what[j])
			}
			if screen == "processes" && !strings.Contains(m.View(), "esc back") {
				t.Errorf("%s: %q left the screen", screen, k)
			}
		}
	}
}
