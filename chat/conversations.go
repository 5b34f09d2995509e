package chat

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
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
	var effects []rules.Effect
	place := &lazyPlace{h: h, ctx: ctx, id: id}
	ch, err := h.store.Update(ctx, id, func(c *store.Conversation) ([]store.Message, error) {
		msgs, eff, err := m(c, now)
		if err != nil {
			return nil, err
		}
		effects = eff
		return append(msgs, h.autoMessages(c, eff, place)...), nil
	})
	if err == nil && stored != nil {
		stored(ch)
	}
	if err != nil || ch.Duplicate {
		return ch, false, err
	}
	c := ch.Conversation
	h.recordAll(ctx, c, effects, now)
	for _, msg := range ch.Messages {
		h.metrics.messages.WithLabelValues(msg.Author.Kind).Inc()
		h.publish(packet{kind: pkMessage, conv: c.ID, seq: msg.Seq, frame: encodeMessageNew(msg)}, h.audience(c)...)
	}
	reassign := h.carryOut(c, effects, now)
	h.sched.Arm(c.ID, c.Timers.Next())
	return ch, reassign, nil
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

// autoMessages are the messages the server writes itself for breaches: the
// brand's greeting and the holding reply. It may run in a mutation: the one
// lookup it needs (the queue place) is made at most once, and only when an
// automatic message is due.
func (h *Hub) autoMessages(c *store.Conversation, effects []rules.Effect, place *lazyPlace) []store.Message {
	var out []store.Message
	for _, e := range effects {
		if e.Kind != rules.Breached {
			continue
		}
		var category, kind string
		switch {
		case e.Action == rules.AutoGreeting && c.State == store.Queued && place.online():
			category, kind = "greeting", "queued"
		case e.Action == rules.AutoGreeting && c.State == store.Queued:
			category, kind = "greeting", "offline"
		case e.Action == rules.AutoGreeting:
			category, kind = "greeting", "welcome"
		case e.Action == rules.HoldingReply && c.State == store.Queued:
			category, kind = "holding", "queued"
		case e.Action == rules.HoldingReply:
			category, kind = "holding", "busy"
		default:
			continue
		}
		sc, ok := h.scripts.Pick(c.Locale, category, kind, int(c.LastSeq))
		if !ok {
			h.log.Error("no script for an automatic message", zap.String("category", category), zap.String("kind", kind))
			continue
		}
		var where queuePlace
		if c.State == store.Queued {
			where = place.get() // only a waiting shopper is told a place
		}
		text, err := h.scripts.Render(sc.ID, h.scriptVars(*c, "", nil, where))
		if err != nil {
			h.log.Error("automatic script failed", zap.String("script_id", sc.ID), zap.Error(err))
			continue
		}
		out = append(out, store.Message{
			Author: store.Author{Kind: store.AuthorSystem, ID: "daogou", Name: h.cfg.ShopName},
			Kind:   "system", Text: text, Auto: true, ScriptID: sc.ID,
		})
	}
	return out
}

// lazyPlace looks a conversation's queue place up once, when first asked.
type lazyPlace struct {
	h        *Hub
	ctx      context.Context
	id       string
	done     bool
	place    queuePlace
	anyAgent bool
}

func (l *lazyPlace) get() queuePlace {
	if !l.done {
		l.done = true
		l.place = l.h.place(l.ctx, l.id)
		views, _ := l.h.dir.Views(l.ctx)
		for _, v := range views {
			l.anyAgent = l.anyAgent || (v.Status == routing.Online && v.Sessions > 0 && v.Role == AccountAgent)
		}
	}
	return l.place
}

// online reports whether any agent is online to take shoppers.
func (l *lazyPlace) online() bool {
	l.get()
	return l.anyAgent
}

// place is a conversation's queue place (zero when not queued or unknown).
func (h *Hub) place(ctx context.Context, convID string) queuePlace {
	p, err := h.dir.Place(ctx, convID)
	if err != nil {
		h.log.Warn("queue place unknown", zap.String("conversation_id", convID), zap.Error(err))
	}
	return p
}

// release uncounts a conversation from an agent, logging a failure.
func (h *Hub) release(ctx context.Context, agentID string) {
	if err := h.dir.Release(ctx, agentID, h.clock.Now()); err != nil {
		h.log.Error("load not released", zap.String("agent_id", agentID), zap.Error(err))
	}
	h.agentChanged(agentID)
}

// scriptVars are the values a script's placeholders take in a conversation;
// an agent's own vars override them.
func (h *Hub) scriptVars(c store.Conversation, agentName string, own map[string]string, place queuePlace) map[string]string {
	wait := h.cfg.PromisedWait
	if place.Position > 0 {
		wait = place.Wait
	}
	vars := map[string]string{
		"shopper_name":   c.VisitorName,
		"agent_name":     agentName,
		"shop_name":      h.cfg.ShopName,
		"wait_minutes":   strconv.Itoa(max(1, int((wait+time.Minute-1)/time.Minute))),
		"queue_position": strconv.Itoa(max(place.Position, 1)),
	}
	if vars["shopper_name"] == "" {
		vars["shopper_name"] = defaultShopperName(c.Locale)
	}
	if agentName == "" {
		vars["agent_name"] = h.cfg.ShopName
	}
	for k, v := range own {
		vars[k] = v
	}
	return vars
}

func defaultShopperName(locale string) string {
	if locale == "en" {
		return "there"
	}
	return "亲"
}

// recordAll stores and counts the rule results among effects (a
// reassignment is recorded when it happens).
func (h *Hub) recordAll(ctx context.Context, c store.Conversation, effects []rules.Effect, now time.Time) {
	for _, e := range effects {
		switch {
		case e.Kind == rules.Met:
			h.record(ctx, c, e, "met", now)
		case e.Kind == rules.Breached && e.Action != rules.Reassigned:
			h.record(ctx, c, e, "breached", now)
		}
	}
}

// carryOut pushes timer effects to the agent and the supervisors. It
// reports whether the conversation is due for reassignment.
func (h *Hub) carryOut(c store.Conversation, effects []rules.Effect, now time.Time) (reassign bool) {
	for _, e := range effects {
		switch e.Kind {
		case rules.Started:
			h.publishFrame(TypeTimerStarted, c.ID, timerStartedBody{Rule: string(e.Rule), Deadline: store.At(e.Deadline)}, h.staff(c)...)
		case rules.Met:
			h.publishFrame(TypeTimerMet, c.ID, timerMetBody{Rule: string(e.Rule), ElapsedMs: e.Elapsed.Milliseconds()}, h.staff(c)...)
		case rules.Breached:
			if e.Action == rules.Reassigned {
				reassign = true
				continue
			}
			h.publishFrame(TypeRuleBreached, c.ID, breachBody{Rule: string(e.Rule), ElapsedMs: e.Elapsed.Milliseconds(), Action: string(e.Action), At: store.At(now)}, h.staff(c)...)
		}
	}
	return reassign
}

// eventWriter stores rule events; at shutdown it stores what is queued.
func (h *Hub) eventWriter() {
	for {
		select {
		case ev := <-h.events:
			h.storeEvent(context.Background(), ev)
		case <-h.quit:
			for {
				select {
				case ev := <-h.events:
					h.storeEvent(context.Background(), ev)
				default:
					return
				}
			}
		}
	}
}

func (h *Hub) storeEvent(ctx context.Context, ev store.Event) {
	ctx, cancel := context.WithTimeout(ctx, frameTimeout)
	defer cancel()
	if err := h.store.AddEvent(ctx, ev); err != nil {
		h.log.Error("rule event not stored", zap.String("conversation_id", ev.ConversationID), zap.String("agent_id", ev.AgentID), zap.Error(err))
	}
}

// record stores a rule event and counts it.
func (h *Hub) record(ctx context.Context, c store.Conversation, e rules.Effect, kind string, now time.Time) {
	ev := store.Event{ConversationID: c.ID, AgentID: c.AgentID, Rule: string(e.Rule), Kind: kind, Action: string(e.Action), Elapsed: e.Elapsed, At: now}
	select {
	case h.events <- ev: // stored by an event writer, off the conversation's path
	default:
		h.storeEvent(ctx, ev) // a backlog: store it here, and slow down
	}
	h.metrics.rules.WithLabelValues(string(e.Rule), kind, string(e.Action)).Inc()
	h.stats.record(ev, h.cfg.Rules)
	h.shareEvent(ev)
	if kind == "breached" {
		h.log.Info("rule breached", zap.String("conversation_id", c.ID), zap.String("agent_id", c.AgentID),
			zap.String("rule", ev.Rule), zap.String("action", ev.Action), zap.Duration("elapsed", e.Elapsed))
	}
}

type (
	timerStartedBody struct {
		Rule     string     `json:"rule"`
		Deadline store.Time `json:"deadline"`
	}
	timerMetBody struct {
		Rule      string `json:"rule"`
		ElapsedMs int64  `json:"elapsed_ms"`
	}
	breachBody struct {
		Rule      string     `json:"rule"`
		ElapsedMs int64      `json:"elapsed_ms"`
		Action    string     `json:"action"`
		FromAgent *agentRef  `json:"from_agent,omitempty"`
		ToAgent   *agentRef  `json:"to_agent,omitempty"`
		At        store.Time `json:"at"`
	}
	agentRef struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	convBody struct {
		Conversation convView `json:"conversation"`
	}
	assignedBody struct {
		Conversation convView `json:"conversation"`
		Agent        agentRef `json:"agent"`
	}
	transferredBody struct {
		Conversation convView  `json:"conversation"`
		ToAgent      *agentRef `json:"to_agent"`
	}
	closedBody struct {
		Conversation convView `json:"conversation"`
		Outcome      string   `json:"outcome"`
	}
	queuedBody struct {
		Position       int `json:"position"`
		EstimatedWaitS int `json:"estimated_wait_s"`
	}
)

// convView is a conversation as the wire shows it, with its running timers.
type convView struct {
	store.Conversation
	Timers        []timerView `json:"timers"`
	WaitingSince  store.Time  `json:"waiting_since"`
	QueuePosition int         `json:"queue_position"`
	Breaches      int         `json:"breaches"`
}

type timerView struct {
	Rule     string     `json:"rule"`
	Started  store.Time `json:"started"`
	Deadline store.Time `json:"deadline"`
	Held     bool       `json:"held"`
}

func (h *Hub) view(c store.Conversation) convView {
	v := convView{Conversation: c, Timers: []timerView{}, Breaches: h.stats.breachesOf(c.ID)}
	if v.Context == nil {
		v.Context = json.RawMessage("null")
	}
	t := c.Timers
	if t.GreetingRunning() {
		v.Timers = append(v.Timers, timerView{Rule: string(rules.Greeting), Started: store.At(t.GreetingStarted), Deadline: store.At(t.GreetingDeadline)})
	}
	if t.TurnRunning() {
		v.Timers = append(v.Timers, timerView{Rule: string(rules.FirstResponse), Started: store.At(t.TurnStarted), Deadline: store.At(t.TurnDeadline), Held: t.TurnHeld})
		v.WaitingSince = store.At(t.TurnStarted)
	}
	if c.State == store.Queued {
		v.QueuePosition = h.place(context.Background(), c.ID).Position
	}
	return v
}

// timersFor sends an agent the timers running on a conversation it now has.
func (h *Hub) timersFor(c store.Conversation, channel string) {
	t := c.Timers
	if t.GreetingRunning() {
		h.publishFrame(TypeTimerStarted, c.ID, timerStartedBody{Rule: string(rules.Greeting), Deadline: store.At(t.GreetingDeadline)}, channel)
	}
	if t.TurnRunning() {
		h.publishFrame(TypeTimerStarted, c.ID, timerStartedBody{Rule: string(rules.FirstResponse), Deadline: store.At(t.TurnDeadline)}, channel)
	}
}

func queueEntry(c store.Conversation) routing.Entry {
	return routing.Entry{ConversationID: c.ID, Since: c.OpenedAt.Time, Req: routing.Request{Locale: c.Locale, Topic: c.Topic}, VisitorID: c.VisitorID}
}

// openParams describe a new conversation.
type openParams struct {
	ID                                    string // chosen by the caller (may be empty: one is made)
	VisitorID, VisitorName, Locale, Topic string
	Context                               json.RawMessage
	First                                 bool // the visitor's first conversation: no last agent to prefer
}

// open starts a conversation: routed at once when an agent has room, queued
// otherwise; the greeting timer starts (and with nobody free, the greeting
// goes out at once).
func (h *Hub) open(ctx context.Context, p openParams) (store.Conversation, error) {
	now := h.clock.Now()
	if p.ID == "" {
		p.ID = uuid.NewString()
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
	if err := h.store.CreateConversation(ctx, c); err != nil {
		if ok {
			h.release(ctx, agentID)
		}
		return c, err
	}
	h.sched.Arm(c.ID, c.Timers.Next()) // armed even if what follows fails
	if !ok {
		if err := h.dir.Enqueue(ctx, queueEntry(c)); err != nil {
			h.log.Warn("queue unavailable: re-queued when it returns", zap.String("conversation_id", c.ID), zap.Error(err))
		}
	}
	h.log.Info("conversation opened", zap.String("conversation_id", c.ID), zap.String("agent_id", agentID), zap.String("visitor_id", c.VisitorID))
	h.publishFrame(TypeOpened, c.ID, convBody{h.view(c)}, visitorChannel(c.VisitorID))
	if ok {
		h.announceAssigned(c)
	} else {
		h.tellQueue()
	}
	h.publishFrame(TypeConvUpdated, c.ID, convBody{h.view(c)}, supervisorChannel)
	// Now carry out what opening started: the timer frames and, with
	// nobody free, the greeting at once.
	ch, _, err := h.change(ctx, c.ID, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
		if len(opened) == 1 && !c.Timers.GreetingRunning() {
			return nil, nil, nil // an agent greeted already: the timer is over
		}
		return nil, opened, nil
	}, nil)
	if err != nil {
		return c, err
	}
	h.stats.opened()
	return ch.Conversation, nil
}

// announceAssigned tells the shopper, the agent and the supervisors who has
// the conversation now.
func (h *Hub) announceAssigned(c store.Conversation) {
	ref := h.agentRef(c.AgentID)
	body := assignedBody{Conversation: h.view(c), Agent: ref}
	frame := encode(TypeAssigned, c.ID, "", body)
	h.publish(packet{kind: pkPlain, conv: c.ID, frame: frame}, visitorChannel(c.VisitorID), supervisorChannel)
	h.publish(packet{kind: pkMark, conv: c.ID, seq: c.LastSeq, frame: frame}, agentChannel(c.AgentID))
	h.timersFor(c, agentChannel(c.AgentID))
	h.agentChanged(c.AgentID) // its load went up
}

func (h *Hub) agentRef(id string) agentRef {
	if v, ok := viewOf(context.Background(), h.dir, id); ok {
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
		}
	}
	h.tellQueue()
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

// onDue hands a conversation whose deadline passed to a worker.
func (h *Hub) onDue(convID string) {
	select {
	case h.due <- convID:
	case <-h.quit:
	}
}

func (h *Hub) dueWorker() {
	for {
		select {
		case id := <-h.due:
			h.tick(id)
		case <-h.quit:
			return
		}
	}
}

// tick feeds the time to a conversation whose deadline passed.
func (h *Hub) tick(convID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, reassign, err := h.change(ctx, convID, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
		if c.State == store.Closed {
			return nil, nil, nil
		}
		return nil, c.Timers.On(h.cfg.Rules, rules.Event{Kind: rules.Tick, At: now}), nil
	}, nil)
	if err != nil {
		h.log.Error("deadline not handled", zap.String("conversation_id", convID), zap.Error(err))
		return
	}
	if reassign && ch.Conversation.State == store.Assigned {
		h.reassign(ctx, convID, ch.Conversation.AgentID, rules.Reassigned, true)
	}
}

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
	v, ok := viewOf(context.Background(), h.dir, agentID)
	if !ok {
		return
	}
	v.Today = h.stats.agentToday(agentID)
	h.publishFrame(TypeAgentUpdated, "", struct {
		Agent agentView `json:"agent"`
	}{v}, agentChannel(agentID), supervisorChannel)
	h.stats.touch()
}
