package chat

import (
	"context"
	"errors"
	"sync"
)

// MemoryBroker is the broker of a single instance: a publish is delivered at
// once, in the publisher's goroutine, when the channel is subscribed.
type MemoryBroker struct {
	mu      sync.RWMutex
	subs    map[string]bool
	deliver func(string, []byte)
	closed  bool
}

// NewMemoryBroker makes an empty in-memory broker.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{subs: make(map[string]bool)} }

// ErrBrokerClosed is returned by a broker used after Close.
var ErrBrokerClosed = errors.New("chat: broker closed")

func (b *MemoryBroker) Start(deliver func(string, []byte), _ func([]string)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver = deliver
	return nil
}

func (b *MemoryBroker) Publish(_ context.Context, channel string, payload []byte) error {
	b.mu.RLock()
	deliver, ok, closed := b.deliver, b.subs[channel], b.closed
	b.mu.RUnlock()
	if closed {
		return ErrBrokerClosed
	}
	if ok && deliver != nil {
		deliver(channel, payload)
	}
	return nil
}

func (b *MemoryBroker) Subscribe(_ context.Context, channels ...string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range channels {
		b.subs[c] = true
	}
	return nil
}

func (b *MemoryBroker) Unsubscribe(_ context.Context, channels ...string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range channels {
		delete(b.subs, c)
	}
	return nil
}

func (b *MemoryBroker) Ping(context.Context) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrBrokerClosed
	}
	return nil
}

func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}
