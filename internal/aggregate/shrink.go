package aggregate

// Go maps and slices never give memory back as they empty: after a burst of
// 10,000 processes the process table, the recently-gone map and the per-tick
// lists would keep their peak size for good. They are reallocated once they
// hold a quarter of their peak or less.

// shrinkMin is the size below which nothing is reallocated.
const shrinkMin = 1024

// oversized says a slice of capacity c holding n is worth reallocating.
func oversized(c, n int) bool { return c > shrinkMin && c > 4*n }

// peak is the most entries a map held since it was last allocated.
type peak int

// shrink returns m, or a copy of it sized to what it holds once that is a
// quarter of its peak or less. Called once a tick, outside any loop over m.
func shrink[K comparable, V any](p *peak, m map[K]V) map[K]V {
	n := len(m)
	if n > int(*p) {
		*p = peak(n)
	}
	if !oversized(int(*p), n) {
		return m
	}
	c := make(map[K]V, n)
	for k, v := range m {
		c[k] = v
	}
	*p = peak(n)
	return c
}
