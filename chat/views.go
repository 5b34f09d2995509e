package chat

import (
	"context"
	"encoding/json"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

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
