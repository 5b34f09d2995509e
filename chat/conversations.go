package chat

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// mutation changes a conversation inside the store's transaction: it returns
// the messages to append and the timer effects of what it did. It must be
// pure: the store may run it more than once.
type mutation func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error)

// change runs a mutation under the conversation's stripe lock, publishes the
// new messages and carries out the timer effects, and re-arms the
// conversation's next deadline. A Reassigned effect is returned for the
// caller to act on after the lock is released. stored (when not nil) runs
// once the change is durable and before anything is published: the sender's
// ack goes out ahead of the echo of its own message.
func (h *Hub) change(ctx context.Context, id string, m mutation, stored func(store.Change)) (store.Change, bool, error) {
	mu := h.lock(id)
	mu.Lock()
	defer mu.Unlock()
	now := h.clock.Now()
	var (
		effects []rules.Effect
		events  []store.Event
	)
	place := &lazyPlace{h: h, ctx: ctx, id: id}
	ch, err := h.store.Apply(ctx, id, func(c *store.Conversation) (store.Edit, error) {
		msgs, eff, err := m(c, now)
		if err != nil {
			return store.Edit{}, err
		}
		effects = eff
		e := h.edit(c, msgs, eff, place, now)
		events = e.Events
		return e, nil
	})
	if err == nil && stored != nil {
		stored(ch)
	}
	if err != nil || ch.Duplicate {
		return ch, false, err
	}
	c := ch.Conversation
	h.announce(c, events, ch.Messages)
	reassign := h.carryOut(c, effects, now)
	h.sched.Arm(c.ID, c.Timers.Next())
	return ch, reassign, nil
}

// edit is what a change stores: msgs and the automatic messages effects
// call for, stamped with the time the rules saw (a turn starts at its
// message's created_at, however long the commit queue was), and the rule
// events, stored with the change at no commit of their own.
func (h *Hub) edit(c *store.Conversation, msgs []store.Message, effects []rules.Effect, place *lazyPlace, now time.Time) store.Edit {
	msgs = append(msgs, h.autoMessages(c, effects, place)...)
	for i := range msgs {
		if msgs[i].CreatedAt.IsZero() {
			msgs[i].CreatedAt = store.At(now)
		}
	}
	return store.Edit{Messages: msgs, Events: eventsOf(c, effects, now)}
}

// announce does what follows a stored edit: its rule events counted, its
// messages counted and published.
func (h *Hub) announce(c store.Conversation, events []store.Event, msgs []store.Message) {
	for _, ev := range events {
		h.counted(ev)
	}
	for _, msg := range msgs {
		h.metrics.messages.WithLabelValues(msg.Author.Kind).Inc()
		h.publish(packet{kind: pkMessage, conv: c.ID, seq: msg.Seq, frame: encodeMessageNew(msg)}, h.audience(c)...)
	}
}

// audience is every channel that sees a conversation's messages.
func (h *Hub) audience(c store.Conversation) []string {
	chans := []string{visitorChannel(c.VisitorID), watchChannel(c.ID)}
	if c.AgentID != "" {
		chans = append(chans, agentChannel(c.AgentID))
	}
	return chans
}

// staff is every channel that sees a conversation's timers. (Watchers are
// supervisors: the supervisor channel reaches them.)
func (h *Hub) staff(c store.Conversation) []string {
	chans := []string{supervisorChannel}
	if c.AgentID != "" {
		chans = append(chans, agentChannel(c.AgentID))
	}
	return chans
}

// openParams describe a new conversation.
type openParams struct {
	ID                                    string // chosen by the caller (may be empty: one is made)
	VisitorID, VisitorName, Locale, Topic string
	Context                               json.RawMessage
	First                                 bool // the visitor's first conversation: no last agent to prefer
	// Visitor, when not nil, is a new visitor stored with the conversation
	// (one transaction for a new shopper).
	Visitor *store.Visitor
}

// open starts a conversation: routed at once when an agent has room, queued
// otherwise; the greeting timer starts (and with nobody free, the greeting
// goes out at once).
func (h *Hub) open(ctx context.Context, p openParams) (store.Conversation, error) {
	now := h.clock.Now()
	if p.ID == "" {
		p.ID = store.NewID()
	}
	c := store.Conversation{
		ID: p.ID, VisitorID: p.VisitorID, VisitorName: p.VisitorName,
		State: store.Queued, Locale: p.Locale, Topic: p.Topic, Context: p.Context, OpenedAt: store.At(now),
	}
	req := routing.Request{Locale: p.Locale, Topic: p.Topic}
	if !p.First {
		if prev, err := h.store.VisitorConversations(ctx, p.VisitorID, 1); err == nil && len(prev) > 0 {
			req.Prefer = prev[0].AgentID
		}
	}
	agentID, ok, err := h.dir.Assign(ctx, req)
	if err != nil {
		h.log.Warn("routing unavailable: the conversation waits", zap.Error(err))
	}
	if ok {
		c.State, c.AgentID, c.AssignedAt = store.Assigned, agentID, store.At(now)
	}
	// The greeting timer is stored with the conversation, before anyone
	// hears of it: an agent who answers at once meets it.
	opened := c.Timers.On(h.cfg.Rules, rules.Event{Kind: rules.Opened, At: now, Queued: !ok})
	// With nobody free the greeting goes out at once: stored with the
	// conversation (one commit), telling the place it takes at the back of
	// the queue.
	var first store.Edit
	if breaches(opened) {
		first = h.edit(&c, nil, opened, &lazyPlace{h: h, ctx: ctx, id: c.ID, back: !ok}, now)
	}
	// The conversation's lock is held until its opening effects are out: an
	// agent's first message waits, so timer.started comes before timer.met.
	mu := h.lock(c.ID)
	mu.Lock()
	defer mu.Unlock()
	ch, err := h.store.StartConversation(ctx, p.Visitor, c, first)
	if err != nil {
		if ok {
			h.release(ctx, agentID)
		}
		return c, err
	}
	c = ch.Conversation
	h.sched.Arm(c.ID, c.Timers.Next()) // armed even if what follows fails
	if !ok {
		// A new conversation joins the back of the queue (its commit may
		// have taken longer than a later shopper's, here or elsewhere).
		e := queueEntry(c)
		e.Since, e.Back = h.clock.Now(), true
		if err := h.dir.Enqueue(ctx, e); err != nil {
			h.log.Warn("queue unavailable: re-queued when it returns", zap.String("conversation_id", c.ID), zap.Error(err))
		}
	}
	h.log.Info("conversation opened", zap.String("conversation_id", c.ID), zap.String("agent_id", agentID), zap.String("visitor_id", c.VisitorID))
	view := h.view(c) // the same for the shopper now and the supervisors below
	h.publishFrame(TypeOpened, c.ID, convBody{view}, visitorChannel(c.VisitorID))
	if ok {
		h.announceAssigned(c)
	} else {
		h.tellQueue()
	}
	h.publishFrame(TypeConvUpdated, c.ID, convBody{view}, supervisorChannel)
	h.announce(c, first.Events, ch.Messages)
	h.carryOut(c, opened, now)
	h.stats.opened()
	return c, nil
}

// breaches reports whether effects hold a breach (an automatic message or
// a rule event to store).
func breaches(effects []rules.Effect) bool {
	for _, e := range effects {
		if e.Kind == rules.Breached {
			return true
		}
	}
	return false
}

// announceAssigned tells the shopper, the agent and the supervisors who has
// the conversation now.
func (h *Hub) announceAssigned(c store.Conversation) {
	// One read of the agent serves the frame and its agent.updated.
	v, known := h.dir.View(context.Background(), c.AgentID)
	body := assignedBody{Conversation: h.view(c), Agent: agentRef{ID: c.AgentID, Name: v.Name}}
	frame := encode(TypeAssigned, c.ID, "", body)
	h.publish(packet{kind: pkPlain, conv: c.ID, frame: frame}, visitorChannel(c.VisitorID), supervisorChannel)
	h.publish(packet{kind: pkMark, conv: c.ID, seq: c.LastSeq, frame: frame}, agentChannel(c.AgentID))
	h.timersFor(c, agentChannel(c.AgentID))
	if known {
		h.publishAgent(v) // its load went up
	}
}

func (h *Hub) agentRef(id string) agentRef {
	if v, ok := h.dir.View(context.Background(), id); ok {
		return agentRef{ID: id, Name: v.Name}
	}
	return agentRef{ID: id}
}

// tellQueue sends every waiting shopper whose place changed its new place.
func (h *Hub) tellQueue() {
	ctx := context.Background()
	moved, err := h.dir.Moved(ctx)
	if err != nil {
		h.log.Warn("queue positions not told", zap.Error(err))
	}
	for _, q := range moved {
		frame := encode(TypeQueued, q.ConversationID, "", queuedBody{Position: q.Position, EstimatedWaitS: int(q.Wait.Seconds())})
		h.publish(packet{kind: pkQueued, conv: q.ConversationID, seq: q.Version, frame: frame}, visitorChannel(q.VisitorID))
	}
	if n, _, err := h.dir.QueueInfo(ctx); err == nil {
		h.metrics.queue.Set(float64(n))
	}
	h.stats.touch()
}

// drain assigns waiting conversations to agents with room, oldest first.
func (h *Hub) drain(ctx context.Context) {
	for {
		e, agentID, ok, err := h.dir.Next(ctx)
		if err != nil {
			h.log.Warn("queue unavailable", zap.Error(err))
		}
		if !ok {
			break
		}
		if _, err := h.handTo(ctx, e.ConversationID, agentID, ""); err != nil {
			h.log.Warn("queued conversation not assigned", zap.String("conversation_id", e.ConversationID), zap.String("agent_id", agentID), zap.Error(err))
			h.release(ctx, agentID)
			if stillWaiting(err) {
				// Next took it off the queue: back in its place, and the
				// next drain tries again (now would fail the same way).
				e.Back = false
				if err := h.dir.Enqueue(ctx, e); err != nil {
					h.log.Error("queued conversation lost its place", zap.String("conversation_id", e.ConversationID), zap.Error(err))
				}
				break
			}
		}
	}
	h.tellQueue()
}

// stillWaiting reports whether a conversation that could not be handed to
// an agent waits on: anything but its being closed or gone.
func stillWaiting(err error) bool {
	return asFrameError(err).Code != CodeConflict && !errors.Is(err, store.ErrNotFound)
}

// handTo gives a conversation to an agent whose load already counts it,
// taking it from its previous agent (if any). why is the rule action that
// caused it ("" when it is not a breach).
func (h *Hub) handTo(ctx context.Context, convID, agentID string, why rules.Action) (store.Conversation, error) {
	var from string
	ch, _, err := h.change(ctx, convID, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
		if c.State == store.Closed {
			return nil, nil, errFrame(CodeConflict, "the conversation is closed")
		}
		from = c.AgentID
		c.State, c.AgentID, c.AssignedAt = store.Assigned, agentID, store.At(now)
		return nil, nil, nil
	}, nil)
	if err != nil {
		return store.Conversation{}, err
	}
	c := ch.Conversation
	now := h.clock.Now()
	if err := h.dir.Dequeue(ctx, c.ID); err != nil {
		h.log.Warn("dequeue failed", zap.String("conversation_id", c.ID), zap.Error(err))
	}
	if from != "" && from != agentID {
		h.release(ctx, from)
		h.publishFrame(TypeTransferred, c.ID, transferredBody{Conversation: h.view(c), ToAgent: ptr(h.agentRef(agentID))}, agentChannel(from))
	}
	if why == rules.Reassigned {
		fromRef, toRef := h.agentRef(from), h.agentRef(agentID)
		e := rules.Effect{Kind: rules.Breached, Rule: rules.FirstResponse, Elapsed: now.Sub(c.Timers.TurnStarted), Action: rules.Reassigned}
		if !c.Timers.TurnRunning() {
			e.Elapsed = 0
		}
		h.record(ctx, c, e, "breached", now)
		h.publishFrame(TypeRuleBreached, c.ID, breachBody{Rule: string(e.Rule), ElapsedMs: e.Elapsed.Milliseconds(), Action: string(e.Action), FromAgent: &fromRef, ToAgent: &toRef, At: store.At(now)},
			agentChannel(from), agentChannel(agentID), supervisorChannel)
	}
	h.log.Info("conversation assigned", zap.String("conversation_id", c.ID), zap.String("agent_id", agentID), zap.String("from_agent_id", from))
	h.announceAssigned(c)
	h.publishFrame(TypeConvUpdated, c.ID, convBody{h.view(c)}, agentChannel(agentID))
	return c, nil
}

func ptr[T any](v T) *T { return &v }

// requeue puts a conversation back in the queue, away from its agent; req
// (when not nil) is what the waiting conversation needs, such as a skill.
func (h *Hub) requeue(ctx context.Context, convID string, req *routing.Request) error {
	var from string
	ch, _, err := h.change(ctx, convID, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
		if c.State == store.Closed {
			return nil, nil, errFrame(CodeConflict, "the conversation is closed")
		}
		from = c.AgentID
		c.State, c.AgentID, c.AssignedAt = store.Queued, "", store.Time{}
		return nil, nil, nil
	}, nil)
	if err != nil {
		return err
	}
	c := ch.Conversation
	if from != "" {
		h.release(ctx, from)
		h.publishFrame(TypeTransferred, c.ID, transferredBody{Conversation: h.view(c)}, agentChannel(from))
	}
	e := queueEntry(c)
	if req != nil {
		e.Req = *req
		e.Req.Exclude, e.Req.Prefer = "", ""
	}
	if err := h.dir.Enqueue(ctx, e); err != nil {
		h.log.Warn("queue unavailable: re-queued when it returns", zap.String("conversation_id", c.ID), zap.Error(err))
	}
	h.publishFrame(TypeConvUpdated, c.ID, convBody{h.view(c)}, supervisorChannel)
	h.log.Info("conversation requeued", zap.String("conversation_id", c.ID), zap.String("from_agent_id", from))
	h.tellQueue()
	return nil
}

// reassign offers a conversation to another agent than exclude. With nobody
// free it stays (keep) or goes back to the queue.
func (h *Hub) reassign(ctx context.Context, convID, exclude string, why rules.Action, keep bool) {
	c, err := h.store.Conversation(ctx, convID)
	if err != nil || c.State == store.Closed {
		return
	}
	agentID, ok, err := h.dir.Assign(ctx, routing.Request{Locale: c.Locale, Topic: c.Topic, Exclude: exclude})
	if err != nil {
		h.log.Warn("routing unavailable", zap.String("conversation_id", convID), zap.Error(err))
	}
	if ok {
		if _, err := h.handTo(ctx, convID, agentID, why); err != nil {
			h.release(ctx, agentID)
		}
		return
	}
	if !keep && c.State == store.Assigned {
		if err := h.requeue(ctx, convID, nil); err != nil {
			h.log.Warn("requeue failed", zap.String("conversation_id", convID), zap.Error(err))
		}
	}
}

// closeConversation ends a conversation with an outcome.
func (h *Hub) closeConversation(ctx context.Context, convID, outcome string, allowed func(c *store.Conversation) error) (store.Conversation, error) {
	ch, _, err := h.change(ctx, convID, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
		if err := allowed(c); err != nil {
			return nil, nil, err
		}
		if c.State == store.Closed {
			return nil, nil, errFrame(CodeConflict, "the conversation is already closed")
		}
		c.State, c.Outcome, c.ClosedAt = store.Closed, outcome, store.At(now)
		c.Timers.On(h.cfg.Rules, rules.Event{Kind: rules.Closed, At: now})
		return nil, nil, nil
	}, nil)
	if err != nil {
		return store.Conversation{}, err
	}
	c := ch.Conversation
	now := h.clock.Now()
	if err := h.dir.Dequeue(ctx, c.ID); err != nil {
		h.log.Warn("dequeue failed", zap.String("conversation_id", c.ID), zap.Error(err))
	}
	if c.AgentID != "" {
		h.release(ctx, c.AgentID)
		if !c.AssignedAt.IsZero() {
			_ = h.dir.Handled(ctx, now.Sub(c.AssignedAt.Time))
		}
	}
	h.stats.forget(c.ID)
	h.log.Info("conversation closed", zap.String("conversation_id", c.ID), zap.String("agent_id", c.AgentID), zap.String("outcome", outcome))
	chans := []string{visitorChannel(c.VisitorID), supervisorChannel}
	if c.AgentID != "" {
		chans = append(chans, agentChannel(c.AgentID))
	}
	h.publishFrame(TypeClosed, c.ID, closedBody{Conversation: h.view(c), Outcome: outcome}, chans...)
	h.drain(ctx)
	return c, nil
}
