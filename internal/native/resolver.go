package native

import "sync"

// Resolver unwinds and symbolizes stacks. It is safe for concurrent use.
type Resolver struct {
	lim Limits
	mu  sync.Mutex
	// Panics counts panics recovered at Resolve (hostile input the parsers
	// did not anticipate).
	panics uint64
}

// NewResolver returns a Resolver whose caches are bounded by l.
func NewResolver(l Limits) *Resolver {
	return &Resolver{lim: l.withDefaults()}
}

// Resolve unwinds the stack of process pid (start is its start time in ns,
// which tells a reused pid apart) from regs, the copy of its stack from
// regs.SP upward and the frame-pointer walk fp, and names its frames.
func (r *Resolver) Resolve(pid uint32, start uint64, regs Regs, stack []byte, fp []uint64) Stack {
	return Stack{}
}

// Forget drops what is cached about pid (at exec or exit).
func (r *Resolver) Forget(pid uint32) {}

// Panics reports how many panics Resolve recovered from.
func (r *Resolver) Panics() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.panics
}
