package dump

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// Limits of the HTML dump's tables.
const (
	htmlServices = 50
	htmlEvents   = 500
)

//go:embed html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("dump").Parse(htmlSource))

// WriteHTML writes d as one self-contained HTML page: inline CSS and inline
// SVG charts, no script, and nothing loaded from anywhere (a
// Content-Security-Policy forbids it too), so it opens offline from a CI
// artifact. Every string is escaped by html/template, after safe.Text has
// made control characters and invalid UTF-8 visible. The page is also
// well-formed XML.
func WriteHTML(w io.Writer, d *Dump) error {
	return htmlTemplate.Execute(w, newPage(d))
}

// page is what the template shows; every string in it is sanitized.
type page struct {
	Title     string
	Kind      string
	Time      string
	Host      string
	Kernel    string
	Oomtrace  string
	Window    string
	WindowLen string
	Headline  string
	Warning   *kv
	Kills     []killView
	System    []kv
	Services  []serviceView
	MoreSvcs  int
	Events    []eventView
	MoreEvts  int
	Missed    string
	Run       []kv
	RunDumps  []string
	Gate      []gateTable // budgets and baseline of a run
	MemChart  *chart
	SysChart  *chart
	Domains   []domainView
	// Stacks is set when some service has growth stacks: Flame draws one
	// service's, StackLists lists every service's.
	Stacks     bool
	Flame      *flameView
	StackLists []stackList
	// Foldable is set when some stack has frames aggregate.Collapse folds:
	// the page shows them folded, with a checkbox to show them (FlameAll is
	// then Flame unfolded).
	Foldable bool
	FlameAll *flameView
	// Workers are the services that are a master with workers.
	Workers     []workerView
	MoreWorkers int
	WorkersNote string
}

type stackList struct {
	Service string
	Victim  bool
	Stacks  []stackView
}

type stackView struct {
	Head, Top string
	Truncated bool
	Frames    []frameView
}

// frameView is a frame of a stack list, or with Marker, the row that
// stands for the folded frames before it (Fold).
type frameView struct {
	Name, Where, Module, Marker string
	Fold                        bool
}

type kv struct{ K, V string }

type domainView struct {
	Name  string
	Chart *chart
	Lines []string
}

type killView struct {
	Heading string
	Rows    []kv
}

type serviceView struct {
	Name, Kind, Procs, Start, End, Growth, Rate, Peak, Flags string
	Victim, Leak                                             bool
	Color                                                    string
}

type eventView struct {
	Time, Type, PID, Comm, Size, Detail string
	Kill, Alloc                         bool
}

func newPage(d *Dump) *page {
	p := &page{
		Title:    fmt.Sprintf("%s at %s on %s", title(d.Kind), clock(d.Time), orNone(d.Host.Hostname)),
		Kind:     safe.Text(d.Kind),
		Time:     clock(d.Time),
		Host:     orNone(d.Host.Hostname),
		Kernel:   orNone(d.Host.Kernel),
		Oomtrace: orNone(d.Host.Oomtrace),
		MemChart: serviceChart(d),
		SysChart: systemChart(d),
	}
	if w := window(d); w > 0 {
		p.WindowLen = w.String()
		p.Window = fmt.Sprintf("%s – %s (%s)", d.Window.Start.UTC().Format("15:04:05"),
			d.Window.End.UTC().Format("15:04:05 MST"), w)
	}
	ks := kills(d)
	if len(ks) > 0 {
		k := ks[0]
		p.Headline = fmt.Sprintf("pid %d %s of service %s was killed; the allocation that triggered it came from pid %d %s of service %s.",
			k.Victim.PID, orNone(k.Victim.Comm), orNone(k.Victim.Service), k.Trigger.PID, orNone(k.Trigger.Comm), orNone(k.Trigger.Service))
		if len(ks) > 1 {
			p.Headline = fmt.Sprintf("%d OOM kills. The first: %s", len(ks), p.Headline)
		}
	}
	for i, k := range ks {
		p.Kills = append(p.Kills, newKillView(d, i, k))
	}
	if w := d.Warning; w != nil {
		p.Warning = &kv{warning(w), fmt.Sprintf("headroom %s, growing %s", units.Bytes(w.Headroom), rate(w.Growth))}
		if p.Headline == "" {
			p.Headline = p.Warning.K + "."
		}
	}
	p.System = systemRows(d)
	for _, dm := range d.Domains {
		p.Domains = append(p.Domains, domainView{Name: domainName(dm), Chart: domainChart(d, dm), Lines: domainLines(d, dm)})
	}
	colors := map[string]string{}
	if c := p.MemChart; c != nil {
		for _, l := range c.Legend {
			colors[l.Label] = l.Color
		}
	}
	top, more := topServices(d, htmlServices)
	p.MoreSvcs = more
	for _, s := range top {
		name := safe.Text(s.Name)
		p.Services = append(p.Services, serviceView{
			Name: name, Kind: orNone(s.Kind), Procs: fmt.Sprint(s.Procs),
			Start: units.Bytes(s.StartBytes), End: units.Bytes(s.EndBytes), Growth: units.SignedBytes(s.GrowthBytes),
			Rate: rate(s.GrowthPerSec), Peak: units.Bytes(s.PeakBytes), Flags: flags(s),
			Victim: s.Victim, Leak: s.LeakSuspect, Color: colors[name],
		})
	}
	p.Workers, p.MoreWorkers, p.WorkersNote = workerViews(d)
	p.stacks(d)
	ev, more := recentEvents(d, time.Time{}, htmlEvents)
	p.MoreEvts = more
	for _, e := range ev {
		p.Events = append(p.Events, eventView{
			Time: eventClock(e), Type: safe.Text(e.Type), PID: fmt.Sprint(e.PID), Comm: safe.Text(e.Comm),
			Size: eventSize(e), Detail: eventDetail(e), Kill: e.Victim != nil, Alloc: isAlloc(e),
		})
	}
	if d.Missed > 0 {
		p.Missed = fmt.Sprintf("%d OOM kill(s) were not recorded: the kernel counted %d since oomtrace started, this dump has %d.",
			d.Missed, d.OOMKillsKernel, len(d.Kills))
	}
	if r := d.Run; r != nil {
		p.Run = append(p.Run, kv{"command", command(r.Command)}, kv{"exit code", fmt.Sprint(r.ExitCode)})
		if !r.Start.IsZero() && !r.End.IsZero() && !r.End.Before(r.Start) {
			p.Run = append(p.Run, kv{"duration", r.End.Sub(r.Start).Round(time.Second).String()})
		}
		for _, x := range r.Dumps {
			p.RunDumps = append(p.RunDumps, safe.Text(x))
		}
		p.Gate = gateTables(d, 0)
	}
	return p
}

func newKillView(d *Dump, i int, k kill) killView {
	v, tr := k.Victim, k.Trigger
	kw := killView{Heading: "OOM kill at " + clock(k.Time)}
	if len(d.Kills) > 1 {
		kw.Heading = fmt.Sprintf("OOM kill %d of %d at %s", i+1, len(d.Kills), clock(k.Time))
	}
	kw.Rows = []kv{
		{"victim", fmt.Sprintf("pid %d  comm %s  service %s", v.PID, orNone(v.Comm), orNone(v.Service))},
		{"victim cgroup", orNone(v.Cgroup)},
		{"victim cmdline", orNone(v.Cmdline)},
		{"victim RSS", fmt.Sprintf("anon %s, file %s, shmem %s", units.Bytes(v.AnonRSSBytes), units.Bytes(v.FileRSSBytes), units.Bytes(v.ShmemRSSBytes))},
		{"total_vm / pgtables", units.Bytes(v.TotalVMBytes) + " / " + units.Bytes(v.PgTablesBytes)},
		{"oom_score_adj / uid", fmt.Sprintf("%d / %d", v.OOMScoreAdj, v.UID)},
		{"trigger", fmt.Sprintf("pid %d  comm %s  service %s", tr.PID, orNone(tr.Comm), orNone(tr.Service))},
		{"constraint", constraint(k.Kill)},
		{"oom_memcg", orNone(k.OOMMemcg)},
		{"task_memcg", orNone(k.TaskMemcg)},
	}
	if k.detailed {
		kw.Rows = append(kw.Rows, kv{"kernel", kernelCheck(k.Kill)})
	}
	return kw
}

func systemRows(d *Dump) []kv {
	s := d.System
	rows := []kv{
		{"memory", fmt.Sprintf("total %s, used %s, available %s", units.Bytes(s.TotalBytes), units.Bytes(s.UsedBytes), units.Bytes(s.AvailableBytes))},
		{"swap", fmt.Sprintf("used %s of %s", units.Bytes(s.SwapTotalBytes-min(s.SwapFreeBytes, s.SwapTotalBytes)), units.Bytes(s.SwapTotalBytes))},
	}
	if p := s.PSI; p != nil {
		rows = append(rows, kv{"pressure (PSI, % of time, avg10/60/300)", fmt.Sprintf("some %s / %s / %s, full %s / %s / %s",
			pct(p.Some10), pct(p.Some60), pct(p.Some300), pct(p.Full10), pct(p.Full60), pct(p.Full300))})
	} else {
		rows = append(rows, kv{"pressure (PSI)", "unavailable"})
	}
	rows = append(rows,
		kv{"unexplained", unexplained(s)},
		kv{"processes", fmt.Sprint(s.Procs)},
		kv{"growth", sysGrowth(s)},
	)
	if t := s.TimeToOOM; t != nil && d.Kind != KindWarn {
		rows = append(rows, kv{"time to OOM", warning(t)})
	}
	rows = append(rows,
		kv{"lost events", lostEvents(d)},
		kv{"OOM kills (kernel count)", fmt.Sprint(d.OOMKillsKernel)},
	)
	return rows
}

// stacks sets the flame graph of the victim's service (else the top grower
// with stacks) and the list of every service's stacks.
func (p *page) stacks(d *Dump) {
	svcs := stackServices(d)
	if len(svcs) == 0 {
		return
	}
	p.Stacks, p.Flame = true, newFlame(svcs[0], true)
	for _, s := range svcs {
		p.Foldable = p.Foldable || aggregate.Foldable(s.Stacks)
	}
	if aggregate.Foldable(svcs[0].Stacks) {
		p.FlameAll = newFlame(svcs[0], false)
		p.Flame.Class, p.FlameAll.Class = "foldmark", "fold"
	}
	for _, s := range svcs {
		l := stackList{Service: safe.Text(s.Name), Victim: s.Victim}
		total := heldTotal(s.Stacks)
		for i, st := range s.Stacks {
			v := stackView{Head: fmt.Sprintf("#%d held %s (%s), grown %s, %d samples", i+1, units.Bytes(st.HeldBytes),
				share(st.HeldBytes, total), units.Bytes(st.GrownBytes), st.Samples), Top: frameName(st.Frames[0]), Truncated: st.Truncated}
			// A Python stack is named by its innermost Python frame.
			if i := slices.IndexFunc(st.Frames, func(f aggregate.Frame) bool { return f.Kind == "python" }); i >= 0 {
				v.Top = frameName(st.Frames[i])
			}
			mask := aggregate.FoldMask(st.Frames)
			for i, f := range st.Frames {
				fold := mask != nil && mask[i]
				v.Frames = append(v.Frames, frameView{Name: frameName(f), Where: frameWhere(f), Module: frameModule(f), Fold: fold})
				if fold && (i+1 == len(st.Frames) || !mask[i+1]) { // the run's end
					n := 1
					for n <= i && mask[i-n] {
						n++
					}
					v.Frames = append(v.Frames, frameView{Marker: fmt.Sprintf("… %d native frames", n)})
				}
			}
			l.Stacks = append(l.Stacks, v)
		}
		p.StackLists = append(p.StackLists, l)
	}
}
