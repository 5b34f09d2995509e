package rules

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

var base = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// at is the moment d after base.
func at(d time.Duration) time.Time { return base.Add(d) }

const (
	ms  = time.Millisecond
	sec = time.Second
)

func opened(d time.Duration) Event  { return Event{Kind: Opened, At: at(d)} }
func queued(d time.Duration) Event  { return Event{Kind: Opened, At: at(d), Queued: true} }
func shopper(d time.Duration) Event { return Event{Kind: ShopperMessage, At: at(d)} }
func agent(d time.Duration) Event   { return Event{Kind: AgentMessage, At: at(d)} }
func tick(d time.Duration) Event    { return Event{Kind: Tick, At: at(d)} }
func closed(d time.Duration) Event  { return Event{Kind: Closed, At: at(d)} }

func started(r Rule, deadline time.Duration) Effect {
	return Effect{Kind: Started, Rule: r, Deadline: at(deadline)}
}

func met(r Rule, elapsed time.Duration) Effect {
	return Effect{Kind: Met, Rule: r, Elapsed: elapsed}
}

func breached(r Rule, elapsed time.Duration, a Action) Effect {
	return Effect{Kind: Breached, Rule: r, Elapsed: elapsed, Action: a}
}

// never marks a step after which Next must be zero.
const never = time.Duration(-1)

// step is one event and what must come of it: the effects, in order, and
// Next afterwards as an offset from base (never: nothing pending).
type step struct {
	ev   Event
	want []Effect
	next time.Duration
}

func sameEffects(got, want []Effect) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.Rule != w.Rule || !g.Deadline.Equal(w.Deadline) ||
			g.Elapsed != w.Elapsed || g.Action != w.Action {
			return false
		}
	}
	return true
}

func checkNext(t *testing.T, label string, st State, want time.Duration) {
	t.Helper()
	got := st.Next()
	switch {
	case want == never && !got.IsZero():
		t.Errorf("%s: Next = %v, want nothing pending", label, got.Sub(base))
	case want != never && !got.Equal(at(want)):
		if got.IsZero() {
			t.Errorf("%s: Next = nothing pending, want %v", label, want)
		} else {
			t.Errorf("%s: Next = %v, want %v", label, got.Sub(base), want)
		}
	}
}

func run(t *testing.T, c Config, st *State, steps []step) {
	t.Helper()
	for i, sp := range steps {
		label := fmt.Sprintf("step %d (kind %d at %v)", i, sp.ev.Kind, sp.ev.At.Sub(base))
		if got := st.On(c, sp.ev); !sameEffects(got, sp.want) {
			t.Errorf("%s: effects\n got  %+v\n want %+v", label, got, sp.want)
		}
		checkNext(t, label, *st, sp.next)
	}
}

func TestOn(t *testing.T) {
	short := Config{GreetingDeadline: 1 * sec, AutoGreetMargin: 3 * sec, FirstResponseDeadline: 3 * sec, ReassignDeadline: 45 * sec}
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"greeting met before the auto point", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{tick(5 * sec), nil, 12 * sec},
			{agent(7 * sec), []Effect{met(Greeting, 7*sec)}, never},
			{tick(12 * sec), nil, never},
			{tick(15 * sec), nil, never},
			{agent(20 * sec), nil, never},
		}},
		{"auto greeting exactly at the auto point and not before", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{tick(12*sec - ms), nil, 12 * sec},
			{tick(12 * sec), []Effect{breached(Greeting, 12*sec, AutoGreeting)}, never},
			{tick(13 * sec), nil, never},
			{tick(15 * sec), nil, never},
			{agent(16 * sec), nil, never}, // the server already greeted: nothing to meet
		}},
		{"a late tick still greets once, with the real elapsed", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{tick(20 * sec), []Effect{breached(Greeting, 20*sec, AutoGreeting)}, never},
			{tick(21 * sec), nil, never},
		}},
		{"auto point from a short deadline: margin capped at a fifth", short, []step{
			{opened(0), []Effect{started(Greeting, 1*sec)}, 800 * ms},
			{tick(799 * ms), nil, 800 * ms},
			{tick(800 * ms), []Effect{breached(Greeting, 800*ms, AutoGreeting)}, never},
		}},
		{"queued open greets at once", Defaults(), []step{
			{queued(0), []Effect{started(Greeting, 15*sec), breached(Greeting, 0, AutoGreeting)}, never},
			{tick(12 * sec), nil, never},
			{agent(30 * sec), nil, never},
		}},
		{"repeated Opened does nothing", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{opened(5 * sec), nil, 12 * sec},
			{queued(6 * sec), nil, 12 * sec}, // not even a queued repeat greets early
			{tick(12 * sec), []Effect{breached(Greeting, 12*sec, AutoGreeting)}, never},
			{opened(13 * sec), nil, never},
		}},
		{"Opened after the greeting was met does nothing", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{agent(2 * sec), []Effect{met(Greeting, 2*sec)}, never},
			{opened(60 * sec), nil, never},
			{tick(72 * sec), nil, never},
		}},
		{"a shopper turn starts its timer once", Defaults(), []step{
			{shopper(10 * sec), []Effect{started(FirstResponse, 13*sec)}, 13 * sec},
			{shopper(11 * sec), nil, 13 * sec},
			{shopper(12 * sec), nil, 13 * sec},
		}},
		{"one holding reply per turn, however many ticks", Defaults(), []step{
			{shopper(0), []Effect{started(FirstResponse, 3*sec)}, 3 * sec},
			{tick(3*sec - ms), nil, 3 * sec},
			{tick(3 * sec), []Effect{breached(FirstResponse, 3*sec, HoldingReply)}, 45 * sec},
			{tick(3 * sec), nil, 45 * sec},
			{tick(4 * sec), nil, 45 * sec},
			{shopper(5 * sec), nil, 45 * sec}, // same turn: no new timer, no new hold
			{tick(10 * sec), nil, 45 * sec},
			{agent(20 * sec), []Effect{met(FirstResponse, 20*sec)}, never},
			{tick(25 * sec), nil, never},
		}},
		{"each new turn gets its own holding reply", Defaults(), []step{
			{shopper(0), []Effect{started(FirstResponse, 3*sec)}, 3 * sec},
			{tick(3 * sec), []Effect{breached(FirstResponse, 3*sec, HoldingReply)}, 45 * sec},
			{agent(4 * sec), []Effect{met(FirstResponse, 4*sec)}, never},
			{shopper(30 * sec), []Effect{started(FirstResponse, 33*sec)}, 33 * sec},
			{tick(33 * sec), []Effect{breached(FirstResponse, 3*sec, HoldingReply)}, 75 * sec},
			{agent(34 * sec), []Effect{met(FirstResponse, 4*sec)}, never},
		}},
		{"an agent message within the golden 3 seconds", Defaults(), []step{
			{shopper(0), []Effect{started(FirstResponse, 3*sec)}, 3 * sec},
			{agent(2 * sec), []Effect{met(FirstResponse, 2*sec)}, never},
			{tick(3 * sec), nil, never},
			{tick(45 * sec), nil, never},
		}},
		{"reassign at 45 s from the turn start, again one period later", Defaults(), []step{
			{shopper(0), []Effect{started(FirstResponse, 3*sec)}, 3 * sec},
			{tick(3 * sec), []Effect{breached(FirstResponse, 3*sec, HoldingReply)}, 45 * sec},
			{tick(45*sec - ms), nil, 45 * sec},
			{tick(45 * sec), []Effect{breached(FirstResponse, 45*sec, Reassigned)}, 90 * sec},
			{tick(60 * sec), nil, 90 * sec},
			{tick(90 * sec), []Effect{breached(FirstResponse, 90*sec, Reassigned)}, 135 * sec},
			{agent(100 * sec), []Effect{met(FirstResponse, 100*sec)}, never},
			{tick(135 * sec), nil, never},
		}},
		{"a tick past both deadlines holds and reassigns at once", Defaults(), []step{
			{shopper(0), []Effect{started(FirstResponse, 3*sec)}, 3 * sec},
			{tick(50 * sec), []Effect{
				breached(FirstResponse, 50*sec, HoldingReply),
				breached(FirstResponse, 50*sec, Reassigned),
			}, 95 * sec},
		}},
		{"an agent message meets both rules", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{shopper(1 * sec), []Effect{started(FirstResponse, 4*sec)}, 4 * sec},
			{agent(2500 * ms), []Effect{met(Greeting, 2500*ms), met(FirstResponse, 1500*ms)}, never},
			{tick(12 * sec), nil, never},
		}},
		{"Next is the earliest pending deadline at every stage", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{shopper(10 * sec), []Effect{started(FirstResponse, 13*sec)}, 12 * sec},
			{tick(12 * sec), []Effect{breached(Greeting, 12*sec, AutoGreeting)}, 13 * sec},
			{tick(13 * sec), []Effect{breached(FirstResponse, 3*sec, HoldingReply)}, 55 * sec},
			{tick(55 * sec), []Effect{breached(FirstResponse, 45*sec, Reassigned)}, 100 * sec},
			{agent(60 * sec), []Effect{met(FirstResponse, 50*sec)}, never},
		}},
		{"holding reply before the greeting when the shopper writes first", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{shopper(2 * sec), []Effect{started(FirstResponse, 5*sec)}, 5 * sec},
			{tick(5 * sec), []Effect{breached(FirstResponse, 3*sec, HoldingReply)}, 12 * sec},
			{tick(12 * sec), []Effect{breached(Greeting, 12*sec, AutoGreeting)}, 47 * sec},
		}},
		{"an agent message with nothing running", Defaults(), []step{
			{agent(0), nil, never},
			{tick(time.Minute), nil, never},
		}},
		{"Closed clears everything", Defaults(), []step{
			{opened(0), []Effect{started(Greeting, 15*sec)}, 12 * sec},
			{shopper(1 * sec), []Effect{started(FirstResponse, 4*sec)}, 4 * sec},
			{tick(4 * sec), []Effect{breached(FirstResponse, 3*sec, HoldingReply)}, 12 * sec},
			{closed(5 * sec), nil, never},
			{tick(12 * sec), nil, never},
			{tick(46 * sec), nil, never},
			{agent(50 * sec), nil, never},
		}},
		{"a closed conversation that opens again greets again", Defaults(), []step{
			{queued(0), []Effect{started(Greeting, 15*sec), breached(Greeting, 0, AutoGreeting)}, never},
			{closed(60 * sec), nil, never},
			{opened(100 * sec), []Effect{started(Greeting, 115*sec)}, 112 * sec},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			run(t, tc.cfg, &st, tc.steps)
		})
	}
}

func TestClosedLeavesTheZeroState(t *testing.T) {
	c := Defaults()
	var st State
	for _, ev := range []Event{opened(0), shopper(1 * sec), tick(4 * sec), tick(12 * sec), tick(46 * sec), shopper(50 * sec)} {
		st.On(c, ev)
	}
	if st == (State{}) {
		t.Fatal("state is empty before Closed; the test proves nothing")
	}
	if effects := st.On(c, closed(60*sec)); effects != nil {
		t.Errorf("Closed returned %+v, want none", effects)
	}
	if st != (State{}) {
		t.Errorf("after Closed: %+v, want the zero State", st)
	}
	if st.GreetingRunning() || st.TurnRunning() {
		t.Errorf("after Closed: greeting running %v, turn running %v", st.GreetingRunning(), st.TurnRunning())
	}
}

// TestRestartRearms stores the state as JSON after each event, as the hub
// does, loads it into a fresh State and carries on: every later effect and
// every Next must be what the uninterrupted run gives.
func TestRestartRearms(t *testing.T) {
	c := Defaults()
	// A zone other than UTC, so that a time that comes back from JSON in
	// another *Location still compares right.
	shanghai := time.FixedZone("CST", 8*60*60)
	events := []Event{
		opened(0), shopper(5 * sec), tick(8 * sec), shopper(9 * sec), tick(12 * sec),
		tick(50 * sec), tick(95 * sec), agent(96 * sec), shopper(120 * sec), tick(123 * sec), closed(130 * sec),
	}
	for i := range events {
		events[i].At = events[i].At.In(shanghai)
	}

	var want []step
	var straight State
	for _, ev := range events {
		effects := straight.On(c, ev)
		next := never
		if n := straight.Next(); !n.IsZero() {
			next = n.Sub(base)
		}
		want = append(want, step{ev: ev, want: effects, next: next})
	}

	for cut := range events {
		t.Run(fmt.Sprintf("restart after event %d", cut), func(t *testing.T) {
			var st State
			run(t, c, &st, want[:cut+1])
			raw, err := json.Marshal(st)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var loaded State
			if err := json.Unmarshal(raw, &loaded); err != nil {
				t.Fatalf("unmarshal %s: %v", raw, err)
			}
			checkNext(t, "just loaded", loaded, want[cut].next)
			run(t, c, &loaded, want[cut+1:])
		})
	}
}

func TestStateJSONMidTurn(t *testing.T) {
	c := Defaults()
	var st State
	st.On(c, opened(0))
	st.On(c, shopper(1*sec))
	st.On(c, tick(4*sec)) // holding reply out: TurnHeld must survive a restart
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var loaded State
	if err := json.Unmarshal(raw, &loaded); err != nil {
		t.Fatalf("unmarshal %s: %v", raw, err)
	}
	if !loaded.TurnHeld || !loaded.TurnRunning() || !loaded.GreetingRunning() {
		t.Fatalf("loaded %s as %+v", raw, loaded)
	}
	// Only the reassign check is left for the turn; a second holding reply
	// after the restart would be a bug.
	if got := loaded.On(c, tick(5*sec)); got != nil {
		t.Errorf("tick after restart: %+v, want none", got)
	}
	var empty State
	raw, err = json.Marshal(empty)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if string(raw) != "{}" {
		t.Errorf("zero State marshals as %s, want {}", raw)
	}
}

func TestAutoGreetAfter(t *testing.T) {
	for _, tc := range []struct {
		name             string
		deadline, margin time.Duration
		want             time.Duration
	}{
		{"defaults", 15 * sec, 3 * sec, 12 * sec},
		{"margin under a fifth", 15 * sec, 1 * sec, 14 * sec},
		{"margin exactly a fifth", 10 * sec, 2 * sec, 8 * sec},
		{"margin over a fifth is capped", 10 * sec, 5 * sec, 8 * sec},
		{"short deadline, default margin", 1 * sec, 3 * sec, 800 * ms},
		{"no margin", 15 * sec, 0, 15 * sec},
		{"negative margin counts as none", 15 * sec, -2 * sec, 15 * sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			c.GreetingDeadline, c.AutoGreetMargin = tc.deadline, tc.margin
			if got := c.AutoGreetAfter(); got != tc.want {
				t.Errorf("AutoGreetAfter(%v, %v) = %v, want %v", tc.deadline, tc.margin, got, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	want := Config{GreetingDeadline: 15 * sec, AutoGreetMargin: 3 * sec, FirstResponseDeadline: 3 * sec, ReassignDeadline: 45 * sec}
	if got := Defaults(); got != want {
		t.Errorf("Defaults = %+v, want the playbook's %+v", got, want)
	}
}
