package dump

import (
	"fmt"
	"sort"

	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// workerRows lists the services that are a master with workers, those whose
// workers hold the most of their own first, at most limit: name, workers,
// mean and largest USS, shared, and a note while some worker is unread
// (its figures then carry the partial mark "~"; none are shown while no
// worker is read).
func workerRows(d *Dump, limit int) (rows [][]string, more int) {
	var svcs []*Service
	for i := range d.Services {
		if d.Services[i].Workers.Count > 0 {
			svcs = append(svcs, &d.Services[i])
		}
	}
	own := func(s *Service) uint64 { return s.USSMean * uint64(s.Workers.Count-s.Unread) }
	sort.SliceStable(svcs, func(i, j int) bool { return own(svcs[i]) > own(svcs[j]) })
	if len(svcs) > limit {
		svcs, more = svcs[:limit], len(svcs)-limit
	}
	for _, s := range svcs {
		w := s.Workers
		row := []string{safe.Text(s.Name), fmt.Sprint(w.Count), "-", "-", "-", w.Partial()}
		if w.Unread < w.Count {
			mark := ""
			if w.Unread > 0 {
				mark = "~"
			}
			row[2], row[3], row[4] = units.Bytes(w.USSMean)+mark, units.Bytes(w.USSMax)+mark, units.Bytes(w.Shared)+mark
		}
		rows = append(rows, row)
	}
	return rows, more
}

// workersNote says how to read the worker figures.
const workersNote = "One worker fewer frees about the mean USS; the shared memory (PSS less USS) stays."

// workers writes the text dump's worker table, when some service has workers.
func (t *textWriter) workers(d *Dump) {
	rows, more := workerRows(d, textServices)
	if len(rows) == 0 {
		return
	}
	t.line("")
	t.line("What a worker costs (masters and their forked workers)")
	head := []string{"SERVICE", "WORKERS", "USS MEAN", "USS MAX", "SHARED", ""}
	for i := range rows {
		rows[i][0] = clip(rows[i][0], textName)
	}
	t.table(append([][]string{head}, rows...), "lrrrrl")
	if more > 0 {
		t.line(fmt.Sprintf("  ... and %d more services", more))
	}
	t.line("  " + workersNote)
}

// workerView is a row of the HTML dump's worker table.
type workerView struct{ Name, Count, Mean, Max, Shared, Note string }

// workerViews are the HTML dump's worker rows, how many more there are, and
// the note on reading them.
func workerViews(d *Dump) (out []workerView, more int, note string) {
	rows, more := workerRows(d, htmlServices)
	for _, r := range rows {
		out = append(out, workerView{r[0], r[1], r[2], r[3], r[4], r[5]})
	}
	return out, more, workersNote
}
