package chat

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/store"
)

// startGrace gives an agent whose last session went away the reconnect
// grace period before its conversations go to others.
func (h *Hub) startGrace(agentID string) {
	t := h.clock.AfterFunc(h.cfg.ReconnectGrace, func() { h.agentGone(agentID) })
	h.graceMu.Lock()
	old := h.grace[agentID]
	h.grace[agentID] = t
	h.graceMu.Unlock()
	if old != nil {
		old.Stop()
	}
}

// stopGrace cancels an agent's grace timer: a console came back.
func (h *Hub) stopGrace(agentID string) {
	h.graceMu.Lock()
	t := h.grace[agentID]
	delete(h.grace, agentID)
	h.graceMu.Unlock()
	if t != nil {
		t.Stop()
	}
}

// agentGone takes an agent offline after the grace period and gives its
// conversations to others (or back to the queue).
func (h *Hub) agentGone(agentID string) {
	h.graceMu.Lock()
	delete(h.grace, agentID)
	h.graceMu.Unlock()
	if h.closing.Load() {
		return
	}
	gone, err := h.dir.Expire(context.Background(), agentID, h.clock.Now())
	if err != nil {
		h.log.Warn("agent presence unknown", zap.String("agent_id", agentID), zap.Error(err))
	}
	if !gone {
		return
	}
	h.log.Info("agent offline after the reconnect grace", zap.String("agent_id", agentID))
	h.agentChanged(agentID)
	h.handOver(agentID)
}

// handOver moves every open conversation of an agent to someone else.
func (h *Hub) handOver(agentID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open, err := h.store.OpenConversations(ctx)
	if err != nil {
		h.log.Error("hand-over failed", zap.String("agent_id", agentID), zap.Error(err))
		return
	}
	for _, c := range open {
		if c.State == store.Assigned && c.AgentID == agentID {
			h.reassign(ctx, c.ID, agentID, "", false)
		}
	}
}

// agentChanged tells the agent and the supervisors about an agent's state.
func (h *Hub) agentChanged(agentID string) {
	if v, ok := h.dir.View(context.Background(), agentID); ok {
		h.publishAgent(v)
	}
}

// publishAgent tells the agent and the supervisors about an agent's state.
func (h *Hub) publishAgent(v agentView) {
	agentID := v.ID
	v.Today = h.stats.agentToday(agentID)
	h.publishFrame(TypeAgentUpdated, "", struct {
		Agent agentView `json:"agent"`
	}{v}, agentChannel(agentID), supervisorChannel)
	h.stats.touch()
}

// drainIfWaiting serves the queue every other second while someone waits:
// a safety net under the drains that follow each change (an instance may
// lose a race for the last free place and stop early).
func (h *Hub) drainIfWaiting() {
	if h.drainTick++; h.drainTick%2 != 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	if n, _, err := h.dir.QueueInfo(ctx); err == nil && n > 0 {
		h.drain(ctx)
	}
}
