// Package storetest is the one test suite every store.Store must pass.
//
// A backend's test calls Run with a function that opens a fresh, empty
// store for one subtest and arranges (t.Cleanup) to close and remove it.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/store"
)

// base is the suite's fixed clock: times are written out, never read from
// the system clock, except where the store must fill one in.
var base = time.Date(2025, 3, 1, 9, 30, 0, 123_000_000, time.UTC)

// shanghai is a zone other than UTC, to check the store answers in UTC.
var shanghai = time.FixedZone("CST", 8*3600)

// Run runs every check against the stores open gives.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Agents", testAgents},
		{"AgentConflicts", testAgentConflicts},
		{"AgentsOrder", testAgentsOrder},
		{"Tokens", testTokens},
		{"Visitors", testVisitors},
		{"Conversations", testConversations},
		{"StartConversation", testStartConversation},
		{"ConversationLists", testConversationLists},
		{"UpdateAppends", testUpdateAppends},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"UpdateDuplicate", testUpdateDuplicate},
		{"UpdateRollback", testUpdateRollback},
		{"UpdateTimes", testUpdateTimes},
		{"UpdatePanic", testUpdatePanic},
		{"Messages", testMessages},
		{"Events", testEvents},
		{"ApplyEvents", testApplyEvents},
		{"PingClose", testPingClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
}

func agent(id, email string, created time.Time) store.Agent {
	return store.Agent{
		ID: id, Email: email, Name: "Agent " + id, Role: "agent",
		Skills: []string{"shoes", "returns"}, Capacity: 3, PasswordHash: "hash-" + id, CreatedAt: created,
	}
}

func testAgents(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := agent("a1", "li@example.com", base.In(shanghai).Add(456*time.Microsecond))
	must(t, s.CreateAgent(ctx, a))
	want := a
	want.CreatedAt = base // UTC, to the millisecond

	got, err := s.Agent(ctx, "a1")
	must(t, err)
	same(t, "Agent", got, want)
	got, err = s.AgentByEmail(ctx, "li@example.com")
	must(t, err)
	same(t, "AgentByEmail", got, want)

	upd := want
	upd.Email = "ignored@example.com"
	upd.Name, upd.Role, upd.Skills, upd.Capacity, upd.PasswordHash = "Li Wei", "supervisor", []string{"vip"}, 7, "new-hash"
	must(t, s.UpdateAgent(ctx, upd))
	want.Name, want.Role, want.Skills, want.Capacity, want.PasswordHash = "Li Wei", "supervisor", []string{"vip"}, 7, "new-hash"
	got, err = s.Agent(ctx, "a1")
	must(t, err)
	same(t, "Agent after UpdateAgent", got, want)

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"Agent unknown", second(s.Agent(ctx, "nobody"))},
		{"AgentByEmail unknown", second(s.AgentByEmail(ctx, "nobody@example.com"))},
		{"UpdateAgent unknown", s.UpdateAgent(ctx, agent("nobody", "x@example.com", base))},
	} {
		t.Run(tc.name, func(t *testing.T) { isErr(t, tc.err, store.ErrNotFound) })
	}
}

func testAgentConflicts(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateAgent(ctx, agent("a1", "li@example.com", base)))
	for _, tc := range []struct {
		name string
		a    store.Agent
		err  error
	}{
		{"same e-mail", agent("a2", "li@example.com", base), store.ErrConflict},
		{"same id", agent("a1", "other@example.com", base), store.ErrConflict},
		{"new", agent("a3", "wang@example.com", base), nil},
	} {
		t.Run(tc.name, func(t *testing.T) { isErr(t, s.CreateAgent(ctx, tc.a), tc.err) })
	}
	got, err := s.Agent(ctx, "a1")
	must(t, err)
	if got.Email != "li@example.com" {
		t.Fatalf("a conflicting create changed a1: %+v", got)
	}
}

func testAgentsOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	empty, err := s.Agents(ctx)
	must(t, err)
	if len(empty) != 0 {
		t.Fatalf("Agents of an empty store = %v", empty)
	}
	noSkills := agent("c", "c@example.com", base.Add(-time.Hour))
	noSkills.Skills = nil
	for _, a := range []store.Agent{
		agent("a", "a@example.com", base.Add(time.Minute)),
		noSkills,
		agent("b", "b@example.com", base),
		agent("d", "d@example.com", base), // same time as b: creation order
	} {
		must(t, s.CreateAgent(ctx, a))
	}
	all, err := s.Agents(ctx)
	must(t, err)
	var ids []string
	for _, a := range all {
		ids = append(ids, a.ID)
	}
	same(t, "Agents order", ids, []string{"c", "b", "d", "a"})
	same(t, "nil skills come back empty", all[0].Skills, []string{})
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := agent("a1", "li@example.com", base)
	must(t, s.CreateAgent(ctx, a))
	expires := base.Add(time.Hour)
	must(t, s.CreateToken(ctx, "h1", "a1", expires))
	isErr(t, s.CreateToken(ctx, "h2", "nobody", expires), store.ErrNotFound)
	isErr(t, s.CreateToken(ctx, "h1", "a1", expires), store.ErrConflict)

	for _, tc := range []struct {
		name string
		hash string
		now  time.Time
		err  error
	}{
		{"valid", "h1", base, nil},
		{"valid in another zone", "h1", expires.Add(-time.Millisecond).In(shanghai), nil},
		{"expires now", "h1", expires, store.ErrNotFound},
		{"expired", "h1", expires.Add(time.Minute), store.ErrNotFound},
		{"unknown", "h9", base, store.ErrNotFound},
		{"agent's token missing", "h2", base, store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TokenAgent(ctx, tc.hash, tc.now)
			isErr(t, err, tc.err)
			if tc.err == nil {
				same(t, "TokenAgent", got, a)
			}
		})
	}
}

func testVisitors(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := store.Visitor{ID: "v1", TokenHash: "th", Name: "Mei", CreatedAt: base.In(shanghai).Add(999 * time.Microsecond)}
	must(t, s.CreateVisitor(ctx, v))
	got, err := s.Visitor(ctx, "v1")
	must(t, err)
	v.CreatedAt = base
	same(t, "Visitor", got, v)

	before := time.Now().UTC().Truncate(time.Millisecond)
	must(t, s.CreateVisitor(ctx, store.Visitor{ID: "v2", TokenHash: "th2"}))
	after := time.Now().UTC()
	got, err = s.Visitor(ctx, "v2")
	must(t, err)
	if got.CreatedAt.Before(before) || got.CreatedAt.After(after) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("a zero CreatedAt became %v, want now (%v..%v) in UTC", got.CreatedAt, before, after)
	}

	isErr(t, s.CreateVisitor(ctx, v), store.ErrConflict)
	isErr(t, second(s.Visitor(ctx, "nobody")), store.ErrNotFound)
}

// must stops the test on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// isErr checks err matches want (nil: no error).
func isErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func second[T any](_ T, err error) error { return err }

// same fails unless got and want are deeply equal; conversations compare
// their context as JSON values (PostgreSQL's jsonb reorders keys).
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(canon(t, got), canon(t, want)) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func canon(t *testing.T, v any) any {
	t.Helper()
	switch v := v.(type) {
	case store.Conversation:
		v.Context = canonJSON(t, v.Context)
		return v
	case []store.Conversation:
		out := make([]store.Conversation, len(v))
		for i, c := range v {
			c.Context = canonJSON(t, c.Context)
			out[i] = c
		}
		return out
	case store.Change:
		v.Conversation.Context = canonJSON(t, v.Conversation.Context)
		return v
	}
	return v
}

func canonJSON(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("context %q: %v", raw, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ids is the ids of cs, in order.
func ids(cs []store.Conversation) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// seqs is the seqs of ms, in order.
func seqs(ms []store.Message) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func text(i int) string { return fmt.Sprintf("message %d", i) }
