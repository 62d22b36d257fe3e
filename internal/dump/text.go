package dump

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/schema"
	"github.com/oomtrace/oomtrace/internal/units"
)

// Limits of the text summary, which is meant for a CI log.
const (
	textServices = 12 // rows of the growth table
	textEvents   = 20 // recent events
	textName     = 24 // width of a service name
	textComm     = 20 // width of a comm (TASK_COMM_LEN is 16, escapes widen it)
	textDetail   = 34 // width of an event's detail

	textStackServices = 3  // services whose stacks are listed
	textStacks        = 5  // stacks of each
	textFrames        = 16 // frames of each stack
	textFunc          = 42 // width of a function name
	textWhere         = 24 // width of file:line and of a module
)

// WriteText writes d as a plain-text summary of at most about 100 columns:
// the kill(s) or warning, the system, what grew over the window, the last
// events, and the run. Every untrusted string goes through safe.Text, so the
// output holds no terminal control sequence.
func WriteText(w io.Writer, d *Dump) error {
	t := &textWriter{w: w}
	t.head(d)
	for i, k := range kills(d) {
		t.kill(d, i, k)
	}
	if d.Warning != nil {
		t.line("")
		t.field("Warning", warning(d.Warning))
		t.field("", fmt.Sprintf("headroom %s, growing %s", units.Bytes(d.Warning.Headroom), rate(d.Warning.Growth)))
	}
	t.domains(d)
	t.system(d)
	t.growth(d)
	t.workers(d)
	t.stacks(d)
	t.events(d)
	t.missed(d)
	t.run(d)
	t.gate(d)
	return t.err
}

type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) printf(format string, a ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, a...)
	}
}

func (t *textWriter) line(s string) { t.printf("%s\n", s) }

// field prints "Label       value", the value already sanitized.
func (t *textWriter) field(label, value string) {
	t.printf("%-12s%s\n", label, value)
}

func (t *textWriter) head(d *Dump) {
	host := orNone(d.Host.Hostname)
	titleLine := fmt.Sprintf("%s at %s on host %s", title(d.Kind), clock(d.Time), host)
	t.line(titleLine)
	var about []string
	if d.Host.Kernel != "" {
		about = append(about, "kernel "+safe.Text(d.Host.Kernel))
	}
	if d.Host.Oomtrace != "" {
		about = append(about, "oomtrace "+safe.Text(d.Host.Oomtrace))
	}
	if w := window(d); w > 0 {
		about = append(about, fmt.Sprintf("window %s - %s (%s)",
			d.Window.Start.UTC().Format("15:04:05"), d.Window.End.UTC().Format("15:04:05"), w))
	}
	if len(about) > 0 {
		t.line(strings.Join(about, ", "))
	}
	t.line(strings.Repeat("=", min(max(len([]rune(titleLine)), 40), 100)))
}

func task(pid uint32, comm, service string) string {
	return fmt.Sprintf("pid %d  comm %s  service %s", pid, orNone(comm), orNone(service))
}

func (t *textWriter) kill(d *Dump, i int, k kill) {
	t.line("")
	if n := len(d.Kills); n > 1 {
		t.line(fmt.Sprintf("Kill %d of %d at %s", i+1, n, clock(k.Time)))
	}
	v := k.Victim
	t.field("Victim", task(v.PID, v.Comm, v.Service))
	t.field("", "cgroup "+orNone(v.Cgroup))
	if v.Cmdline != "" {
		t.field("", "cmdline "+orNone(v.Cmdline))
	}
	t.field("", fmt.Sprintf("rss anon %s  file %s  shmem %s  total_vm %s  pgtables %s",
		units.Bytes(v.AnonRSSBytes), units.Bytes(v.FileRSSBytes), units.Bytes(v.ShmemRSSBytes),
		units.Bytes(v.TotalVMBytes), units.Bytes(v.PgTablesBytes)))
	t.field("", fmt.Sprintf("oom_score_adj %d  uid %d", v.OOMScoreAdj, v.UID))
	t.field("Trigger", task(k.Trigger.PID, k.Trigger.Comm, k.Trigger.Service))
	t.field("Constraint", constraint(k.Kill))
	t.field("oom_memcg", orNone(k.OOMMemcg))
	t.field("task_memcg", orNone(k.TaskMemcg))
	if k.detailed {
		t.field("Kernel", kernelCheck(k.Kill))
	}
}

// kernelCheck says whether the kernel's report was joined and what the
// memcg's own counter says.
func kernelCheck(k Kill) string {
	var s []string
	if k.KernelReport {
		s = append(s, "report joined from /dev/kmsg")
	} else {
		s = append(s, "no kernel report found")
	}
	switch {
	case k.MemcgOOMKills < 0:
		s = append(s, "memcg oom_kill counter unreadable")
	case k.MemcgOOMKills == 0:
		s = append(s, "memcg oom_kill counter 0 (kill not in the victim's memcg)")
	default:
		s = append(s, fmt.Sprintf("memcg oom_kill counter %d", k.MemcgOOMKills))
	}
	if k.Source != "" {
		s = append(s, "via "+safe.Text(k.Source))
	}
	return strings.Join(s, "; ")
}

func (t *textWriter) system(d *Dump) {
	s := d.System
	t.line("")
	t.field("System", fmt.Sprintf("total %s  used %s  available %s  swap used %s of %s",
		units.Bytes(s.TotalBytes), units.Bytes(s.UsedBytes), units.Bytes(s.AvailableBytes),
		units.Bytes(s.SwapTotalBytes-min(s.SwapFreeBytes, s.SwapTotalBytes)), units.Bytes(s.SwapTotalBytes)))
	if p := s.PSI; p != nil {
		t.field("", fmt.Sprintf("PSI some %s %s %s  full %s %s %s  (%% of time, avg10 avg60 avg300)",
			pct(p.Some10), pct(p.Some60), pct(p.Some300), pct(p.Full10), pct(p.Full60), pct(p.Full300)))
	} else {
		t.field("", "PSI unavailable")
	}
	t.field("", "unexplained "+unexplained(s))
	t.field("", fmt.Sprintf("procs %d  growth %s  lost events %s", s.Procs, sysGrowth(s), lostEvents(d)))
	if tto := s.TimeToOOM; tto != nil && d.Kind != KindWarn {
		t.field("", warning(tto))
	}
	t.field("", fmt.Sprintf("OOM kills counted by the kernel: %d", d.OOMKillsKernel))
}

func (t *textWriter) growth(d *Dump) {
	t.line("")
	head := "What grew"
	if w := window(d); w > 0 {
		head += " in the last " + w.String()
	}
	t.line(head)
	top, more := topServices(d, textServices)
	if len(top) == 0 {
		t.line("  (no services)")
		return
	}
	rows := [][]string{{"SERVICE", "KIND", "PROCS", "START", "END", "GROWTH", "GROWTH/S", "PEAK", ""}}
	for _, s := range top {
		rows = append(rows, []string{
			clip(safe.Text(s.Name), textName), clip(safe.Text(s.Kind), 9), fmt.Sprint(s.Procs),
			units.Bytes(s.StartBytes), units.Bytes(s.EndBytes), units.SignedBytes(s.GrowthBytes),
			rate(s.GrowthPerSec), units.Bytes(s.PeakBytes), flags(s),
		})
	}
	t.table(rows, "llrrrrrrl")
	if more > 0 {
		t.line(fmt.Sprintf("  ... and %d more services", more))
	}
	// The two can differ in sign: a minute's slope is not the window's change.
	t.line("  GROWTH: END less START; GROWTH/S: RSS's slope over the last minute each service was seen")
}

// stacks lists the top growth stacks of the services that have some, frames
// innermost first.
func (t *textWriter) stacks(d *Dump) {
	svcs := stackServices(d)
	for i, s := range svcs {
		if i == textStackServices {
			t.line("")
			t.line(fmt.Sprintf("Growth stacks of %d more services are in the JSON dump", len(svcs)-i))
			break
		}
		t.line("")
		head := "Growth stacks of " + clip(safe.Text(s.Name), textName)
		if s.Victim {
			head += " (VICTIM)"
		}
		n := min(len(s.Stacks), textStacks)
		fold := ""
		if aggregate.Foldable(s.Stacks[:n]) {
			fold = "; Python stacks with the interpreter's native frames folded (all are in the JSON dump)"
		}
		t.line(fmt.Sprintf("%s: top %d of %d by bytes held, innermost first%s", head, n, len(s.Stacks), fold))
		total := heldTotal(s.Stacks)
		for j, st := range s.Stacks[:n] {
			trunc := ""
			if st.Truncated {
				trunc = "  TRUNCATED"
			}
			t.line(fmt.Sprintf("  #%d  held %s (%s)  grown %s  samples %d%s", j+1, units.Bytes(st.HeldBytes),
				share(st.HeldBytes, total), units.Bytes(st.GrownBytes), st.Samples, trunc))
			var rows [][]string
			more := len(st.Frames)
			fr := aggregate.Collapse(st.Frames, textFrames)
			for _, r := range fr[:min(len(fr), textFrames)] {
				more -= r.Frames()
				if r.Folded > 0 {
					rows = append(rows, []string{fmt.Sprintf("     ... %d native frames", r.Folded), "", ""})
					continue
				}
				f := r.Frame
				name := clip(frameName(f), textFunc)
				if f.Function == "" { // module+0xoffset: the end tells most
					name = clipLeft(frameName(f), textFunc)
				}
				rows = append(rows, []string{"     " + name, clipLeft(frameWhere(f), textWhere), clipLeft(frameModule(f), textWhere)})
			}
			t.table(rows, "lll")
			if more > 0 {
				t.line(fmt.Sprintf("     ... %d outer frames in the JSON dump", more))
			}
			if st.Truncated {
				t.line("     (unwinding stopped here)")
			}
		}
	}
}

// clipLeft cuts s to at most n runes from its end, marking the cut with
// "~": of a path, the file's name stays.
func clipLeft(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "~" + string(r[len(r)-n+1:])
}

// share prints part of total as a percentage, "-" when total is 0.
func share(part, total uint64) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(total))
}

func (t *textWriter) events(d *Dump) {
	end := windowEnd(d)
	ev, more := recentEvents(d, end, 0)
	t.line("")
	if len(ev) == 0 {
		t.line("Events: none recorded")
		return
	}
	upTo := ""
	if !end.IsZero() {
		upTo = " up to " + end.UTC().Format("15:04:05")
	}
	own, rest := killEvents(d, ev)
	if len(own) == 0 {
		ev, more = lastN(ev, textEvents)
		head := fmt.Sprintf("Last %d events%s", len(ev), upTo)
		if more > 0 {
			head += fmt.Sprintf(" (%d earlier in the dump)", more)
		}
		t.line(head)
		t.eventTable(ev)
		return
	}
	// The victim's and the trigger's services first: what ran last is
	// often a shell that polled, not what filled the memory.
	nOwn := min(len(own), textEvents-min(len(rest), textEvents/4))
	own, more = lastN(own, nOwn)
	head := fmt.Sprintf("Last %d events of the victim's and trigger's services%s", len(own), upTo)
	if more > 0 {
		head += fmt.Sprintf(" (%d earlier in the dump)", more)
	}
	t.line(head)
	t.eventTable(own)
	if len(rest) == 0 {
		return
	}
	rest, more = lastN(rest, textEvents-len(own))
	t.line("")
	head = fmt.Sprintf("Last %d other events", len(rest))
	if more > 0 {
		head += fmt.Sprintf(" (%d earlier in the dump)", more)
	}
	t.line(head)
	t.eventTable(rest)
}

func (t *textWriter) eventTable(ev []schema.Event) {
	rows := [][]string{{"TIME", "TYPE", "PID", "COMM", "SIZE", "DETAIL"}}
	for _, e := range ev {
		rows = append(rows, []string{
			eventClock(e), clip(safe.Text(e.Type), 9), fmt.Sprint(e.PID),
			clip(safe.Text(e.Comm), textComm), eventSize(e), clip(eventDetail(e), textDetail),
		})
	}
	t.table(rows, "llrlrl")
}

func (t *textWriter) missed(d *Dump) {
	if d.Missed == 0 {
		return
	}
	t.line("")
	t.field("Missed", fmt.Sprintf("%d OOM kill(s) not recorded: the kernel counted %d, this dump has %d",
		d.Missed, d.OOMKillsKernel, len(d.Kills)))
}

func (t *textWriter) run(d *Dump) {
	r := d.Run
	if r == nil {
		return
	}
	t.line("")
	t.field("Run", clip(command(r.Command), 88))
	took := ""
	if !r.Start.IsZero() && !r.End.IsZero() && !r.End.Before(r.Start) {
		took = " after " + r.End.Sub(r.Start).Round(time.Second).String()
	}
	t.field("", fmt.Sprintf("exit code %d%s", r.ExitCode, took))
	if len(r.Dumps) == 0 {
		t.field("", "dumps written: none")
		return
	}
	t.field("", fmt.Sprintf("dumps written: %d", len(r.Dumps)))
	for _, p := range r.Dumps {
		t.field("", "  "+safe.Text(p))
	}
}

// table prints rows in columns two spaces apart, each column aligned left
// ('l') or right ('r') as align says; the last column is never padded.
func (t *textWriter) table(rows [][]string, align string) {
	width := make([]int, len(align))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case i == len(r)-1 && align[i] == 'l':
				b.WriteString(c)
			case align[i] == 'r':
				b.WriteString(pad + c)
			default:
				b.WriteString(c + pad)
			}
			if i < len(r)-1 {
				b.WriteString("  ")
			}
		}
		t.line(strings.TrimRight(b.String(), " "))
	}
}
