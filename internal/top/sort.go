// Package top holds the views of `oomtrace top`: a plain-text batch printer,
// a JSON-lines printer and an interactive terminal UI.
package top

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/oomtrace/oomtrace/internal/aggregate"
)

// SortKey names the figure services are ordered by.
type SortKey string

// The sort keys, in the order `s` cycles through them in the TUI.
const (
	SortRSS    SortKey = "rss"
	SortPSS    SortKey = "pss"
	SortGrowth SortKey = "growth"
	SortOOM    SortKey = "oom"
	SortName   SortKey = "name"
)

// SortKeys lists the valid keys in cycling order.
func SortKeys() []SortKey {
	return []SortKey{SortRSS, SortPSS, SortGrowth, SortOOM, SortName}
}

// ParseSortKey reads a sort key, case-insensitively.
func ParseSortKey(s string) (SortKey, error) {
	k := SortKey(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(SortKeys(), k) {
		return k, nil
	}
	names := make([]string, 0, len(SortKeys()))
	for _, v := range SortKeys() {
		names = append(names, string(v))
	}
	return "", fmt.Errorf("invalid sort key %q (valid: %s)", s, strings.Join(names, ", "))
}

// next is the key after k in cycling order.
func (k SortKey) next() SortKey {
	keys := SortKeys()
	i := slices.Index(keys, k)
	return keys[(i+1)%len(keys)]
}

// SortServices orders svcs in place: descending by the key's figure for the
// numeric keys, ascending by name for "name"; ties go by name. An unknown key
// sorts by RSS.
func SortServices(svcs []aggregate.Service, key SortKey) {
	slices.SortStableFunc(svcs, func(a, b aggregate.Service) int {
		var c int
		switch key {
		case SortName:
		case SortPSS:
			c = cmp.Compare(b.PSS, a.PSS)
		case SortGrowth:
			c = cmp.Compare(b.Growth, a.Growth) // NaN sorts last
		case SortOOM:
			c = cmp.Compare(b.OOMKills, a.OOMKills)
		default:
			c = cmp.Compare(b.RSS, a.RSS)
		}
		if c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// sortProcesses orders a drill-down's processes by the service sort key where
// it applies (RSS otherwise), ties by PID.
func sortProcesses(ps []aggregate.Process, key SortKey) {
	slices.SortStableFunc(ps, func(a, b aggregate.Process) int {
		var c int
		switch key {
		case SortPSS:
			c = cmp.Compare(b.PSS, a.PSS)
		case SortName:
			c = strings.Compare(a.Comm, b.Comm)
		default:
			c = cmp.Compare(b.RSS, a.RSS)
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
}
