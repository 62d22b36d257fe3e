package top

import (
	"strconv"

	"github.com/oomtrace/oomtrace/internal/aggregate"
	"github.com/oomtrace/oomtrace/internal/units"
)

// workerItems are the drill-down's worker figures of a master with workers:
// what one worker fewer frees (its USS) and what they share, which stays.
// Figures of only some workers get the partial mark; none when none are read.
func workerItems(s aggregate.Service) []string {
	w := s.Workers
	if w.Count == 0 {
		return nil
	}
	head := "workers " + strconv.Itoa(w.Count)
	if w.Unread == w.Count {
		return []string{head, "worker USS " + w.Partial()}
	}
	mark := ""
	if w.Unread > 0 {
		mark = approx
	}
	items := []string{head,
		"worker USS mean " + units.Bytes(w.USSMean) + mark + " max " + units.Bytes(w.USSMax) + mark,
		"shared " + units.Bytes(w.Shared) + mark,
	}
	if w.Unread > 0 {
		items = append(items, "("+w.Partial()+")")
	}
	return items
}
