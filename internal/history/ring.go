package history

// ring is a fixed-capacity FIFO that overwrites its oldest element.
type ring[T any] struct {
	buf   []T
	start int
	n     int
}

func newRing[T any](capacity int) *ring[T] { return &ring[T]{buf: make([]T, max(capacity, 1))} }

func (r *ring[T]) push(v T) {
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
