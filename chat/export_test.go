package chat

import (
	"context"
	"time"
)

// Hooks for the tests of package chat_test.

// PingRound runs one round of the pinger as if the time were now.
func (h *Hub) PingRound(now time.Time) { h.pingRound(now) }

// Parked counts the sessions parked without a reader.
func (h *Hub) Parked() int {
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	n := 0
	for s := range h.sessions {
		if s.rstate.Load() == parked {
			n++
		}
	}
	return n
}

// Heartbeat renews the directory's lease once, now.
func (d *RedisDirectory) Heartbeat(ctx context.Context) error { return d.heartbeat(ctx) }
