package top

import (
	"bytes"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

func batch(t *testing.T, snap aggregate.Snapshot, key SortKey, limit int) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteBatch(&b, snap, key, limit); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// tableLines are the lines from the column titles on.
func tableLines(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "SERVICE") {
			return lines[i:]
		}
	}
	t.Fatalf("no table in:\n%s", out)
	return nil
}

func TestWriteBatchHeader(t *testing.T) {
	out := batch(t, fixture(), SortRSS, 0)
	for _, want := range []string{
		"2025-03-04T05:06:07Z",
		"total 16.0GiB, available 4.0GiB, used 12.0GiB",
		"some 1.50% full 0.25%",
		"OOM kills: 3 since start",
		"events: 1234/s",
		"lost events: 12 (alloc 10, exit 2)",
		"Unexplained memory: 512.0MiB",
		"OOM in 4m10s (domain /a/b, driven by nova-api)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("header lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fork") {
		t.Errorf("a lost-event type with no loss is listed:\n%s", out)
	}

	// A time to OOM and a system growth from 3 s of history are marked.
	early := fixture()
	early.System.GrowthSpanS, early.System.GrowthCovered = 3, false
	tto := *early.System.TimeToOOM
	tto.GrowthSpanS, tto.Covered = 3, false
	early.System.TimeToOOM = &tto
	out = batch(t, early, SortRSS, 0)
	for _, want := range []string{"growth 0B~/s", "OOM in 4m10s~ (domain /a/b", "1.0GiB left at +4.0MiB/s (over the last 3s only)"} {
		if !strings.Contains(out, want) {
			t.Errorf("early header lacks %q:\n%s", want, out)
		}
	}

	bare := fixture()
	bare.System.PSI, bare.System.TimeToOOM, bare.System.Lost, bare.System.LostEvents = nil, nil, nil, 0
	// A negative unexplained figure is not a fact: left out, with why.
	bare.System.UnexplainedBytes, bare.System.UnexplainedCovered = -3*mib, false
	out = batch(t, bare, SortRSS, 0)
	for _, absent := range []string{"Pressure", "OOM in", "-3.0MiB"} {
		if strings.Contains(out, absent) {
			t.Errorf("%q without data:\n%s", absent, out)
		}
	}
	if !strings.Contains(out, "lost events: 0\n") || !strings.Contains(out, "Unexplained memory: - (PSS sums to more than used memory)\n") {
		t.Errorf("bare header:\n%s", out)
	}
}

// While RSS stands in for the PSS of processes not read yet (the first
// ticks of a preloading server's workers), used memory minus the sum is
// no fact either.
func TestBatchHeaderPSSNotRead(t *testing.T) {
	snap := fixture()
	snap.System.UnexplainedBytes, snap.System.UnexplainedCovered = -346*mib, false
	snap.System.PSSUnreadProcs, snap.System.PSSUnreadBytes = 7, 720*mib
	out := batch(t, snap, SortRSS, 0)
	if strings.Contains(out, "-346.0MiB") || !strings.Contains(out, "Unexplained memory: - (PSS not read yet for 7 processes)\n") {
		t.Errorf("header with PSS not read yet:\n%s", out)
	}
	m := NewModel(Options{Output: &bytes.Buffer{}})
	m = update(t, m, tea.WindowSizeMsg{Width: 160, Height: 40}, SnapshotMsg(snap))
	if v := m.View(); strings.Contains(v, "-346.0MiB") || !strings.Contains(v, "unexplained - (PSS not read yet for 7 processes)") {
		t.Errorf("view with PSS not read yet:\n%s", v)
	}
}

func TestWriteBatchTable(t *testing.T) {
	out := batch(t, fixture(), SortRSS, 0)
	lines := tableLines(t, out)
	if got := strings.Fields(lines[0]); strings.Join(got, " ") !=
		"SERVICE KIND PROCS RSS PSS USS ANON FILE SHMEM SWAP GROWTH/s MMAP BRK OOM TTO FLAGS" {
		t.Fatalf("titles: %q", got)
	}
	rows := lines[1:]
	if len(rows) != 4 {
		t.Fatalf("want 4 rows:\n%s", out)
	}
	wantOrder := []string{"postgres", "nova-api", "kafka", `evil\x1b[31m`}
	for i, r := range rows {
		if f := strings.Fields(r); f[0] != wantOrder[i] {
			t.Errorf("row %d is %q, want %s first", i, r, wantOrder[i])
		}
	}
	row := func(name string) []string {
		for _, r := range rows {
			if f := strings.Fields(r); f[0] == name {
				return f
			}
		}
		t.Fatalf("no row %s", name)
		return nil
	}
	nova, pg, kafka := row("nova-api"), row("postgres"), row("kafka")
	if nova[4] != "600.0MiB" || pg[4] != "400.0MiB~" || kafka[4] != "700.0MiB~" {
		t.Errorf("PSS: nova %s, postgres %s, kafka %s", nova[4], pg[4], kafka[4])
	}
	// USS comes from the same reading: marked alike.
	if nova[5] != "500.0MiB" || pg[5] != "300.0MiB~" || kafka[5] != "500.0MiB~" {
		t.Errorf("USS: nova %s, postgres %s, kafka %s", nova[5], pg[5], kafka[5])
	}
	// A minute covered, 30 s of it (partial), and a single sample (none).
	evil := row(`evil\x1b[31m`)
	if nova[10] != "+4.0MiB" || kafka[10] != "-1.0MiB" || pg[10] != "0B~" || evil[10] != "-" {
		t.Errorf("growth: %s %s %s %s", nova[10], kafka[10], pg[10], evil[10])
	}
	if nova[11] != "900.0MiB" || nova[12] != "-4.0KiB" {
		t.Errorf("mmap/brk: %s %s", nova[11], nova[12])
	}
	if nova[14] != "4m10s" || pg[14] != "-" {
		t.Errorf("TTO: %s %s", nova[14], pg[14])
	}
	early := fixture()
	early.Services[0].TimeToOOMCovered = false // from less than 48 s of history
	for _, r := range tableLines(t, batch(t, early, SortRSS, 0))[1:] {
		if f := strings.Fields(r); f[0] == "nova-api" && f[14] != "4m10s~" {
			t.Errorf("TTO from a partial fit: %s", f[14])
		}
	}
	if nova[len(nova)-1] != "LEAK?" || kafka[len(kafka)-1] != "OOM!" || kafka[13] != "2" {
		t.Errorf("flags: %q / %q", nova, kafka)
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Errorf("raw ESC in output:\n%q", out)
	}

	// Columns line up: each title ends (numbers) or starts (text) where its cells do.
	for _, title := range []string{"RSS", "GROWTH/s", "OOM"} {
		end := strings.Index(lines[0], " "+title+" ") + 1 + len(title)
		for _, r := range rows[:3] {
			if r[end-1] == ' ' || (end < len(r) && r[end] != ' ') {
				t.Errorf("column %s misaligned in %q", title, r)
			}
		}
	}
	kind := strings.Index(lines[0], "KIND")
	for _, r := range rows {
		if r[kind-1] != ' ' || r[kind] == ' ' {
			t.Errorf("KIND misaligned in %q", r)
		}
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing blank: %q", l)
		}
	}
}

func TestWriteBatchLimitAndTruncation(t *testing.T) {
	snap := fixture()
	long := strings.Repeat("x", 100)
	snap.Services = append(snap.Services, aggregate.Service{Name: long, Memory: aggregate.Memory{RSS: 100 * gib}})
	rows := tableLines(t, batch(t, snap, SortRSS, 2))[1:]
	if len(rows) != 2 {
		t.Fatalf("limit 2: %d rows", len(rows))
	}
	name := strings.Fields(rows[0])[0]
	if !strings.HasSuffix(name, "…") || width(name) != maxNameWidth || !strings.HasPrefix(name, "xxxx") {
		t.Errorf("long name shown as %q", name)
	}
	if f := strings.Fields(rows[1]); f[0] != "postgres" {
		t.Errorf("second row %q", rows[1])
	}
	if n := len(tableLines(t, batch(t, snap, SortName, 0))) - 1; n != 5 {
		t.Errorf("limit 0: %d rows, want 5", n)
	}
	// The caller's snapshot is not reordered.
	if names(snap.Services)[0] != "nova-api" {
		t.Errorf("WriteBatch reordered the caller's services: %q", names(snap.Services))
	}
}

func TestWriteBatchEmpty(t *testing.T) {
	out := batch(t, aggregate.Snapshot{}, SortRSS, 0)
	if len(tableLines(t, out)) != 1 {
		t.Errorf("empty snapshot:\n%s", out)
	}
}

func TestFmtDuration(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0s", 42: "42s", 250: "4m10s", 3600 + 300: "1h05m", 50 * 3600: "2d02h", 1e12: ">99d",
	} {
		if got := fmtDuration(in); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", in, got, want)
		}
	}
}
