// Package rules is the playbook's two timing rules as a pure state machine.
//
// A conversation's timers are data (State), stored with the conversation. The
// hub feeds events in (On) with the time they happened and carries out the
// effects that come back; Next tells it when to wake up and feed a Tick. No
// clock, goroutine or I/O lives here, so tests drive it with plain times.
package rules

import "time"

// Rule names a timing rule, as on the wire.
type Rule string

const (
	// Greeting: a new shopper is greeted within the greeting deadline (15 s).
	Greeting Rule = "greeting"
	// FirstResponse: each shopper turn is answered within the golden 3 seconds.
	FirstResponse Rule = "first_response"
)

// Action is what the server did about a breach, as on the wire.
type Action string

const (
	AutoGreeting Action = "auto_greeting"
	HoldingReply Action = "holding_reply"
	Reassigned   Action = "reassigned"
)

// Config holds the deadlines. The zero value is not useful; start from Defaults.
type Config struct {
	GreetingDeadline      time.Duration // greet a new shopper within this
	AutoGreetMargin       time.Duration // the server greets this long before the deadline
	FirstResponseDeadline time.Duration // answer each shopper turn within this
	ReassignDeadline      time.Duration // from the start of a turn, then offer to another agent
}

// Defaults are the playbook's numbers.
func Defaults() Config {
	return Config{
		GreetingDeadline:      15 * time.Second,
		AutoGreetMargin:       3 * time.Second,
		FirstResponseDeadline: 3 * time.Second,
		ReassignDeadline:      45 * time.Second,
	}
}

// AutoGreetAfter is how long after opening the server greets on its own: the
// deadline less the margin, the margin being at most a fifth of the deadline.
func (c Config) AutoGreetAfter() time.Duration {
	margin := min(c.AutoGreetMargin, c.GreetingDeadline/5)
	return c.GreetingDeadline - max(margin, 0)
}

// State is one conversation's timers. A zero time means "not running".
type State struct {
	GreetingStarted  time.Time `json:"greeting_started,omitzero"`
	GreetingDeadline time.Time `json:"greeting_deadline,omitzero"`
	GreetingAutoAt   time.Time `json:"greeting_auto_at,omitzero"`

	TurnStarted    time.Time `json:"turn_started,omitzero"`
	TurnDeadline   time.Time `json:"turn_deadline,omitzero"`
	TurnReassignAt time.Time `json:"turn_reassign_at,omitzero"`
	TurnHeld       bool      `json:"turn_held,omitempty"` // the holding reply of this turn went out
}

// GreetingRunning reports whether the greeting timer is running.
func (s State) GreetingRunning() bool { return !s.GreetingStarted.IsZero() }

// TurnRunning reports whether a shopper turn waits for an answer.
func (s State) TurnRunning() bool { return !s.TurnStarted.IsZero() }

// Kind is the kind of an Event.
type Kind int

const (
	// Opened: the conversation opened. Queued says no agent took it at once,
	// and then the greeting goes out immediately.
	Opened Kind = iota + 1
	// ShopperMessage: the shopper wrote.
	ShopperMessage
	// AgentMessage: a person on the agent side wrote (a script counts, a
	// server message does not).
	AgentMessage
	// Tick: time passed; deadlines at or before At are due.
	Tick
	// Closed: the conversation closed; every timer stops.
	Closed
)

// Event is something that happened to the conversation at At.
type Event struct {
	Kind   Kind
	At     time.Time
	Queued bool // with Opened
}

// EffectKind is the kind of an Effect.
type EffectKind int

const (
	Started  EffectKind = iota + 1 // a timer started: tell the agent and supervisors
	Met                            // a person answered: the timer stopped
	Breached                       // a deadline passed: Action says what to do
)

// Effect is what the hub must carry out after an event.
type Effect struct {
	Kind     EffectKind
	Rule     Rule
	Deadline time.Time     // Started
	Elapsed  time.Duration // Met and Breached: since the timer started
	Action   Action        // Breached
}

// On applies ev to s and returns what must be done, in order.
func (s *State) On(c Config, ev Event) []Effect {
	switch ev.Kind {
	case Opened:
		return s.open(c, ev)
	case ShopperMessage:
		if s.TurnRunning() {
			return nil
		}
		s.TurnStarted = ev.At
		s.TurnDeadline = ev.At.Add(c.FirstResponseDeadline)
		s.TurnReassignAt = ev.At.Add(c.ReassignDeadline)
		s.TurnHeld = false
		return []Effect{{Kind: Started, Rule: FirstResponse, Deadline: s.TurnDeadline}}
	case AgentMessage:
		var out []Effect
		if s.GreetingRunning() {
			out = append(out, Effect{Kind: Met, Rule: Greeting, Elapsed: ev.At.Sub(s.GreetingStarted)})
			s.stopGreeting()
		}
		if s.TurnRunning() {
			out = append(out, Effect{Kind: Met, Rule: FirstResponse, Elapsed: ev.At.Sub(s.TurnStarted)})
			s.stopTurn()
		}
		return out
	case Tick:
		return s.tick(c, ev.At)
	case Closed:
		*s = State{}
	}
	return nil
}

func (s *State) open(c Config, ev Event) []Effect {
	if s.GreetingRunning() || !s.GreetingDeadline.IsZero() {
		return nil // a resume or a repeat never restarts the greeting
	}
	s.GreetingStarted = ev.At
	s.GreetingDeadline = ev.At.Add(c.GreetingDeadline)
	s.GreetingAutoAt = ev.At.Add(c.AutoGreetAfter())
	out := []Effect{{Kind: Started, Rule: Greeting, Deadline: s.GreetingDeadline}}
	if ev.Queued {
		out = append(out, Effect{Kind: Breached, Rule: Greeting, Action: AutoGreeting})
		s.stopGreeting()
	}
	return out
}

func (s *State) tick(c Config, now time.Time) []Effect {
	var out []Effect
	holdingDue := s.TurnRunning() && !s.TurnHeld && !now.Before(s.TurnDeadline)
	// The contract's timings hold to the letter: the greeting goes out at
	// the auto-greet point even when a holding reply went out before it.
	if s.GreetingRunning() && !now.Before(s.GreetingAutoAt) {
		out = append(out, Effect{Kind: Breached, Rule: Greeting, Elapsed: now.Sub(s.GreetingStarted), Action: AutoGreeting})
		s.stopGreeting()
	}
	if holdingDue {
		out = append(out, Effect{Kind: Breached, Rule: FirstResponse, Elapsed: now.Sub(s.TurnStarted), Action: HoldingReply})
		s.TurnHeld = true
	}
	if s.TurnRunning() && !now.Before(s.TurnReassignAt) {
		out = append(out, Effect{Kind: Breached, Rule: FirstResponse, Elapsed: now.Sub(s.TurnStarted), Action: Reassigned})
		// The turn stays open for whoever takes it; check again one period on.
		s.TurnReassignAt = now.Add(c.ReassignDeadline)
	}
	return out
}

// stopGreeting ends the greeting rule; the deadline stays as a record that
// the conversation was opened, so a repeated Opened does nothing.
func (s *State) stopGreeting() {
	s.GreetingStarted = time.Time{}
	s.GreetingAutoAt = time.Time{}
}

func (s *State) stopTurn() {
	s.TurnStarted, s.TurnDeadline, s.TurnReassignAt, s.TurnHeld = time.Time{}, time.Time{}, time.Time{}, false
}

// Next is the earliest moment a Tick has something to do; zero when nothing
// is pending.
func (s State) Next() time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if s.GreetingRunning() {
		earliest(s.GreetingAutoAt)
	}
	if s.TurnRunning() {
		if !s.TurnHeld {
			earliest(s.TurnDeadline)
		}
		earliest(s.TurnReassignAt)
	}
	return next
}
