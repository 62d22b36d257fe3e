package aggregate

// inOrder finds a listed process in the table. The kernel lists processes
// in the same order each tick (the task list, or pid order from /proc), so
// the next entry of the last tick's list is tried before the map: most
// ticks then make no map lookup at all. A process gone since is skipped;
// a new one falls back to the map.
func (a *Aggregator) inOrder(pid int) (*procState, bool) {
	for c := a.cursor; c < len(a.prev) && c <= a.cursor+1; c++ {
		if p := a.prev[c]; p.info.PID == pid && !p.dropped {
			a.cursor = c + 1
			return p, true
		}
	}
	p, ok := a.table[pid]
	return p, ok
}
