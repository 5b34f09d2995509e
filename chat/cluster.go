package chat

import (
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/store"
)

// control is a note from one instance to the others.
type control struct {
	Instance string        `json:"instance"`
	Event    *controlEvent `json:"event,omitempty"`
	Shoppers *int          `json:"shoppers,omitempty"`
	// Resync names conversations whose frames the sender could not
	// publish: sessions that follow them catch up from the store.
	Resync []string `json:"resync,omitempty"`
}

// missed notes a conversation whose frame the broker did not take.
func (h *Hub) missed(convID string) {
	if convID == "" {
		return
	}
	h.missMu.Lock()
	h.misses[convID] = true
	h.missMu.Unlock()
}

// resync has every local session that follows one of convs catch up.
func (h *Hub) resync(convs []string) {
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	for s := range h.sessions {
		for _, c := range convs {
			s.queue(item{sync: true, p: packet{conv: c, seq: -1}})
		}
	}
}

type controlEvent struct {
	store.Event
	ElapsedMs int64 `json:"elapsed_ms"`
	AtMs      int64 `json:"at_ms"`
}

// shareEvent tells the other instances of a rule event, for their figures.
func (h *Hub) shareEvent(e store.Event) {
	h.sendControl(control{Event: &controlEvent{Event: e, ElapsedMs: e.Elapsed.Milliseconds(), AtMs: e.At.UnixMilli()}})
}

// shareSessions tells the other instances how many shoppers are here.
func (h *Hub) shareSessions(n int) { h.sendControl(control{Shoppers: &n}) }

func (h *Hub) sendControl(c control) {
	if h.single {
		return // no other instance to tell
	}
	c.Instance = h.cfg.Instance
	b, err := json.Marshal(c)
	if err != nil {
		return
	}
	if err := h.broker.Publish(context.Background(), controlChannel, b); err != nil {
		h.log.Debug("control note not sent", zap.Error(err))
	}
}

func (h *Hub) onControl(payload []byte) {
	var c control
	if json.Unmarshal(payload, &c) != nil || c.Instance == h.cfg.Instance {
		return
	}
	if c.Event != nil {
		e := c.Event.Event
		e.Elapsed = time.Duration(c.Event.ElapsedMs) * time.Millisecond
		e.At = time.UnixMilli(c.Event.AtMs).UTC()
		h.stats.record(e, h.cfg.Rules)
	}
	if len(c.Resync) > 0 {
		h.resync(c.Resync)
	}
	if c.Shoppers != nil {
		h.stats.peerShoppers(c.Instance, *c.Shoppers, h.clock.Now())
	}
}

// peerGone takes over after an instance died: its agents get the reconnect
// grace from now, and every open conversation's deadline is armed here too
// (a deadline armed twice still acts once: the store decides).
func (h *Hub) peerGone(orphans []string) {
	for _, id := range orphans {
		h.startGrace(id)
	}
	h.rearm()
}

// rearm arms every open conversation's next deadline from the store.
func (h *Hub) rearm() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open, err := h.store.OpenConversations(ctx)
	if err != nil {
		h.log.Error("deadlines not re-armed", zap.Error(err))
		return
	}
	for _, c := range open {
		h.sched.Arm(c.ID, c.Timers.Next())
	}
	h.log.Info("deadlines re-armed from the store", zap.Int("conversations", len(open)))
}

// directoryBack restores the shared state from the store after an outage
// (Redis may have come back empty) and serves the queue again.
func (h *Hub) directoryBack() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agents, err := h.store.Agents(ctx)
	if err != nil {
		h.log.Error("directory not rebuilt", zap.Error(err))
		return
	}
	open, err := h.store.OpenConversations(ctx)
	if err != nil {
		h.log.Error("directory not rebuilt", zap.Error(err))
		return
	}
	if err := h.rebuild(ctx, agents, open); err != nil {
		h.log.Error("directory not rebuilt", zap.Error(err))
		return
	}
	h.rearm()
	h.drain(ctx)
}
