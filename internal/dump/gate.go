package dump

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/oomtrace/oomtrace/internal/safe"
	"github.com/oomtrace/oomtrace/internal/units"
)

// The gate of `oomtrace run`: budgets and a baseline, written into the
// summary. Package gate computes them; this file holds their schema and
// their text rendering, shared by the summary and `oomtrace compare`.

// Results of a budget.
const (
	BudgetPass    = "pass"
	BudgetFail    = "fail"     // the service's peak PSS exceeded its limit
	BudgetNotSeen = "not seen" // no process of the service ran: not a failure
)

// Budget is one --budget and how the run fared against it.
type Budget struct {
	Service      string     `json:"service"`
	LimitBytes   uint64     `json:"limit_bytes"`
	Result       string     `json:"result"`
	PeakPSSBytes uint64     `json:"peak_pss_bytes"`
	PeakTime     *time.Time `json:"peak_time,omitempty"` // unset when not seen
}

// Figures are one service's PSS over a run, from its samples.
type Figures struct {
	PeakPSSBytes uint64    `json:"peak_pss_bytes"`
	PeakTime     time.Time `json:"peak_time"`
	EndPSSBytes  uint64    `json:"end_pss_bytes"` // at its last sample with a process
	GrowthBytes  int64     `json:"growth_bytes"`  // end PSS minus the first sample's
}

// Statuses of a service in a comparison.
const (
	ChangeBoth     = "both"     // in both runs
	ChangeNew      = "new"      // only in the later run
	ChangeVanished = "vanished" // only in the earlier run
)

// ServiceChange is one service from run A (the baseline) to run B. A
// percentage is null where A's figure is zero (or the service is in one run
// only).
type ServiceChange struct {
	Name              string   `json:"name"`
	Status            string   `json:"status"`
	A                 *Figures `json:"a,omitempty"`
	B                 *Figures `json:"b,omitempty"`
	PeakChangeBytes   int64    `json:"peak_change_bytes"`
	PeakChangePct     *float64 `json:"peak_change_pct"`
	EndChangeBytes    int64    `json:"end_change_bytes"`
	EndChangePct      *float64 `json:"end_change_pct"`
	GrowthChangeBytes int64    `json:"growth_change_bytes"`
	// Regression: the peak grew by more than MaxRegressionPct and by more
	// than the floor.
	Regression bool `json:"regression,omitempty"`
}

// Comparison is run A against run B, services sorted by the change of
// their peak PSS, largest growth first.
type Comparison struct {
	AFile string    `json:"a_file"`
	BFile string    `json:"b_file,omitempty"` // "" in a run's summary: B is that run
	ATime time.Time `json:"a_time"`
	BTime time.Time `json:"b_time"`
	// MaxRegressionPct is --max-regression (null: not set); a regression
	// must also exceed RegressionFloorBytes.
	MaxRegressionPct     *float64        `json:"max_regression_pct"`
	RegressionFloorBytes uint64          `json:"regression_floor_bytes"`
	Services             []ServiceChange `json:"services"`
}

// WriteComparison writes c as a table, at most limit rows (0: all).
func WriteComparison(w io.Writer, c *Comparison, limit int) error {
	t := &textWriter{w: w}
	t.comparison(c, limit)
	return t.err
}

// gate writes a summary's budgets and baseline comparison, if any.
func (t *textWriter) gate(d *Dump) {
	for _, g := range gateTables(d, textServices) {
		t.line("")
		for _, c := range g.Caption {
			t.line(c)
		}
		t.table(append([][]string{g.Head}, g.Rows...), g.Align)
		if g.More > 0 {
			t.line(fmt.Sprintf("... and %d more services (in the JSON)", g.More))
		}
	}
}

// comparison writes the table of changes, at most limit rows (0: all).
func (t *textWriter) comparison(c *Comparison, limit int) {
	g := comparisonTable(c, limit)
	for _, c := range g.Caption {
		t.line(c)
	}
	t.table(append([][]string{g.Head}, g.Rows...), g.Align)
	if g.More > 0 {
		t.line(fmt.Sprintf("... and %d more services (in the JSON)", g.More))
	}
}

// gateTable is a table of the gate, for the text and the HTML alike; the
// cells are already sanitized.
type gateTable struct {
	Caption []string
	Head    []string
	Rows    [][]string
	Fail    []bool // the row failed its budget or regressed
	Align   string
	More    int // rows left out
}

func gateTables(d *Dump, limit int) []gateTable {
	var out []gateTable
	if d.Run == nil {
		return nil
	}
	if len(d.Run.Budgets) > 0 {
		g := gateTable{Caption: []string{"Budgets (peak PSS over the run)"}, Head: []string{"SERVICE", "PEAK PSS", "LIMIT", "AT (UTC)", "RESULT"}, Align: "lrrll"}
		for _, b := range d.Run.Budgets {
			peak, at := "-", "-"
			if b.PeakTime != nil {
				peak, at = units.Bytes(b.PeakPSSBytes), b.PeakTime.UTC().Format("15:04:05")
			}
			result := map[string]string{BudgetPass: "pass", BudgetFail: "FAIL", BudgetNotSeen: "not seen (no failure)"}[b.Result]
			g.Rows = append(g.Rows, []string{clip(safe.Text(b.Service), textName), peak, units.Bytes(b.LimitBytes), at, result})
			g.Fail = append(g.Fail, b.Result == BudgetFail)
		}
		out = append(out, g)
	}
	if c := d.Run.Baseline; c != nil {
		out = append(out, comparisonTable(c, limit))
	}
	return out
}

func comparisonTable(c *Comparison, limit int) gateTable {
	b := "this run"
	if c.BFile != "" {
		b = safe.Text(c.BFile) + " (" + clock(c.BTime) + ")"
	}
	g := gateTable{
		Caption: []string{fmt.Sprintf("Peak PSS, end PSS and growth: A %s (%s), B %s", safe.Text(c.AFile), clock(c.ATime), b)},
		Head:    []string{"SERVICE", "PEAK A", "PEAK B", "CHANGE", "%", "END A", "END B", "CHANGE", "%", "GROWTH A", "GROWTH B", ""},
		Align:   "lrrrrrrrrrrl",
	}
	if c.MaxRegressionPct != nil {
		g.Caption = append(g.Caption, fmt.Sprintf("a regression: peak PSS up more than %g%% and more than %s", *c.MaxRegressionPct, units.Bytes(c.RegressionFloorBytes)))
	}
	shown := c.Services
	if limit > 0 && len(shown) > limit {
		shown = shown[:limit]
	}
	g.More = len(c.Services) - len(shown)
	for _, s := range shown {
		r := []string{clip(safe.Text(s.Name), textName), "-", "-", units.SignedBytes(s.PeakChangeBytes), changePct(s.PeakChangePct, s.Status),
			"-", "-", units.SignedBytes(s.EndChangeBytes), changePct(s.EndChangePct, s.Status), "-", "-", ""}
		if a := s.A; a != nil {
			r[1], r[5], r[9] = units.Bytes(a.PeakPSSBytes), units.Bytes(a.EndPSSBytes), units.SignedBytes(a.GrowthBytes)
		}
		if b := s.B; b != nil {
			r[2], r[6], r[10] = units.Bytes(b.PeakPSSBytes), units.Bytes(b.EndPSSBytes), units.SignedBytes(b.GrowthBytes)
		}
		if s.Regression {
			r[11] = "REGRESSION"
		}
		g.Rows = append(g.Rows, r)
		g.Fail = append(g.Fail, s.Regression)
	}
	return g
}

func changePct(p *float64, status string) string {
	switch {
	case status == ChangeNew:
		return "new"
	case status == ChangeVanished:
		return "gone"
	case p == nil:
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", *p)
}

// WriteComparisonJSON writes c as indented JSON, for `compare --json`.
func WriteComparisonJSON(w io.Writer, c *Comparison) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}
