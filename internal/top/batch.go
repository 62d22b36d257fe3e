package top

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// batchColumns are the batch table's columns; the left-aligned ones hold text.
var batchColumns = []column{
	{"SERVICE", true}, {"KIND", true}, {"PROCS", false}, {"RSS", false}, {"PSS", false},
	{"USS", false}, {"ANON", false}, {"FILE", false}, {"SHMEM", false}, {"SWAP", false},
	{"GROWTH/s", false}, {"MMAP", false}, {"BRK", false}, {"OOM", false}, {"TTO", false},
	{"FLAGS", true},
}

type column struct {
	title string
	left  bool
}

// WriteBatch prints one interval as plain text, like top's batch mode: a
// header block, then a table of services sorted by key, at most limit rows
// (0 for all), then a blank line.
func WriteBatch(w io.Writer, snap aggregate.Snapshot, key SortKey, limit int) error {
	bw := bufio.NewWriter(w)
	for _, l := range batchHeader(snap) {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	bw.WriteByte('\n')

	svcs := slices.Clone(snap.Services)
	SortServices(svcs, key)
	if limit > 0 && len(svcs) > limit {
		svcs = svcs[:limit]
	}
	rows := make([][]string, 0, len(svcs))
	for _, s := range svcs {
		rows = append(rows, batchRow(s))
	}
	writeTable(bw, batchColumns, rows)
	bw.WriteByte('\n')
	return bw.Flush()
}

func batchHeader(snap aggregate.Snapshot) []string {
	sys := snap.System
	ts := "-"
	if !snap.Time.IsZero() {
		ts = snap.Time.Format(time.RFC3339)
	}
	lines := []string{"oomtrace top  " + ts}

	mem := fmt.Sprintf("Memory: total %s, available %s, used %s",
		units.Bytes(sys.TotalBytes), units.Bytes(sys.AvailableBytes), units.Bytes(sys.UsedBytes))
	if sys.SwapTotalBytes > 0 {
		mem += fmt.Sprintf("; swap %s of %s used", units.Bytes(sys.SwapTotalBytes-min(sys.SwapFreeBytes, sys.SwapTotalBytes)), units.Bytes(sys.SwapTotalBytes))
	}
	mem += "; growth " + perSecond(fmtGrowth(sys.GrowthBytesPerS, sys.GrowthCovered, sys.GrowthSpanS, 0))
	lines = append(lines, mem)
	if p := psiText(sys.PSI); p != "" {
		lines = append(lines, "Pressure (avg10): "+p)
	}
	lines = append(lines,
		fmt.Sprintf("OOM kills: %d since start; processes: %d; events: %s/s; lost events: %s",
			sys.OOMKills, sys.Procs, fmtCount(sys.EventsPerSec), lostText(sys)),
		unexplainedLine(sys))
	if t := sys.TimeToOOM; t != nil {
		lines = append(lines, ttoSentence(t)+": "+ttoDetail(t))
	}
	return lines
}

func unexplainedLine(sys aggregate.System) string {
	if sys.UnexplainedPartial() != "" {
		return "Unexplained memory: " + fmtUnexplained(sys)
	}
	return "Unexplained memory: " + fmtUnexplained(sys) + " (used memory no service's PSS accounts for)"
}

func batchRow(s aggregate.Service) []string {
	return []string{
		truncate(safe.Text(s.Name), maxNameWidth),
		safe.Text(s.Kind),
		strconv.Itoa(s.Procs),
		units.Bytes(s.RSS),
		fmtSmaps(s.PSS, s.PSSAgeS),
		fmtSmaps(s.USS, s.PSSAgeS),
		units.Bytes(s.Anon),
		units.Bytes(s.File),
		units.Bytes(s.Shmem),
		units.Bytes(s.Swap),
		fmtGrowth(s.Growth, s.Growth1mCovered, s.GrowthSpanS, 0),
		units.Level(s.Mmap),
		units.Level(s.Brk),
		strconv.Itoa(s.OOMKills),
		fmtTTO(s.TimeToOOMS, s.TimeToOOMCovered),
		strings.Join(flags(s), " "),
	}
}

// writeTable prints rows under cols, each column as wide as its widest cell,
// two spaces apart, with no trailing blanks.
func writeTable(w io.StringWriter, cols []column, rows [][]string) {
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = width(c.title)
	}
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], width(cell))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, cell := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(pad(cell, widths[i], cols[i].left))
		}
		w.WriteString(strings.TrimRight(b.String(), " "))
		w.WriteString("\n")
	}
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	line(titles)
	for _, r := range rows {
		line(r)
	}
}
