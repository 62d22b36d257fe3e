package native

import "container/list"

// lru is a map bounded to max entries and, when maxCost > 0, to maxCost in
// the sum of its entries' costs; least recently used evicted.
type lru[K comparable, V any] struct {
	max     int
	maxCost int64
	cost    int64
	ll      *list.List
	items   map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	k    K
	v    V
	cost int64
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, ll: list.New(), items: make(map[K]*list.Element)}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).v, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) { c.putCost(k, v, 0) }

// putCost stores v at a cost, then evicts down to the bounds (v itself too
// when its cost alone exceeds maxCost).
func (c *lru[K, V]) putCost(k K, v V, cost int64) {
	if e, ok := c.items[k]; ok {
		ent := e.Value.(*lruEntry[K, V])
		ent.v = v
		c.cost += cost - ent.cost
		ent.cost = cost
		c.ll.MoveToFront(e)
	} else {
		c.items[k] = c.ll.PushFront(&lruEntry[K, V]{k, v, cost})
		c.cost += cost
	}
	c.evict()
}

// setCost changes the cost of k, when present, and evicts down to the bounds.
func (c *lru[K, V]) setCost(k K, cost int64) {
	if e, ok := c.items[k]; ok {
		ent := e.Value.(*lruEntry[K, V])
		c.cost += cost - ent.cost
		ent.cost = cost
		c.evict()
	}
}

func (c *lru[K, V]) evict() {
	for c.ll.Len() > c.max || (c.maxCost > 0 && c.cost > c.maxCost && c.ll.Len() > 0) {
		c.removeElem(c.ll.Back())
	}
}

func (c *lru[K, V]) removeElem(e *list.Element) {
	ent := e.Value.(*lruEntry[K, V])
	c.ll.Remove(e)
	delete(c.items, ent.k)
	c.cost -= ent.cost
}

func (c *lru[K, V]) remove(k K) {
	if e, ok := c.items[k]; ok {
		c.removeElem(e)
	}
}

func (c *lru[K, V]) len() int { return c.ll.Len() }
