package top

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// Columns of the services table, by index.
const (
	cName = iota
	cKind
	cProcs
	cRSS
	cPSS
	cUSS
	cSwap
	cGrowth
	cOOM
	cTTO
	cFlags
	cTrend
)

var serviceCols = []tcol{
	cName: {title: "SERVICE", left: true, max: maxNameWidth}, cKind: {title: "KIND", left: true, max: 10},
	cProcs: {title: "PROCS"}, cRSS: {title: "RSS"}, cPSS: {title: "PSS"}, cUSS: {title: "USS"},
	cSwap: {title: "SWAP"}, cGrowth: {title: "GROWTH/s"}, cOOM: {title: "OOM"}, cTTO: {title: "TTO"},
	cFlags: {title: "FLAGS", left: true}, cTrend: {title: "RSS TREND", max: historyLen},
}

// serviceFit narrows the services table: the trend and the names first give
// up some room, then the least useful columns go.
var serviceFit = []fitStep{
	{cTrend, 12}, {cName, 20}, {cUSS, -1}, {cKind, -1}, {cSwap, -1}, {cTTO, -1},
	{cProcs, -1}, {cName, 12}, {cTrend, -1}, {cPSS, -1}, {cOOM, -1}, {cName, 6},
}

// Columns of the processes table.
const (
	pPID = iota
	pPPID
	pComm
	pRSS
	pPSS
	pUSS
	pGrowth
	pSwap
	pMmap
	pBrk
	pCmd
)

var processCols = []tcol{
	pPID: {title: "PID"}, pPPID: {title: "PPID"}, pComm: {title: "COMM", left: true, max: 20},
	pRSS: {title: "RSS"}, pPSS: {title: "PSS"}, pUSS: {title: "USS"}, pGrowth: {title: "GROWTH/s"}, pSwap: {title: "SWAP"},
	pMmap: {title: "MMAP"}, pBrk: {title: "BRK"}, pCmd: {title: "CMDLINE", left: true},
}

var processFit = []fitStep{
	{pCmd, 24}, {pBrk, -1}, {pMmap, -1}, {pUSS, -1}, {pSwap, -1}, {pPPID, -1}, {pGrowth, -1},
	{pCmd, 10}, {pComm, 8}, {pCmd, -1},
}

// View implements tea.Model.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	lines := m.header()
	switch m.screen {
	case screenProcesses:
		lines = append(lines, m.processView()...)
	default:
		lines = append(lines, m.serviceView()...)
	}
	help := m.help()
	if m.height > 0 {
		// The help sits at the bottom; the rest fills what is above.
		help = help[:min(len(help), max(0, m.height-1))]
		room := m.height - len(help)
		if len(lines) > room {
			lines = lines[:room]
		}
		for len(lines) < room {
			lines = append(lines, "")
		}
	}
	return strings.Join(append(lines, help...), "\n")
}

// header is the compact system summary at the top of every screen, wrapped
// to the width, and a blank line.
func (m Model) header() []string {
	title := m.st.title.Render("oomtrace top")
	if !m.have {
		return wrap([]string{title, "waiting for the first snapshot…"}, "  ", m.width)
	}
	snap, sys := m.snap, m.snap.System
	first := []string{title, snap.Time.Format("15:04:05")}
	if m.opts.Interval > 0 {
		first = append(first, "every "+m.opts.Interval.String())
	}
	first = append(first, "sort "+string(m.sort))
	if len(m.rows) != len(snap.Services) {
		first = append(first, fmt.Sprintf("%d of %d services", len(m.rows), len(snap.Services)))
	} else {
		first = append(first, fmt.Sprintf("%d services", len(snap.Services)))
	}
	if m.filter != "" {
		first = append(first, "filter \""+safe.Text(m.filter)+"\"")
	}

	mem := []string{
		fmt.Sprintf("mem used %s of %s, avail %s", units.Bytes(sys.UsedBytes), units.Bytes(sys.TotalBytes), units.Bytes(sys.AvailableBytes)),
	}
	if sys.SwapTotalBytes > 0 {
		mem = append(mem, fmt.Sprintf("swap %s of %s", units.Bytes(sys.SwapTotalBytes-min(sys.SwapFreeBytes, sys.SwapTotalBytes)), units.Bytes(sys.SwapTotalBytes)))
	}
	mem = append(mem, "growth "+perSecond(fmtGrowth(sys.GrowthBytesPerS, sys.GrowthCovered, sys.GrowthSpanS, 0)))
	if p := psiText(sys.PSI); p != "" {
		mem = append(mem, "psi "+p)
	}

	oom := fmt.Sprintf("OOM kills %d", sys.OOMKills)
	if sys.OOMKills > 0 {
		oom = m.st.oom.Render(oom)
	}
	lost := "lost " + lostText(sys)
	if sys.LostEvents > 0 {
		lost = m.st.warn.Render(lost)
	}
	events := []string{oom, fmt.Sprintf("procs %d", sys.Procs), "events " + fmtCount(sys.EventsPerSec) + "/s",
		lost, "unexplained " + fmtUnexplained(sys)}

	var lines []string
	lines = append(lines, wrap(first, "  ", m.width)...)
	lines = append(lines, wrap(mem, "  ", m.width)...)
	lines = append(lines, wrap(events, "  ", m.width)...)
	if t := sys.TimeToOOM; t != nil {
		lines = append(lines, wrap([]string{m.st.oom.Render(ttoSentence(t)) + ":", ttoDetail(t)}, " ", m.width)...)
	}
	return append(lines, "")
}

// chrome is the number of lines around the table rows on the current screen.
func (m Model) chrome() int {
	n := len(m.header()) + len(m.help()) + 1 // + the table titles
	if m.screen == screenProcesses {
		if s, ok := m.service(); ok {
			n += len(m.summary(s)) + len(m.stackLines(s))
		}
	}
	return n
}

// listRows is how many services fit on screen.
func (m Model) listRows() int {
	if m.height <= 0 {
		return len(m.rows)
	}
	return max(1, m.height-m.chrome())
}

// procRows is how many processes fit on screen.
func (m Model) procRows() int {
	if m.height <= 0 {
		return len(m.processes())
	}
	return max(1, m.height-m.chrome())
}

func (m Model) serviceView() []string {
	if !m.have {
		return nil
	}
	if len(m.rows) == 0 {
		msg := "no services"
		if m.filter != "" {
			msg = "no service matches \"" + safe.Text(m.filter) + "\""
		}
		return []string{"  " + msg}
	}
	rows := make([][]cell, len(m.rows))
	for i, s := range m.rows {
		rows[i] = m.serviceRow(s)
	}
	cols := append([]tcol(nil), serviceCols...)
	arrow := "▼"
	if m.sort == SortName {
		arrow = "▲"
	}
	sorted := map[SortKey]int{SortRSS: cRSS, SortPSS: cPSS, SortGrowth: cGrowth, SortOOM: cOOM, SortName: cName}[m.sort]
	cols[sorted].title += arrow
	end := min(len(m.rows), m.offset+m.listRows())
	title, lines := m.renderTable(cols, rows, m.offset, end, m.cursor, serviceFit)
	return append([]string{title}, lines...)
}

func (m Model) serviceRow(s aggregate.Service) []cell {
	r := make([]cell, len(serviceCols))
	r[cName] = plain(safe.Text(s.Name))
	r[cKind] = plain(safe.Text(s.Kind))
	r[cProcs] = plain(strconv.Itoa(s.Procs))
	r[cRSS] = plain(units.Bytes(s.RSS))
	r[cPSS] = plain(fmtSmaps(s.PSS, s.PSSAgeS))
	r[cUSS] = plain(fmtSmaps(s.USS, s.PSSAgeS))
	r[cSwap] = plain(units.Bytes(s.Swap))
	r[cGrowth] = plain(fmtGrowth(s.Growth, s.Growth1mCovered, s.GrowthSpanS, 0))
	r[cOOM] = plain(strconv.Itoa(s.OOMKills))
	if s.OOMKills > 0 {
		r[cOOM] = cell{{text: r[cOOM][0].text, st: &m.st.oom}}
	}
	r[cTTO] = plain(fmtTTO(s.TimeToOOMS, s.TimeToOOMCovered))
	for _, f := range flags(s) {
		if len(r[cFlags]) > 0 {
			r[cFlags] = append(r[cFlags], part{text: " "})
		}
		st := &m.st.leak
		if f == "OOM!" {
			st = &m.st.oom
		}
		r[cFlags] = append(r[cFlags], part{text: f, st: st})
	}
	h := m.history[s.Name]
	r[cTrend] = cell{{text: sparkline(h, len(h)), st: &m.st.spark, tail: true}}
	return r
}

// processView is the drill-down into one service.
func (m Model) processView() []string {
	s, ok := m.service()
	if !ok {
		return []string{
			truncate(m.st.title.Render(safe.Text(m.detail)), m.width),
			truncate(m.st.warn.Render("no longer in the snapshot"), m.width),
		}
	}
	out := append(m.summary(s), m.stackLines(s)...)
	ps := m.processes()
	if len(ps) == 0 {
		msg := "no per-process figures in this snapshot"
		if len(s.PIDs) > 0 {
			ids := make([]string, len(s.PIDs))
			for i, p := range s.PIDs {
				ids[i] = strconv.Itoa(p)
			}
			msg += "; PIDs " + strings.Join(ids, " ")
		}
		return append(out, truncate("  "+msg, m.width))
	}
	off := max(0, min(m.procOff, len(ps)-m.procRows()))
	rows := make([][]cell, len(ps))
	for i, p := range ps {
		rows[i] = []cell{
			pPID: plain(strconv.Itoa(p.PID)), pPPID: plain(strconv.Itoa(p.PPID)), pComm: plain(safe.Text(p.Comm)),
			pRSS: plain(units.Bytes(p.RSS)), pPSS: plain(fmtSmaps(p.PSS, p.PSSAgeS)), pUSS: plain(fmtSmaps(p.USS, p.PSSAgeS)),
			pGrowth: plain(fmtGrowth(p.Growth, p.GrowthCovered, p.GrowthSpanS, 0)),
			pSwap:   plain(units.Bytes(p.Swap)), pMmap: plain(units.Level(p.Mmap)), pBrk: plain(units.Level(p.Brk)),
			pCmd: plain(safe.Text(p.Cmdline)),
		}
	}
	title, lines := m.renderTable(processCols, rows, off, min(len(ps), off+m.procRows()), -1, processFit)
	return append(append(out, title), lines...)
}

// summary is the drilled-into service's figures, wrapped to the width.
func (m Model) summary(s aggregate.Service) []string {
	items := []string{
		m.st.title.Render(safe.Text(s.Name)) + " (" + safe.Text(s.Kind) + ")",
		fmt.Sprintf("procs %d", s.Procs),
		"RSS " + units.Bytes(s.RSS), "PSS " + fmtSmaps(s.PSS, s.PSSAgeS), "USS " + fmtSmaps(s.USS, s.PSSAgeS),
		"anon " + units.Bytes(s.Anon), "file " + units.Bytes(s.File), "shmem " + units.Bytes(s.Shmem),
		"swap " + units.Bytes(s.Swap),
	}
	more := []string{
		fmt.Sprintf("growth %s (5m %s, 15m %s)", perSecond(fmtGrowth(s.Growth, s.Growth1mCovered, s.GrowthSpanS, 0)),
			perSecond(fmtGrowth(s.Growth5m, s.Growth5mCovered, s.GrowthSpanS, time.Minute)),
			perSecond(fmtGrowth(s.Growth15m, s.Growth15mCovered, s.GrowthSpanS, 5*time.Minute))),
		"mmap " + units.Level(s.Mmap), "brk " + units.Level(s.Brk), fmtCount(s.CallsPerSec) + " calls/s",
	}
	if s.TimeToOOMS != nil {
		more = append(more, m.st.oom.Render("OOM in "+fmtTTO(s.TimeToOOMS, s.TimeToOOMCovered)))
	}
	if s.Memcg != nil {
		more = append(more, fmt.Sprintf("memcg %s %s of %s", safe.Text(s.Memcg.Path), units.Bytes(s.Memcg.UsageBytes), units.Bytes(s.Memcg.LimitBytes)))
	}
	if s.LeakSuspect {
		more = append(more, m.st.leak.Render("LEAK?"))
	}
	if s.OOMKills > 0 {
		o := fmt.Sprintf("OOM! %d kills", s.OOMKills)
		if s.LastOOM != nil {
			o += ", last " + s.LastOOM.Format("15:04:05")
		}
		more = append(more, m.st.oom.Render(o))
	}
	out := append(wrap(items, "  ", m.width), wrap(more, "  ", m.width)...)
	return append(out, wrap(workerItems(s), "  ", m.width)...)
}

// sortKeysHelp names the direct sort keys, on both screens.
const sortKeysHelp = "r/p/g/o/n rss/pss/growth/oom/name"

// help lists the keys of the current screen, wrapped to the width.
func (m Model) help() []string {
	var items []string
	switch {
	case m.editing:
		return wrap([]string{"filter: " + safe.Text(m.filter) + "▏", m.st.help.Render("type to filter · enter apply · esc clear")}, "  ", m.width)
	case m.screen == screenProcesses:
		items = []string{"esc back", "↑/↓ j/k scroll", "s sort", sortKeysHelp}
		if s, ok := m.service(); ok && aggregate.Foldable(s.Stacks) {
			fold := "f all frames"
			if m.allFrames {
				fold = "f fold frames"
			}
			items = append(items, fold)
		}
		items = append(items, "q quit")
	default:
		items = []string{"s sort", sortKeysHelp, "↑/↓ j/k select", "enter processes", "/ filter"}
		if m.filter != "" {
			items = append(items, "esc clear filter")
		}
		items = append(items, "q quit")
	}
	lines := wrap(items, " · ", m.width)
	for i, l := range lines {
		lines[i] = m.st.help.Render(l)
	}
	return lines
}
