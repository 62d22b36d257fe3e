package history

// ring is a FIFO of at most limit elements that overwrites its oldest. Its
// buffer grows with use up to limit, so a service seen for a few seconds
// costs a few samples, not a full window.
type ring[T any] struct {
	buf   []T
	limit int
	start int
	n     int
}

func newRing[T any](limit int) *ring[T] { return &ring[T]{limit: max(limit, 1)} }

func (r *ring[T]) push(v T) {
	if r.n == len(r.buf) && r.n < r.limit { // not yet wrapped: start is 0
		if r.n == cap(r.buf) {
			grown := make([]T, r.n, min(max(2*r.n, 16), r.limit))
			copy(grown, r.buf)
			r.buf = grown
		}
		r.buf = append(r.buf, v)
		r.n++
		return
	}
	i := (r.start + r.n) % len(r.buf)
	r.buf[i] = v
	if r.n < len(r.buf) {
		r.n++
	} else {
		r.start = (r.start + 1) % len(r.buf)
	}
}

func (r *ring[T]) len() int { return r.n }

func (r *ring[T]) at(i int) T { return r.buf[(r.start+i)%len(r.buf)] }

func (r *ring[T]) each(f func(T)) {
	for i := 0; i < r.n; i++ {
		f(r.at(i))
	}
}
