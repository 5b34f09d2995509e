package chat

import (
	"context"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

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
	back     bool // not queued yet: the place at the back of the queue
	done     bool
	place    queuePlace
	anyAgent bool
}

func (l *lazyPlace) get() queuePlace {
	if !l.done {
		l.done = true
		if l.back {
			p, err := l.h.dir.Back(l.ctx)
			if err != nil {
				l.h.log.Warn("queue place unknown", zap.String("conversation_id", l.id), zap.Error(err))
			}
			l.place = p
		} else {
			l.place = l.h.place(l.ctx, l.id)
		}
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

// eventsOf lists the rule results among effects as events to store with
// the change (a reassignment is recorded when it happens).
func eventsOf(c *store.Conversation, effects []rules.Effect, now time.Time) []store.Event {
	var evs []store.Event
	for _, e := range effects {
		switch {
		case e.Kind == rules.Met:
			evs = append(evs, ruleEvent(c, e, "met", now))
		case e.Kind == rules.Breached && e.Action != rules.Reassigned:
			evs = append(evs, ruleEvent(c, e, "breached", now))
		}
	}
	return evs
}

// ruleEvent is the stored record of a timer's result.
func ruleEvent(c *store.Conversation, e rules.Effect, kind string, now time.Time) store.Event {
	return store.Event{ConversationID: c.ID, AgentID: c.AgentID, Rule: string(e.Rule), Kind: kind, Action: string(e.Action), Elapsed: e.Elapsed, At: now}
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

// eventBatch is the most rule events stored in one request. One: builds
// batching 16 or 256 measured far worse on the relay (p50 178–713 ms
// against 1–14 ms at 1,000 messages/s on SQLite) though the relay's events
// arrive one at a time; until that is understood, events go one by one
// (docs/benchmarks.md).
const eventBatch = 1

// eventWriter stores rule events, up to eventBatch in one transaction; at
// shutdown it stores what is queued.
func (h *Hub) eventWriter() {
	batch := make([]store.Event, 0, eventBatch)
	for {
		select {
		case ev := <-h.events:
			batch = h.gatherEvents(append(batch[:0], ev))
			h.storeEvents(context.Background(), batch)
		case <-h.quit:
			for {
				batch = h.gatherEvents(batch[:0])
				if len(batch) == 0 {
					return
				}
				h.storeEvents(context.Background(), batch)
			}
		}
	}
}

// gatherEvents appends the events already waiting, up to a batch.
func (h *Hub) gatherEvents(batch []store.Event) []store.Event {
	for len(batch) < eventBatch {
		select {
		case ev := <-h.events:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// storeEvents stores a batch; when the batch fails, each event is tried on
// its own, so one bad event does not lose the others.
func (h *Hub) storeEvents(ctx context.Context, evs []store.Event) {
	ctx, cancel := context.WithTimeout(ctx, frameTimeout)
	defer cancel()
	err := h.store.AddEvents(ctx, evs...)
	if err == nil {
		return
	}
	if len(evs) > 1 {
		for _, ev := range evs {
			h.storeEvents(context.Background(), []store.Event{ev})
		}
		return
	}
	h.log.Error("rule event not stored", zap.String("conversation_id", evs[0].ConversationID), zap.String("agent_id", evs[0].AgentID), zap.Error(err))
}

// record stores a rule event made outside a change (a reassignment) by an
// event writer, and counts it.
func (h *Hub) record(ctx context.Context, c store.Conversation, e rules.Effect, kind string, now time.Time) {
	ev := ruleEvent(&c, e, kind, now)
	select {
	case h.events <- ev: // stored by an event writer, off the conversation's path
	default:
		h.storeEvents(ctx, []store.Event{ev}) // a backlog: store it here, and slow down
	}
	h.counted(ev)
}

// counted does what follows a stored rule event: the metric, today's
// figures, the note to other instances, and a log line for a breach.
func (h *Hub) counted(ev store.Event) {
	h.metrics.rules.WithLabelValues(ev.Rule, ev.Kind, ev.Action).Inc()
	h.stats.record(ev, h.cfg.Rules)
	h.shareEvent(ev)
	if ev.Kind == "breached" {
		h.log.Info("rule breached", zap.String("conversation_id", ev.ConversationID), zap.String("agent_id", ev.AgentID),
			zap.String("rule", ev.Rule), zap.String("action", ev.Action), zap.Duration("elapsed", ev.Elapsed))
	}
}

// onDue hands a conversation whose deadline passed to a worker.
func (h *Hub) onDue(convID string) {
	select {
	case h.due <- convID:
	case <-h.quit:
	}
}

// dueLoop carries out due deadlines, up to cfg.Workers at once, on the
// hub's workers. Many in flight at once is what lets the store commit them
// together: a tick waits for one durable commit, and a burst of deadlines
// (thousands of shoppers who wrote in the same few seconds) would otherwise
// queue behind a few commits.
func (h *Hub) dueLoop() {
	sem := make(chan struct{}, h.cfg.Workers)
	for {
		select {
		case id := <-h.due:
			select {
			case sem <- struct{}{}:
			case <-h.quit:
				return
			}
			h.pool.run(func() {
				defer func() { <-sem }()
				h.tick(id)
			})
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
