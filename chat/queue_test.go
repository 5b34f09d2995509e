package chat_test

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/store"
)

// Two agents of capacity 1 and three shoppers: the third waits first in
// line, and takes the place that closing a conversation frees.
func TestQueueAndCapacity(t *testing.T) {
	e := newEnv(t)
	tok1, _ := e.account("mei@shop.test", "Mei", "agent", 1)
	tok2, _ := e.account("jie@shop.test", "Jie", "agent", 1)
	ag1 := e.agent("agent1", tok1)
	ag2 := e.agent("agent2", tok2)

	_, _, c1 := e.shopper("Ann")
	_, _, c2 := e.shopper("Bob")
	if c1.State != "assigned" || c2.State != "assigned" || c1.AgentID == c2.AgentID {
		t.Fatalf("first two: %+v / %+v", c1, c2)
	}
	sh3, _, c3 := e.shopper("Cy")
	if c3.State != "queued" {
		t.Fatalf("third state %s, want queued", c3.State)
	}
	var q queuedBody
	sh3.expectBody("conversation.queued", &q)
	if q.Position != 1 || q.EstimatedWaitS <= 0 {
		t.Fatalf("queued = %+v", q)
	}
	greeting := sh3.expectFrom("system")
	if !greeting.Auto {
		t.Fatalf("greeting = %+v", greeting)
	}

	// Whoever has Ann closes; Cy goes to that agent.
	closer := ag1
	if c1.AgentID != c2.AgentID && c1.AgentID == agentIDOf(t, e, tok2) {
		closer = ag2
	}
	closer.send("conversation.close", c1.ID, map[string]any{"outcome": "purchased"})
	var closed struct {
		Conversation wireConv `json:"conversation"`
		Outcome      string   `json:"outcome"`
	}
	closer.expectBody("conversation.closed", &closed)
	if closed.Outcome != "purchased" || closed.Conversation.State != "closed" {
		t.Fatalf("closed = %+v", closed)
	}
	var as convBody
	closer.expectBody("conversation.assigned", &as)
	if as.Conversation.ID != c3.ID {
		t.Fatalf("assigned %s, want the queued %s", as.Conversation.ID, c3.ID)
	}
	sh3.expectBody("conversation.assigned", &as)
}

func agentIDOf(t *testing.T, e *env, token string) string {
	t.Helper()
	a, err := e.hub.Authenticate(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// Transfer to an agent and to a skill; a closed conversation refuses more.
func TestTransferAndClose(t *testing.T) {
	e := newEnv(t)
	tok1, a1 := e.account("mei@shop.test", "Mei", "agent", 5)
	ag1 := e.agent("agent1", tok1)
	sh, _, conv := e.shopper("Ann")
	sh.expect("conversation.assigned")
	ag1.expect("conversation.assigned")
	tok2, a2 := e.account("jie@shop.test", "Jie", "agent", 5)
	ag2 := e.agent("agent2", tok2)

	ag1.send("conversation.transfer", conv.ID, map[string]any{"to_agent_id": a2.ID})
	var tr struct {
		Conversation wireConv `json:"conversation"`
	}
	ag1.expectBody("conversation.transferred", &tr)
	var as convBody
	ag2.expectBody("conversation.assigned", &as)
	if as.Conversation.AgentID != a2.ID {
		t.Fatalf("transferred to %s", as.Conversation.AgentID)
	}
	sh.expectBody("conversation.assigned", &as)
	if as.Agent.Name != "Jie" {
		t.Fatalf("shopper told %+v", as.Agent)
	}
	// The old agent may no longer write there.
	ag1.send("message.send", conv.ID, map[string]any{"client_msg_id": "late", "text": "still here"})
	var eb errBody
	ag1.expectBody("error", &eb)
	if eb.Code != "forbidden" {
		t.Fatalf("old agent error = %+v", eb)
	}
	// Back by skill: only Mei is left to take it.
	ag2.send("conversation.transfer", conv.ID, map[string]any{"skill": "en"})
	ag1.expectBody("conversation.assigned", &as)
	if as.Conversation.AgentID != a1.ID {
		t.Fatalf("skill transfer went to %s", as.Conversation.AgentID)
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"no target", map[string]any{}, "bad_request"},
		{"both targets", map[string]any{"to_agent_id": a2.ID, "skill": "en"}, "bad_request"},
		{"unknown agent", map[string]any{"to_agent_id": "nobody"}, "not_found"},
		{"to itself", map[string]any{"to_agent_id": a1.ID}, "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ag1.send("conversation.transfer", conv.ID, tc.body)
			ag1.expectBody("error", &eb)
			if eb.Code != tc.code {
				t.Fatalf("error = %+v, want %s", eb, tc.code)
			}
		})
	}
	ag1.send("conversation.close", conv.ID, map[string]any{"outcome": "maybe"})
	ag1.expectBody("error", &eb)
	if eb.Code != "bad_request" {
		t.Fatalf("bad outcome error = %+v", eb)
	}
	e.clock.Advance(3 * time.Second)
	ag1.send("conversation.close", conv.ID, map[string]any{"outcome": "not_purchased"})
	sh.expect("conversation.closed")
	ag1.send("message.send", conv.ID, map[string]any{"client_msg_id": "after", "text": "bye"})
	ag1.expectBody("error", &eb)
	if eb.Code != "conflict" {
		t.Fatalf("write to a closed conversation: %+v", eb)
	}
	// The shopper writing again opens a new conversation.
	sh.send("message.send", "", map[string]any{"client_msg_id": "again", "text": "one more question"})
	var o convBody
	sh.expectBody("conversation.opened", &o)
	if o.Conversation.ID == conv.ID {
		t.Fatal("a closed conversation was reused")
	}
	var ack ackBody
	f := sh.expectBody("message.ack", &ack)
	if f.ConversationID != o.Conversation.ID {
		t.Fatalf("ack for %s, want %s", f.ConversationID, o.Conversation.ID)
	}
	// Returning shopper goes back to the last agent (Mei, who has room).
	if o.Conversation.AgentID != a1.ID {
		t.Fatalf("returning shopper went to %s, want last agent %s", o.Conversation.AgentID, a1.ID)
	}
}

// An agent gone past the reconnect grace loses its conversations to
// another agent; one back in time keeps them.
func TestAgentVanishes(t *testing.T) {
	e := newEnv(t)
	tok1, _ := e.account("mei@shop.test", "Mei", "agent", 5)
	ag1 := e.agent("agent1", tok1)
	sh, _, conv := e.shopper("Ann")
	ag1.expect("conversation.assigned")
	tok2, a2 := e.account("jie@shop.test", "Jie", "agent", 5)
	ag2 := e.agent("agent2", tok2)
	supTok, _ := e.account("boss@shop.test", "Boss", "supervisor", 1)
	sup := e.dial("supervisor", "/ws/supervisor", url.Values{"token": {supTok}})
	sup.expect("snapshot")
	// gone waits until the server has seen an agent's console go.
	gone := func(id string) {
		t.Helper()
		for {
			var u struct {
				Agent struct {
					ID       string `json:"id"`
					Sessions int    `json:"sessions"`
				} `json:"agent"`
			}
			sup.expectBody("agent.updated", &u)
			if u.Agent.ID == id && u.Agent.Sessions == 0 {
				return
			}
		}
	}
	a1ID := agentIDOf(t, e, tok1)

	ag1.conn.Close()
	gone(a1ID)
	e.clock.Advance(20 * time.Second)
	back := e.dial("agent1-back", "/ws/agent", url.Values{"token": {tok1}})
	var w struct {
		Conversations []wireConv `json:"conversations"`
	}
	back.expectBody("welcome", &w)
	if len(w.Conversations) != 1 || w.Conversations[0].ID != conv.ID {
		t.Fatalf("welcome back has %+v", w.Conversations)
	}
	e.clock.Advance(20 * time.Second) // the old grace timer must not fire now
	back.sync()
	back.conn.Close()
	gone(a1ID)
	e.clock.Advance(31 * time.Second)
	var as convBody
	ag2.expectBody("conversation.assigned", &as)
	if as.Conversation.ID != conv.ID || as.Conversation.AgentID != a2.ID {
		t.Fatalf("reassigned = %+v", as.Conversation)
	}
	sh.expectBody("conversation.assigned", &as)
}

// flakyApply fails the next Apply once armed, as a store that is briefly
// unreachable does.
type flakyApply struct {
	store.Store
	fail atomic.Bool
}

func (s *flakyApply) Apply(ctx context.Context, id string, fn func(c *store.Conversation) (store.Edit, error)) (store.Change, error) {
	if s.fail.CompareAndSwap(true, false) {
		return store.Change{}, errors.New("store briefly unreachable")
	}
	return s.Store.Apply(ctx, id, fn)
}

// A waiting conversation whose handover to a free agent fails (the store
// did not answer) keeps its place in the queue, and the next drain gives
// it to an agent.
func TestQueuedKeepsItsPlaceWhenTheHandoverFails(t *testing.T) {
	var fs *flakyApply
	e := newEnvWrapped(t, func(s store.Store) store.Store { fs = &flakyApply{Store: s}; return fs })
	_, _, conv := e.shopper("Ann")
	if conv.State != "queued" {
		t.Fatalf("state %s, want queued (nobody is online)", conv.State)
	}
	tok1, _ := e.account("mei@shop.test", "Mei", "agent", 2)
	tok2, _ := e.account("jie@shop.test", "Jie", "agent", 2)
	fs.fail.Store(true)
	e.agent("agent1", tok1) // its drain takes Ann's conversation, and the store fails
	waitFor(t, "the failed handover", func() bool { return !fs.fail.Load() })
	e.agent("agent2", tok2) // a drain again
	waitFor(t, "Ann's conversation assigned", func() bool {
		c, err := e.st.Conversation(context.Background(), conv.ID)
		return err == nil && c.State == store.Assigned
	})
}
