package recorder

import (
	"sort"

	"github.com/oomtrace/oomtrace/tracer"
)

// trimEvents keeps at most max of evs (sorted by time), the newest of each
// kind: half the room for allocations and OOM kills, half for fork, exec and
// exit, and what one kind leaves unused goes to the other. So a churn of
// short-lived processes cannot push the large allocations out of a dump.
func trimEvents(evs []tracer.Event, max int) []tracer.Event {
	if len(evs) <= max {
		return evs
	}
	var alloc, life []tracer.Event
	for _, e := range evs {
		if e.Type.IsLifecycle() {
			life = append(life, e)
		} else {
			alloc = append(alloc, e)
		}
	}
	na := min(len(alloc), max-min(len(life), max/2))
	nl := min(len(life), max-na)
	out := append(alloc[len(alloc)-na:], life[len(life)-nl:]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
