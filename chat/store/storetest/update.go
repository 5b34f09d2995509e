package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
)

var (
	shopper = store.Author{Kind: store.AuthorShopper, ID: "v1", Name: "Mei"}
	agentA  = store.Author{Kind: store.AuthorAgent, ID: "a1", Name: "Li"}
)

// opened stores visitor v1 and its conversation c1, and returns it as stored.
func opened(t *testing.T, s store.Store) store.Conversation {
	t.Helper()
	visitor(t, s, "v1")
	c := conv("c1", "v1", base)
	must(t, s.CreateConversation(context.Background(), c))
	return c
}

// appendFn returns msgs from Update and changes nothing else.
func appendFn(msgs ...store.Message) func(*store.Conversation) ([]store.Message, error) {
	return func(*store.Conversation) ([]store.Message, error) { return msgs, nil }
}

func testUpdateAppends(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := opened(t, s)

	before := time.Now().UTC().Truncate(time.Millisecond)
	ch, err := s.Update(ctx, "c1", func(cv *store.Conversation) ([]store.Message, error) {
		cv.State, cv.AgentID, cv.AssignedAt = store.Assigned, "a1", store.At(base.Add(time.Second))
		cv.Topic, cv.Locale, cv.VisitorName, cv.Outcome = "returns", "en", "Mei Lin", "pending"
		cv.Context = json.RawMessage(`{"order":"A-17"}`)
		// The store owns these; what fn writes here is ignored.
		cv.ID, cv.VisitorID, cv.LastSeq, cv.OpenedAt = "other", "v9", 42, store.At(base.Add(time.Hour))
		return []store.Message{
			{Author: shopper, Kind: "text", Text: "hello", ClientMsgID: "m1"},
			{ID: "given-id", ConversationID: "ignored", Seq: 7, Author: agentA, Kind: "script", Text: "hi!",
				Auto: true, ScriptID: "greet", CreatedAt: store.At(base.In(shanghai).Add(300 * time.Microsecond))},
		}, nil
	})
	must(t, err)
	after := time.Now().UTC()

	want := c
	want.State, want.AgentID, want.AssignedAt = store.Assigned, "a1", store.At(base.Add(time.Second))
	want.Topic, want.Locale, want.VisitorName, want.Outcome = "returns", "en", "Mei Lin", "pending"
	want.Context, want.LastSeq = json.RawMessage(`{"order":"A-17"}`), 2
	same(t, "Change.Conversation", ch.Conversation, want)
	if ch.Duplicate || len(ch.Messages) != 2 {
		t.Fatalf("Change = %+v, want two new messages", ch)
	}
	m1, m2 := ch.Messages[0], ch.Messages[1]
	created := m1.CreatedAt.Time
	if m1.ID == "" || created.Before(before) || created.After(after) || created.Location() != time.UTC ||
		!created.Equal(created.Truncate(time.Millisecond)) {
		t.Fatalf("filled message = %+v, want an id and now (%v..%v) in UTC to the ms", m1, before, after)
	}
	same(t, "first message", m1, store.Message{ID: m1.ID, ConversationID: "c1", Seq: 1, Author: shopper,
		Kind: "text", Text: "hello", CreatedAt: m1.CreatedAt, ClientMsgID: "m1"})
	same(t, "second message", m2, store.Message{ID: "given-id", ConversationID: "c1", Seq: 2, Author: agentA,
		Kind: "script", Text: "hi!", Auto: true, ScriptID: "greet", CreatedAt: store.At(base)})

	got, err := s.Conversation(ctx, "c1")
	must(t, err)
	same(t, "stored conversation", got, want)
	stored, err := s.Messages(ctx, "c1", 0, 0)
	must(t, err)
	same(t, "stored messages", stored, ch.Messages)

	// An update without messages saves the conversation and keeps the seq.
	ch, err = s.Update(ctx, "c1", func(cv *store.Conversation) ([]store.Message, error) {
		cv.State, cv.ClosedAt, cv.Outcome, cv.Context = store.Closed, store.At(base.Add(time.Hour)), "sold", nil
		return nil, nil
	})
	must(t, err)
	want.State, want.ClosedAt, want.Outcome, want.Context = store.Closed, store.At(base.Add(time.Hour)), "sold", nil
	got, err = s.Conversation(ctx, "c1")
	must(t, err)
	same(t, "closed conversation", got, want)
	same(t, "Change after close", ch.Conversation, want)
	if len(ch.Messages) != 0 {
		t.Fatalf("no messages given, Change.Messages = %v", ch.Messages)
	}
	isErr(t, second(s.OpenConversation(ctx, "v1")), store.ErrNotFound)

	called := false
	_, err = s.Update(ctx, "nope", func(*store.Conversation) ([]store.Message, error) { called = true; return nil, nil })
	isErr(t, err, store.ErrNotFound)
	if called {
		t.Fatal("fn called for a conversation that does not exist")
	}
}

func testUpdateConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	opened(t, s)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				n := g*each + i
				author := store.Author{Kind: store.AuthorAgent, ID: fmt.Sprintf("a%d", g)}
				ch, err := s.Update(ctx, "c1", appendFn(store.Message{Author: author, Kind: "text", Text: text(n),
					ClientMsgID: fmt.Sprintf("m%d", i)}))
				if err == nil && (len(ch.Messages) != 1 || ch.Conversation.LastSeq != ch.Messages[0].Seq) {
					err = fmt.Errorf("change %+v: LastSeq is not the appended seq", ch)
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}

	all, err := s.Messages(ctx, "c1", 0, 0)
	must(t, err)
	want := make([]int64, writers*each)
	seen := map[string]bool{}
	for i := range want {
		want[i] = int64(i + 1)
	}
	same(t, "seqs", seqs(all), want)
	for _, m := range all {
		seen[m.Text] = true
	}
	for n := range writers * each {
		if !seen[text(n)] {
			t.Fatalf("%q missing", text(n))
		}
	}
	c, err := s.Conversation(ctx, "c1")
	must(t, err)
	if c.LastSeq != writers*each {
		t.Fatalf("LastSeq = %d, want %d", c.LastSeq, writers*each)
	}
}

func testUpdateDuplicate(t *testing.T, s store.Store) {
	ctx := context.Background()
	opened(t, s)
	first, err := s.Update(ctx, "c1", appendFn(store.Message{Author: shopper, Kind: "text", Text: "once", ClientMsgID: "m1"}))
	must(t, err)
	stored, err := s.Conversation(ctx, "c1")
	must(t, err)

	// The retry also tries to change the conversation and append another
	// message: nothing of it may be written.
	retry, err := s.Update(ctx, "c1", func(cv *store.Conversation) ([]store.Message, error) {
		cv.State, cv.Topic = store.Closed, "changed"
		return []store.Message{
			{Author: shopper, Kind: "text", Text: "before the retry"},
			{Author: shopper, Kind: "text", Text: "once again", ClientMsgID: "m1"},
		}, nil
	})
	must(t, err)
	same(t, "duplicate Change", retry, store.Change{Conversation: stored, Messages: first.Messages, Duplicate: true})
	after, err := s.Conversation(ctx, "c1")
	must(t, err)
	same(t, "conversation after a duplicate", after, stored)

	for _, tc := range []struct {
		name string
		msgs []store.Message
		err  error
		dup  bool
	}{
		{"same client id, other author", []store.Message{{Author: agentA, Kind: "text", Text: "mine", ClientMsgID: "m1"}}, nil, false},
		{"other client id", []store.Message{{Author: shopper, Kind: "text", Text: "next", ClientMsgID: "m2"}}, nil, false},
		{"twice in one update", []store.Message{
			{Author: shopper, Kind: "text", Text: "x", ClientMsgID: "m3"},
			{Author: shopper, Kind: "text", Text: "y", ClientMsgID: "m3"},
		}, store.ErrConflict, false},
		{"repeat of m2", []store.Message{{Author: shopper, Kind: "text", Text: "next", ClientMsgID: "m2"}}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := s.Update(ctx, "c1", appendFn(tc.msgs...))
			isErr(t, err, tc.err)
			if ch.Duplicate != tc.dup {
				t.Fatalf("Duplicate = %v, want %v", ch.Duplicate, tc.dup)
			}
		})
	}
	all, err := s.Messages(ctx, "c1", 0, 0)
	must(t, err)
	var texts []string
	for _, m := range all {
		texts = append(texts, m.Text)
	}
	same(t, "stored texts", texts, []string{"once", "mine", "next"})
	same(t, "stored seqs", seqs(all), []int64{1, 2, 3})
}

// errTooLate is what the rolled-back fn returns.
var errTooLate = errors.New("too late")

func testUpdateRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	opened(t, s)
	kept, err := s.Update(ctx, "c1", appendFn(store.Message{Author: shopper, Kind: "text", Text: "kept"}))
	must(t, err)
	stored, err := s.Conversation(ctx, "c1")
	must(t, err)

	for _, tc := range []struct {
		name  string
		fn    func(*store.Conversation) ([]store.Message, error)
		is    error // errors.Is target; nil: any error
		exact bool  // the error must be fn's own, unwrapped
	}{
		{"fn fails", func(cv *store.Conversation) ([]store.Message, error) {
			cv.State, cv.Timers.TurnHeld = store.Closed, true
			return []store.Message{{Author: shopper, Kind: "text", Text: "lost"}}, errTooLate
		}, errTooLate, true},
		{"fn fails wrapped", func(cv *store.Conversation) ([]store.Message, error) {
			cv.Topic = "lost"
			return nil, fmt.Errorf("routing: %w", errTooLate)
		}, errTooLate, false},
		{"second message's id taken", func(cv *store.Conversation) ([]store.Message, error) {
			cv.Topic = "lost"
			return []store.Message{
				{Author: shopper, Kind: "text", Text: "lost", ClientMsgID: "m9"},
				{ID: kept.Messages[0].ID, Author: shopper, Kind: "text", Text: "lost too"},
			}, nil
		}, store.ErrConflict, false},
		{"context not JSON", func(cv *store.Conversation) ([]store.Message, error) {
			cv.Context = json.RawMessage(`{"a":`)
			return []store.Message{{Author: shopper, Kind: "text", Text: "lost"}}, nil
		}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := s.Update(ctx, "c1", tc.fn)
			switch {
			case err == nil:
				t.Fatalf("Update = %+v, want an error", ch)
			case tc.exact && err != errTooLate: // Update returns fn's error as is
				t.Fatalf("error = %v, want fn's error unwrapped", err)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("error = %v, want %v", err, tc.is)
			}
			got, err := s.Conversation(ctx, "c1")
			must(t, err)
			same(t, "conversation after a rollback", got, stored)
			all, err := s.Messages(ctx, "c1", 0, 0)
			must(t, err)
			same(t, "seqs after a rollback", seqs(all), []int64{1})
		})
	}

	// m9 went with its rolled-back request: it is new, not a repeat.
	ch, err := s.Update(ctx, "c1", appendFn(store.Message{Author: shopper, Kind: "text", Text: "next", ClientMsgID: "m9"}))
	must(t, err)
	if ch.Duplicate {
		t.Fatal("a client id of a rolled-back request counts as a repeat")
	}
	same(t, "seq after rollbacks", seqs(ch.Messages), []int64{2})
}

func testUpdateTimes(t *testing.T, s store.Store) {
	ctx := context.Background()
	opened(t, s)
	in, want := timers(base.In(shanghai).Add(2*time.Second + 1234*time.Nanosecond))
	ctxJSON := json.RawMessage(`{"cart": [{"sku": "X1", "qty": 2}], "utm": {"source": "ad"}, "vip": true, "note": "\u4f60\u597d"}`)
	ch, err := s.Update(ctx, "c1", func(cv *store.Conversation) ([]store.Message, error) {
		cv.Timers, cv.Context = in, ctxJSON
		cv.AssignedAt = store.At(base.In(shanghai).Add(999 * time.Microsecond))
		return nil, nil
	})
	must(t, err)
	same(t, "Change timers", ch.Conversation.Timers, want)
	got, err := s.Conversation(ctx, "c1")
	must(t, err)
	same(t, "stored timers", got.Timers, want)
	same(t, "stored context", got, ch.Conversation)
	same(t, "stored assigned_at", got.AssignedAt, store.At(base))

	// Timers stop: the zero State comes back as zero.
	_, err = s.Update(ctx, "c1", func(cv *store.Conversation) ([]store.Message, error) {
		cv.Timers.On(rules.Defaults(), rules.Event{Kind: rules.Closed, At: base})
		return nil, nil
	})
	must(t, err)
	got, err = s.Conversation(ctx, "c1")
	must(t, err)
	same(t, "stopped timers", got.Timers, rules.State{})
}

func testUpdatePanic(t *testing.T, s store.Store) {
	ctx := context.Background()
	opened(t, s)
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want fn's panic", v)
			}
		}()
		_, _ = s.Update(ctx, "c1", func(cv *store.Conversation) ([]store.Message, error) {
			cv.State = store.Closed
			panic("boom")
		})
		t.Fatal("Update returned after fn panicked")
	}()
	ch, err := s.Update(ctx, "c1", appendFn(store.Message{Author: shopper, Kind: "text", Text: "still here"}))
	must(t, err)
	same(t, "after a panic", []any{ch.Conversation.State, seqs(ch.Messages)}, []any{store.Queued, []int64{1}})
}

func testMessages(t *testing.T, s store.Store) {
	ctx := context.Background()
	opened(t, s)
	for i := range 5 {
		_, err := s.Update(ctx, "c1", appendFn(store.Message{Author: shopper, Kind: "text", Text: text(i + 1)}))
		must(t, err)
	}
	for _, tc := range []struct {
		name     string
		conv     string
		after    int64
		limit    int
		wantSeqs []int64
	}{
		{"all", "c1", 0, 0, []int64{1, 2, 3, 4, 5}},
		{"after 2", "c1", 2, 0, []int64{3, 4, 5}},
		{"limit 2", "c1", 0, 2, []int64{1, 2}},
		{"after 3 limit 10", "c1", 3, 10, []int64{4, 5}},
		{"after 1 limit 2", "c1", 1, 2, []int64{2, 3}},
		{"negative limit", "c1", 4, -1, []int64{5}},
		{"after the last", "c1", 5, 0, []int64{}},
		{"unknown conversation", "nope", 0, 0, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Messages(ctx, tc.conv, tc.after, tc.limit)
			must(t, err)
			same(t, "seqs", seqs(got), tc.wantSeqs)
			for _, m := range got {
				if m.Text != text(int(m.Seq)) || m.ConversationID != tc.conv {
					t.Fatalf("message %+v does not belong at seq %d", m, m.Seq)
				}
			}
		})
	}
}
