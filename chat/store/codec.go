package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/daogou/daogou/chat/rules"
)

// Every time the store keeps is UTC, truncated to the millisecond, so both
// backends give back exactly what they were given at that precision.

// ms is t in UTC truncated to the millisecond; zero stays zero.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

// msCeil is t in UTC rounded up to the millisecond: a stored time is at or
// after t exactly when it is at or after msCeil(t).
func msCeil(t time.Time) time.Time {
	r := ms(t)
	if r.Before(t) {
		r = r.Add(time.Millisecond)
	}
	return r
}

// msOrNow is ms(t), or now when t is zero.
func msOrNow(t time.Time) time.Time {
	if t.IsZero() {
		return ms(time.Now())
	}
	return ms(t)
}

func msState(s rules.State) rules.State {
	s.GreetingStarted = ms(s.GreetingStarted)
	s.GreetingDeadline = ms(s.GreetingDeadline)
	s.GreetingAutoAt = ms(s.GreetingAutoAt)
	s.TurnStarted = ms(s.TurnStarted)
	s.TurnDeadline = ms(s.TurnDeadline)
	s.TurnReassignAt = ms(s.TurnReassignAt)
	return s
}

// normalize brings c's times to the stored precision.
func (c *Conversation) normalize() {
	c.OpenedAt = At(ms(c.OpenedAt.Time))
	c.ClosedAt = At(ms(c.ClosedAt.Time))
	c.AssignedAt = At(ms(c.AssignedAt.Time))
	c.Timers = msState(c.Timers)
}

// clone is a copy of c that shares no memory with it.
func (c Conversation) clone() Conversation {
	if c.Context != nil {
		c.Context = append(json.RawMessage(nil), c.Context...)
	}
	return c
}

// checkContext rejects a context that is not JSON, so both backends agree.
func checkContext(ctx json.RawMessage) error {
	if len(ctx) > 0 && !json.Valid(ctx) {
		return fmt.Errorf("store: conversation context is not valid JSON")
	}
	return nil
}

// encodeTimers is s at the stored precision as encoding/json writes it (the
// column holds that JSON), written by hand: a conversation's timers are
// saved with every message (encoding/json was 1.7 % of the relay's CPU).
// A year outside 0–9999, which encoding/json refuses, goes to it for the
// error.
func encodeTimers(s rules.State) (string, error) {
	s = msState(s)
	b := make([]byte, 0, 160)
	b = append(b, '{')
	for _, f := range [...]struct {
		name string
		t    time.Time
	}{
		{"greeting_started", s.GreetingStarted},
		{"greeting_deadline", s.GreetingDeadline},
		{"greeting_auto_at", s.GreetingAutoAt},
		{"turn_started", s.TurnStarted},
		{"turn_deadline", s.TurnDeadline},
		{"turn_reassign_at", s.TurnReassignAt},
	} {
		if f.t.IsZero() {
			continue
		}
		if y := f.t.Year(); y < 0 || y > 9999 {
			return encodeTimersJSON(s)
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":"`...)
		b = f.t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if s.TurnHeld {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"turn_held":true`...)
	}
	b = append(b, '}')
	return string(b), nil
}

// encodeTimersJSON is encodeTimers by encoding/json.
func encodeTimersJSON(s rules.State) (string, error) {
	b, err := json.Marshal(msState(s))
	if err != nil {
		return "", fmt.Errorf("store: encode timers: %w", err)
	}
	return string(b), nil
}

func decodeTimers(b []byte) (rules.State, error) {
	var s rules.State
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("store: decode timers: %w", err)
	}
	return msState(s), nil
}

// updatePlan is what Update saves: the conversation after fn and the
// messages to append, numbered. saveRow is false when the messages change
// nothing of the conversation but its last seq and timers: they carry the
// timers (messages.conv_timers), and its row is not written again.
type updatePlan struct {
	conv    Conversation
	msgs    []Message
	events  []Event
	saveRow bool
}

// carried is what a message stores as its conversation's timers: the
// encoded timers when the row is not saved with it, else NULL.
func (p updatePlan) carried(timers string) any {
	if p.saveRow {
		return nil
	}
	return timers
}

// sameRow reports whether a and b store the same row but for last_seq and
// timers.
func sameRow(a, b Conversation) bool {
	return a.VisitorName == b.VisitorName && a.State == b.State && a.AgentID == b.AgentID &&
		a.Locale == b.Locale && a.Topic == b.Topic && bytes.Equal(a.Context, b.Context) &&
		a.Outcome == b.Outcome && millis(a.ClosedAt.Time) == millis(b.ClosedAt.Time) &&
		millis(a.AssignedAt.Time) == millis(b.AssignedAt.Time)
}

// messagesOnly makes an Update's fn an Apply's.
func messagesOnly(fn func(c *Conversation) ([]Message, error)) func(c *Conversation) (Edit, error) {
	return func(c *Conversation) (Edit, error) {
		msgs, err := fn(c)
		return Edit{Messages: msgs}, err
	}
}

// plan runs fn on a copy of cur (the stored conversation) and fills in what
// the store owns: ids, times, seqs and the conversation's identity. The
// error of fn comes back as is.
func plan(cur Conversation, fn func(c *Conversation) (Edit, error)) (updatePlan, error) {
	next := cur.clone()
	edit, err := fn(&next)
	if err != nil {
		return updatePlan{}, err
	}
	msgs := edit.Messages
	if err := checkContext(next.Context); err != nil {
		return updatePlan{}, err
	}
	next.ID, next.VisitorID, next.OpenedAt = cur.ID, cur.VisitorID, cur.OpenedAt
	next.normalize()
	now := ms(time.Now())
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		if m.ClientMsgID != "" && repeatsClientID(msgs[:i], m) {
			return updatePlan{}, fmt.Errorf("%w: client_msg_id %q twice in one update", ErrConflict, m.ClientMsgID)
		}
		if m.ID == "" {
			m.ID = NewID()
		}
		if m.CreatedAt.IsZero() {
			m.CreatedAt = At(now)
		} else {
			m.CreatedAt = At(ms(m.CreatedAt.Time))
		}
		m.ConversationID = cur.ID
		m.Seq = cur.LastSeq + int64(i) + 1
		out[i] = m
	}
	next.LastSeq = cur.LastSeq + int64(len(out))
	events := make([]Event, len(edit.Events)) // the caller's stay as they were
	for i, e := range edit.Events {
		e.ConversationID = cur.ID
		events[i] = e
	}
	return updatePlan{conv: next, msgs: out, events: events, saveRow: len(out) == 0 || !sameRow(cur, next)}, nil
}

// repeatsClientID says an earlier message of the same edit has m's author
// and client id (an edit holds a message or two: no map for them).
func repeatsClientID(earlier []Message, m Message) bool {
	for _, e := range earlier {
		if e.ClientMsgID == m.ClientMsgID && e.Author.ID == m.Author.ID {
			return true
		}
	}
	return false
}

// planStart plans a new conversation's first edit on it: seqs from 1, an
// empty OpenedAt made now (plan checks the context, copies, normalizes).
func planStart(c Conversation, first Edit) (updatePlan, error) {
	c.OpenedAt = At(msOrNow(c.OpenedAt.Time))
	c.LastSeq = 0
	return plan(c, func(*Conversation) (Edit, error) { return first, nil })
}

// The random bits of ids (here and in package chat) come from a pool that
// reads crypto/rand 256 bytes at a time instead of 16 for every id: a new
// shopper makes four ids. Ids are not secrets (tokens read crypto/rand
// themselves); the pool is enabled before anything can make one.
func init() { uuid.EnableRandPool() }

// NewID is a time-ordered UUID (version 7) for a message, a conversation
// or a visitor: ids made close in time land next to each other in the
// indexes instead of on random pages.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
