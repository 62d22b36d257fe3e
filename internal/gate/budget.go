// Package gate judges a run of `oomtrace run`: its services' peak PSS
// against budgets, and against an earlier run's summary (also `oomtrace
// compare`). The results' schema and rendering are in package dump.
package gate

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/oomtrace/oomtrace/internal/dump"
	"github.com/oomtrace/oomtrace/internal/units"
)

// Budget is a limit on one service's peak PSS.
type Budget struct {
	Service string
	Limit   uint64
}

// ParseBudget reads "SERVICE=SIZE", SIZE as units.ParseBytes takes it
// ("800MiB"). A service name may hold '=': the size follows the last one.
func ParseBudget(s string) (Budget, error) {
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return Budget{}, fmt.Errorf("invalid budget %q (want SERVICE=SIZE, e.g. web=800MiB)", s)
	}
	name, size := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	if name == "" {
		return Budget{}, fmt.Errorf("invalid budget %q: no service name", s)
	}
	n, err := units.ParseBytes(size)
	if err != nil {
		return Budget{}, fmt.Errorf("budget %q: %v", s, err)
	}
	if n == 0 {
		return Budget{}, fmt.Errorf("budget %q: the size must be above zero", s)
	}
	return Budget{Service: name, Limit: n}, nil
}

// ParseBudgets reads one budget a line; '#' starts a comment, blank lines
// are skipped. Errors name the file and line.
func ParseBudgets(r io.Reader, name string) ([]Budget, error) {
	var out []Budget
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		b, err := ParseBudget(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return out, nil
}

// Unique refuses two budgets for one service: which one holds would be a guess.
func Unique(bs []Budget) error {
	seen := map[string]bool{}
	for _, b := range bs {
		if seen[b.Service] {
			return fmt.Errorf("service %q has more than one budget", b.Service)
		}
		seen[b.Service] = true
	}
	return nil
}

// Check judges each budget against the services of a summary, in the
// order given. A service peaking exactly at its limit passes.
func Check(d *dump.Dump, bs []Budget) []dump.Budget {
	out := make([]dump.Budget, 0, len(bs))
	for _, b := range bs {
		r := dump.Budget{Service: b.Service, LimitBytes: b.Limit, Result: dump.BudgetNotSeen}
		if f, ok := figuresOf(d, b.Service); ok {
			at := f.PeakTime
			r.PeakPSSBytes, r.PeakTime, r.Result = f.PeakPSSBytes, &at, dump.BudgetPass
			if f.PeakPSSBytes > b.Limit {
				r.Result = dump.BudgetFail
			}
		}
		out = append(out, r)
	}
	return out
}

// Failed lists the failed budgets as "SERVICE peak PSS X > Y".
func Failed(rs []dump.Budget) []string {
	var out []string
	for _, r := range rs {
		if r.Result == dump.BudgetFail {
			out = append(out, fmt.Sprintf("%s peak PSS %s > budget %s", r.Service, units.Bytes(r.PeakPSSBytes), units.Bytes(r.LimitBytes)))
		}
	}
	return out
}
