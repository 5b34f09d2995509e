package chat

import "sync"

// outbox is a session's bounded send queue. It holds nothing while the
// session is idle: no buffer, and no writer goroutine. The first item queued
// to an idle session starts a writer, which drains the queue and ends when it
// is empty; at most one writer runs at a time.
type outbox struct {
	mu      sync.Mutex
	items   []item
	limit   int
	running bool // a writer is draining
}

func newOutbox(limit int) outbox { return outbox{limit: limit} }

// itemBuf is a queue's backing array, recycled: a session's queue holds
// nothing while it is idle, and each burst would otherwise grow a new one
// (1, 2, 4 items: a new shopper's opening queues four frames).
type itemBuf [8]item

var itemBufs = sync.Pool{New: func() any { return new(itemBuf) }}

// recycle gives back a batch taken from a queue, every item of it cleared.
// The caller must not use it again.
func recycle(batch []item) {
	if cap(batch) == len(itemBuf{}) {
		itemBufs.Put((*itemBuf)(batch[:cap(batch)]))
	}
}

// push queues an item. ok is false when the queue is full (a slow
// consumer); start is true when the caller must start a writer. A final
// item (the close) is taken even into a full queue.
func (o *outbox) push(it item, final bool) (ok, start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) >= o.limit && !final {
		return false, false
	}
	if o.items == nil {
		o.items = itemBufs.Get().(*itemBuf)[:0]
	}
	o.items = append(o.items, it)
	if o.running {
		return true, false
	}
	o.running = true
	return true, true
}

// take returns everything queued, or nothing and the writer's leave to
// stop (it must then return without writing).
func (o *outbox) take() []item {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.items
	o.items = nil
	if len(out) == 0 {
		o.running = false
	}
	return out
}

// claim makes the caller the writer before anything is queued: push starts
// none until the caller, done with takeAll and take, gives the role back.
func (o *outbox) claim() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.running = true
}

// takeAll returns everything queued; the caller stays the writer (even
// with nothing queued) and goes on with take.
func (o *outbox) takeAll() []item {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.items
	o.items = nil
	return out
}
