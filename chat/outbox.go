package chat

import "sync"

// outbox is a session's bounded send queue. It holds nothing while the
// session is idle (no preallocated buffer per connection): items are
// appended under a lock and the writer takes them all at once.
type outbox struct {
	mu    sync.Mutex
	items []item
	limit int
	wake  chan struct{} // signalled when items were added
}

func newOutbox(limit int) outbox {
	return outbox{limit: limit, wake: make(chan struct{}, 1)}
}

// push queues an item; false when the queue is full (a slow consumer).
func (o *outbox) push(it item) bool {
	o.mu.Lock()
	if len(o.items) >= o.limit {
		o.mu.Unlock()
		return false
	}
	o.items = append(o.items, it)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns everything queued; the outbox keeps no buffer, so an idle
// session holds none.
func (o *outbox) take() []item {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.items
	o.items = nil
	return out
}
