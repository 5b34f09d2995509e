package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
)

// visitor stores a visitor with id.
func visitor(t *testing.T, s store.Store, id string) {
	t.Helper()
	must(t, s.CreateVisitor(context.Background(), store.Visitor{ID: id, TokenHash: "th-" + id, Name: "V " + id, CreatedAt: base}))
}

// conv is a queued conversation of visitor vid opened at opened.
func conv(id, vid string, opened time.Time) store.Conversation {
	return store.Conversation{
		ID: id, VisitorID: vid, VisitorName: "V " + vid, State: store.Queued, Locale: "zh-CN", Topic: "shoes",
		Context: json.RawMessage(`{"page":"/p/42","cart":[1,2]}`), OpenedAt: store.At(opened),
	}
}

// timers is a rules.State with every field set, off the millisecond and
// outside UTC; stored, it comes back in UTC to the millisecond.
func timers(at time.Time) (in, stored rules.State) {
	in = rules.State{
		GreetingStarted: at, GreetingDeadline: at.Add(15 * time.Second), GreetingAutoAt: at.Add(12 * time.Second),
		TurnStarted: at.Add(time.Second), TurnDeadline: at.Add(4 * time.Second), TurnReassignAt: at.Add(46 * time.Second),
		TurnHeld: true,
	}
	utc := func(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
	stored = rules.State{
		GreetingStarted: utc(in.GreetingStarted), GreetingDeadline: utc(in.GreetingDeadline),
		GreetingAutoAt: utc(in.GreetingAutoAt), TurnStarted: utc(in.TurnStarted),
		TurnDeadline: utc(in.TurnDeadline), TurnReassignAt: utc(in.TurnReassignAt), TurnHeld: true,
	}
	return in, stored
}

func testConversations(t *testing.T, s store.Store) {
	ctx := context.Background()
	visitor(t, s, "v1")
	visitor(t, s, "v2")

	in := conv("c1", "v1", base.In(shanghai).Add(700*time.Microsecond))
	in.LastSeq = 99 // a new conversation starts at 0 whatever it says
	in.AgentID, in.State, in.AssignedAt = "a1", store.Assigned, store.At(base.Add(2*time.Second).In(shanghai))
	var wantTimers rules.State
	in.Timers, wantTimers = timers(base.In(shanghai).Add(1500 * time.Microsecond))
	must(t, s.CreateConversation(ctx, in))
	want := in
	want.LastSeq, want.OpenedAt, want.AssignedAt, want.Timers = 0, store.At(base), store.At(base.Add(2*time.Second)), wantTimers

	got, err := s.Conversation(ctx, "c1")
	must(t, err)
	same(t, "Conversation", got, want)
	got, err = s.OpenConversation(ctx, "v1")
	must(t, err)
	same(t, "OpenConversation", got, want)

	closed := conv("c0", "v2", base.Add(-time.Hour))
	closed.State, closed.Outcome, closed.Context = store.Closed, "sold", nil
	closed.ClosedAt = store.At(base.Add(-time.Minute))
	must(t, s.CreateConversation(ctx, closed))
	got, err = s.Conversation(ctx, "c0")
	must(t, err)
	same(t, "closed Conversation without context", got, closed)

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"Conversation unknown", second(s.Conversation(ctx, "nope")), store.ErrNotFound},
		{"OpenConversation only closed", second(s.OpenConversation(ctx, "v2")), store.ErrNotFound},
		{"OpenConversation unknown visitor", second(s.OpenConversation(ctx, "nobody")), store.ErrNotFound},
		{"same id", s.CreateConversation(ctx, conv("c1", "v2", base)), store.ErrConflict},
		{"second open for a visitor", s.CreateConversation(ctx, conv("c2", "v1", base)), store.ErrConflict},
		{"unknown visitor", s.CreateConversation(ctx, conv("c3", "nobody", base)), store.ErrNotFound},
		{"open beside a closed one", s.CreateConversation(ctx, conv("c5", "v2", base)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) { isErr(t, tc.err, tc.want) })
	}

	bad := conv("c4", "v3", base)
	bad.Context = json.RawMessage(`{"page":`)
	if err := s.CreateConversation(ctx, bad); err == nil {
		t.Fatal("a context that is not JSON was stored")
	}
	isErr(t, second(s.Conversation(ctx, "c4")), store.ErrNotFound)
}

// A new shopper's visitor and conversation are stored together or not at all.
func testStartConversation(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := store.Visitor{ID: "v1", TokenHash: "th-v1", Name: "Mei", CreatedAt: base}
	must(t, second(s.StartConversation(ctx, &v, conv("c1", "v1", base), store.Edit{})))
	gotV, err := s.Visitor(ctx, "v1")
	must(t, err)
	same(t, "visitor", gotV, v)
	gotC, err := s.Conversation(ctx, "c1")
	must(t, err)
	same(t, "conversation", gotC.ID+"/"+gotC.VisitorID+"/"+string(gotC.State), "c1/v1/queued")

	// A conversation that cannot be stored (the id is taken) takes its
	// new visitor down with it.
	v2 := store.Visitor{ID: "v2", TokenHash: "th-v2", Name: "Jie", CreatedAt: base}
	isErr(t, second(s.StartConversation(ctx, &v2, conv("c1", "v2", base), store.Edit{})), store.ErrConflict)
	_, err = s.Visitor(ctx, "v2")
	isErr(t, err, store.ErrNotFound)

	// A visitor that cannot be stored (the id is taken) leaves no
	// conversation behind.
	dup := store.Visitor{ID: "v1", TokenHash: "th-other", Name: "Again", CreatedAt: base}
	isErr(t, second(s.StartConversation(ctx, &dup, conv("c2", "v1", base), store.Edit{})), store.ErrConflict)
	_, err = s.Conversation(ctx, "c2")
	isErr(t, err, store.ErrNotFound)

	// Without a visitor it is CreateConversation: an unknown visitor fails.
	isErr(t, second(s.StartConversation(ctx, nil, conv("c3", "nobody", base), store.Edit{})), store.ErrNotFound)

	// A first edit (the greeting of a shopper nobody is free for, and its
	// rule event) is stored with the conversation, seqs from 1.
	greet := store.Edit{
		Messages: []store.Message{{Author: store.Author{Kind: store.AuthorSystem, ID: "daogou"}, Kind: "system", Text: "welcome", Auto: true, ScriptID: "greeting.queued"}},
		Events:   []store.Event{{ConversationID: "ignored", Rule: "greeting", Kind: "breached", Action: "auto_greeting", At: base}},
	}
	v4 := store.Visitor{ID: "v4", TokenHash: "th-v4", Name: "Lan", CreatedAt: base}
	ch, err := s.StartConversation(ctx, &v4, conv("c4", "v4", base), greet)
	must(t, err)
	if ch.Conversation.LastSeq != 1 || len(ch.Messages) != 1 || ch.Messages[0].Seq != 1 || ch.Messages[0].ID == "" || ch.Messages[0].ConversationID != "c4" {
		t.Fatalf("change = last seq %d, messages %+v; want seq 1 with an id", ch.Conversation.LastSeq, ch.Messages)
	}
	gotC, err = s.Conversation(ctx, "c4")
	must(t, err)
	same(t, "last seq", gotC.LastSeq, int64(1))
	msgs, err := s.Messages(ctx, "c4", 0, 0)
	must(t, err)
	if len(msgs) != 1 || msgs[0].Text != "welcome" || msgs[0].Seq != 1 || !msgs[0].Auto {
		t.Fatalf("messages = %+v, want the greeting at seq 1", msgs)
	}
	evs, err := s.Events(ctx, time.Time{})
	must(t, err)
	if len(evs) != 1 || evs[0].ConversationID != "c4" || evs[0].Action != "auto_greeting" {
		t.Fatalf("events = %+v, want the greeting's", evs)
	}

	// When the conversation fails, its first edit is not stored either.
	v5 := store.Visitor{ID: "v5", TokenHash: "th-v5", Name: "Bo", CreatedAt: base}
	isErr(t, second(s.StartConversation(ctx, &v5, conv("c4", "v5", base), greet)), store.ErrConflict)
	evs, err = s.Events(ctx, time.Time{})
	must(t, err)
	same(t, "events after a failed start", len(evs), 1)
}

func testConversationLists(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, v := range []string{"v1", "v2", "v3"} {
		visitor(t, s, v)
	}
	for _, c := range []struct {
		id, visitor string
		opened      time.Time
		closed      bool
	}{
		{"v1-old", "v1", base.Add(-2 * time.Hour), true},
		{"v2-open", "v2", base.Add(time.Minute), false},
		{"v1-mid", "v1", base.Add(-time.Hour), true},
		{"v1-open", "v1", base.Add(2 * time.Minute), false},
		{"v3-open", "v3", base, false},
	} {
		cv := conv(c.id, c.visitor, c.opened)
		if c.closed {
			cv.State, cv.ClosedAt = store.Closed, store.At(c.opened.Add(time.Minute))
		}
		must(t, s.CreateConversation(ctx, cv))
	}
	open, err := s.OpenConversations(ctx)
	must(t, err)
	same(t, "OpenConversations", ids(open), []string{"v3-open", "v2-open", "v1-open"})

	for _, tc := range []struct {
		visitor string
		limit   int
		want    []string
	}{
		{"v1", 0, []string{"v1-open", "v1-mid", "v1-old"}},
		{"v1", -1, []string{"v1-open", "v1-mid", "v1-old"}},
		{"v1", 2, []string{"v1-open", "v1-mid"}},
		{"v1", 10, []string{"v1-open", "v1-mid", "v1-old"}},
		{"v2", 0, []string{"v2-open"}},
		{"nobody", 0, []string{}},
	} {
		got, err := s.VisitorConversations(ctx, tc.visitor, tc.limit)
		must(t, err)
		same(t, "VisitorConversations "+tc.visitor, ids(got), tc.want)
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	visitor(t, s, "v1")
	must(t, s.CreateConversation(ctx, conv("c1", "v1", base)))
	empty, err := s.Events(ctx, time.Time{})
	must(t, err)
	same(t, "Events of an empty store", empty, []store.Event{})

	ev := func(at time.Time, rule, kind, action string, elapsed time.Duration) store.Event {
		return store.Event{ConversationID: "c1", AgentID: "a1", Rule: rule, Kind: kind, Action: action, Elapsed: elapsed, At: at}
	}
	late := ev(base.Add(10*time.Second), "first_response", "breached", "holding_reply", 3001*time.Millisecond)
	early := ev(base.In(shanghai).Add(400*time.Microsecond), "greeting", "met", "", 2500*time.Millisecond)
	tie := ev(base.Add(10*time.Second), "first_response", "breached", "reassigned", 45*time.Second)
	mid := ev(base.Add(time.Millisecond), "greeting", "met", "", 0)
	must(t, s.AddEvents(ctx, late, early))
	must(t, s.AddEvents(ctx, tie))
	must(t, s.AddEvents(ctx, mid))
	must(t, s.AddEvents(ctx)) // nothing to store
	early.At = base

	// All or none: an event of an unknown conversation fails its batch,
	// and the good event beside it is not stored either.
	unknown := ev(base, "greeting", "met", "", 0)
	unknown.ConversationID = "nope"
	isErr(t, s.AddEvents(ctx, ev(base.Add(time.Hour), "greeting", "met", "", 0), unknown), store.ErrNotFound)

	for _, tc := range []struct {
		name  string
		since time.Time
		want  []store.Event
	}{
		{"all", time.Time{}, []store.Event{early, mid, late, tie}},
		{"since between", base.Add(time.Microsecond), []store.Event{mid, late, tie}},
		{"at since counts", base.Add(10 * time.Second), []store.Event{late, tie}},
		{"since in another zone", base.Add(2 * time.Millisecond).In(shanghai), []store.Event{late, tie}},
		{"none after", base.Add(time.Hour), []store.Event{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Events(ctx, tc.since)
			must(t, err)
			same(t, "Events", got, tc.want)
		})
	}
}

func testPingClose(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.Ping(ctx))
	must(t, s.Close())
	isErr(t, s.Ping(ctx), store.ErrClosed)
	isErr(t, s.CreateVisitor(ctx, store.Visitor{ID: "v1"}), store.ErrClosed)
	isErr(t, second(s.Conversation(ctx, "c1")), store.ErrClosed)
	isErr(t, second(s.Update(ctx, "c1", func(*store.Conversation) ([]store.Message, error) { return nil, nil })), store.ErrClosed)
	must(t, s.Close())
}

// Apply stores rule events with the messages, in the same transaction: they
// go with a change, and are undone with a duplicate or a failing fn.
func testApplyEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	opened(t, s)
	met := store.Event{ConversationID: "ignored", AgentID: "a1", Rule: "first_response", Kind: "met", Elapsed: 1200 * time.Millisecond, At: base.Add(time.Minute)}
	for _, tc := range []struct {
		name       string
		edit       store.Edit
		fnErr      error
		wantErr    error
		wantEvents int // events stored in all after this step
		dup        bool
	}{
		{"a message and its event", store.Edit{Messages: []store.Message{{Author: agentA, Kind: "text", Text: "hi", ClientMsgID: "a-1"}}, Events: []store.Event{met}}, nil, nil, 1, false},
		{"events alone", store.Edit{Events: []store.Event{met, met}}, nil, nil, 3, false},
		{"a failing fn stores no event", store.Edit{Events: []store.Event{met}}, store.ErrConflict, store.ErrConflict, 3, false},
		{"a duplicate stores no event", store.Edit{Messages: []store.Message{{Author: agentA, Kind: "text", Text: "hi", ClientMsgID: "a-1"}}, Events: []store.Event{met}}, nil, nil, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := s.Apply(ctx, "c1", func(*store.Conversation) (store.Edit, error) { return tc.edit, tc.fnErr })
			isErr(t, err, tc.wantErr)
			if ch.Duplicate != tc.dup {
				t.Fatalf("Duplicate = %v, want %v", ch.Duplicate, tc.dup)
			}
			evs, err := s.Events(ctx, time.Time{})
			must(t, err)
			if len(evs) != tc.wantEvents {
				t.Fatalf("%d events stored, want %d", len(evs), tc.wantEvents)
			}
			for _, e := range evs {
				if e.ConversationID != "c1" || e.AgentID != "a1" || e.Rule != "first_response" || e.Elapsed != 1200*time.Millisecond || !e.At.Equal(base.Add(time.Minute)) {
					t.Fatalf("event stored as %+v", e)
				}
			}
		})
	}
}
