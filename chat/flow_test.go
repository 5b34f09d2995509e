package chat_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A shopper and an agent talk: greeting met, a turn answered within 3 s.
func TestShopperAndAgentTalk(t *testing.T) {
	e := newEnv(t)
	token, a := e.account("mei@shop.test", "Mei", "agent", 5)
	ag := e.agent("agent", token)

	sh, w, conv := e.shopper("Ann")
	if w.VisitorToken == "" || w.VisitorID == "" {
		t.Fatalf("welcome without visitor id and token: %+v", w)
	}
	var as convBody
	sh.expectBody("conversation.assigned", &as)
	if as.Agent.ID != a.ID || as.Agent.Name != "Mei" || as.Conversation.State != "assigned" {
		t.Fatalf("shopper assigned = %+v", as)
	}
	ag.expect("conversation.assigned")
	var started ruleBody
	ag.expectBody("timer.started", &started)
	if started.Rule != "greeting" || started.Deadline != "2026-11-24T09:00:15.000Z" {
		t.Fatalf("greeting timer = %+v", started)
	}

	e.clock.Advance(4 * time.Second)
	ag.send("message.send", conv.ID, map[string]any{"client_msg_id": "a1", "text": "Hello Ann, how can I help?"})
	var ack ackBody
	ag.expectBody("message.ack", &ack)
	if ack.Seq != 1 || ack.ClientMsgID != "a1" {
		t.Fatalf("ack = %+v", ack)
	}
	var met ruleBody
	ag.expectBody("timer.met", &met)
	if met.Rule != "greeting" || met.ElapsedMs != 4000 {
		t.Fatalf("greeting met = %+v", met)
	}
	var got msgBody
	sh.expectBody("message.new", &got)
	if got.Message.Text != "Hello Ann, how can I help?" || got.Message.Author.Kind != "agent" || got.Message.Auto {
		t.Fatalf("shopper got %+v", got.Message)
	}
	// created_at is the hub's clock when the rules saw the message (the
	// turn's start), not when the store wrote it.
	if got.Message.CreatedAt != "2026-11-24T09:00:04.000Z" {
		t.Fatalf("created_at = %q, want the injected clock's 09:00:04", got.Message.CreatedAt)
	}

	sh.send("message.send", "", map[string]any{"client_msg_id": "s1", "text": "Do you have this in red?"})
	sh.expectBody("message.ack", &ack)
	if ack.Seq != 2 {
		t.Fatalf("shopper ack seq = %d", ack.Seq)
	}
	ag.expectBody("message.new", &got)
	ag.expectBody("timer.started", &started)
	if started.Rule != "first_response" {
		t.Fatalf("turn timer = %+v", started)
	}
	e.clock.Advance(2 * time.Second)
	ag.send("message.send", conv.ID, map[string]any{"client_msg_id": "a2", "text": "Yes, red or navy?"})
	ag.expectBody("timer.met", &met)
	if met.Rule != "first_response" || met.ElapsedMs != 2000 {
		t.Fatalf("turn met = %+v", met)
	}
	if m := sh.expectFrom("agent"); m.Seq != 3 {
		t.Fatalf("seq = %d, want 3", m.Seq)
	}
	// Each met timer is stored with the message that met it.
	wantEvents(t, e, conv.ID, "greeting/met/4000", "first_response/met/2000")
}

// wantEvents checks the rule events stored for a conversation, as
// rule/kind/elapsed-ms or rule/kind/action/elapsed-ms.
func wantEvents(t *testing.T, e *env, convID string, want ...string) {
	t.Helper()
	evs, err := e.st.Events(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.ConversationID != convID {
			continue
		}
		s := ev.Rule + "/" + ev.Kind
		if ev.Action != "" {
			s += "/" + ev.Action
		}
		got = append(got, s+"/"+strconv.FormatInt(ev.Elapsed.Milliseconds(), 10))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stored events %q, want %q", got, want)
	}
}

// Nobody greets: the server does at the auto-greet point, not before.
func TestAutoGreeting(t *testing.T) {
	e := newEnv(t)
	token, _ := e.account("mei@shop.test", "Mei", "agent", 5)
	ag := e.agent("agent", token)
	sh, _, conv := e.shopper("Ann")
	sh.expect("conversation.assigned")
	ag.expect("timer.started")

	e.clock.Advance(11*time.Second + 900*time.Millisecond)
	if n := count(sh.sync(), "message.new"); n != 0 {
		t.Fatalf("a greeting before the auto-greet point")
	}
	e.clock.Advance(100 * time.Millisecond)
	var got msgBody
	sh.expectBody("message.new", &got)
	if !got.Message.Auto || got.Message.Author.Kind != "system" || got.Message.Text == "" {
		t.Fatalf("auto greeting = %+v", got.Message)
	}
	if got.Message.CreatedAt != "2026-11-24T09:00:12.000Z" {
		t.Fatalf("auto greeting created_at = %q, want its deadline on the injected clock", got.Message.CreatedAt)
	}
	var br ruleBody
	ag.expectBody("rule.breached", &br)
	if br.Rule != "greeting" || br.Action != "auto_greeting" || br.ElapsedMs != 12000 {
		t.Fatalf("breach = %+v", br)
	}
	wantEvents(t, e, conv.ID, "greeting/breached/auto_greeting/12000")
}

// With nobody online the greeting goes out at once and says what happens.
func TestGreetingWhenNobodyOnline(t *testing.T) {
	e := newEnv(t)
	sh, _, conv := e.shopper("Ann")
	if conv.State != "queued" {
		t.Fatalf("state = %s", conv.State)
	}
	var got msgBody
	sh.expectBody("message.new", &got)
	if !got.Message.Auto || got.Message.Seq != 1 {
		t.Fatalf("immediate greeting = %+v", got.Message)
	}
}

// One holding reply per turn at 3 s; reassigned at 45 s to the other agent.
func TestHoldingReplyAndReassign(t *testing.T) {
	e := newEnv(t)
	tok1, a1 := e.account("mei@shop.test", "Mei", "agent", 1)
	ag1 := e.agent("agent1", tok1)
	sh, _, conv := e.shopper("Ann")
	ag1.expect("conversation.assigned")
	tok2, a2 := e.account("jie@shop.test", "Jie", "agent", 5)
	ag2 := e.agent("agent2", tok2)

	ag1.send("message.send", conv.ID, map[string]any{"client_msg_id": "hi", "text": "Hi!"})
	ag1.expect("timer.met")
	sh.send("message.send", "", map[string]any{"client_msg_id": "q1", "text": "Is it waterproof?"})
	sh.expect("message.ack")
	ag1.expect("timer.started")

	e.clock.Advance(3 * time.Second)
	var br ruleBody
	ag1.expectBody("rule.breached", &br)
	if br.Rule != "first_response" || br.Action != "holding_reply" {
		t.Fatalf("breach = %+v", br)
	}
	if m := sh.expectFrom("system"); !m.Auto || m.Kind != "system" {
		t.Fatalf("holding reply = %+v", m)
	}
	// A second shopper message in the same turn starts no timer and the
	// turn gets no second holding reply.
	sh.send("message.send", "", map[string]any{"client_msg_id": "q2", "text": "Hello?"})
	sh.expect("message.ack")
	e.clock.Advance(10 * time.Second)
	e.clock.Advance(32 * time.Second) // 45 s from the start of the turn

	ag1.expectBody("rule.breached", &br)
	if br.Action != "reassigned" {
		t.Fatalf("agent1 breach = %+v", br)
	}
	skipped := ag1.sync()
	_ = skipped
	var as convBody
	f, before := ag2.expect("conversation.assigned")
	f.decode(t, &as)
	if as.Conversation.AgentID != a2.ID {
		t.Fatalf("reassigned to %s, want %s (not %s)", as.Conversation.AgentID, a2.ID, a1.ID)
	}
	if count(before, "rule.breached") != 1 {
		t.Fatalf("agent2 frames before assignment: %v", types(before))
	}
	sh.expectBody("conversation.assigned", &as)
	if as.Agent.Name != "Jie" {
		t.Fatalf("shopper told %+v", as.Agent)
	}
	// Messages the shopper got: greeting, the one holding reply, nothing else automatic.
	autos := 0
	for _, f := range sh.sync() {
		if f.Type == "message.new" {
			var m msgBody
			f.decode(t, &m)
			if m.Message.Auto {
				autos++
			}
		}
	}
	if autos != 0 {
		t.Fatalf("%d more automatic messages after the holding reply", autos)
	}
}

// Typing and read receipts reach the other side, with their author.
func TestTypingAndRead(t *testing.T) {
	e := newEnv(t)
	token, a := e.account("mei@shop.test", "Mei", "agent", 5)
	ag := e.agent("agent", token)
	sh, w, conv := e.shopper("Ann")
	ag.expect("conversation.assigned")

	sh.send("typing", "", map[string]any{"on": true})
	var typing struct {
		On     bool `json:"on"`
		Author struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"author"`
	}
	f := ag.expectBody("typing", &typing)
	if !typing.On || typing.Author.Kind != "shopper" || typing.Author.ID != w.VisitorID || f.ConversationID != conv.ID {
		t.Fatalf("agent saw typing %+v on %s", typing, f.ConversationID)
	}
	ag.send("read", conv.ID, map[string]any{"seq": 1})
	var read struct {
		Seq    int64 `json:"seq"`
		Author struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"author"`
	}
	sh.expectBody("read", &read)
	if read.Seq != 1 || read.Author.Kind != "agent" || read.Author.ID != a.ID {
		t.Fatalf("shopper saw read %+v", read)
	}
	// An agent cannot type into a conversation that is not its own (Bob
	// comes before Jie exists, so he is Mei's).
	_, _, otherConv := e.shopper("Bob")
	tok2, _ := e.account("jie@shop.test", "Jie", "agent", 5)
	ag2 := e.agent("agent2", tok2)
	ag2.send("typing", otherConv.ID, map[string]any{"on": true})
	var eb errBody
	ag2.expectBody("error", &eb)
	if eb.Code != "not_found" {
		t.Fatalf("typing into another's conversation: %+v", eb)
	}
}
