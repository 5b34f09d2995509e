package chat_test

import (
	"net/url"
	"strings"
	"testing"
)

// A shopper drops, the agent writes twice, the shopper comes back with its
// token and asks for what it missed: each missed message arrives once.
func TestResumeAfterDisconnect(t *testing.T) {
	e := newEnv(t)
	token, _ := e.account("mei@shop.test", "Mei", "agent", 5)
	ag := e.agent("agent", token)
	sh, w, conv := e.shopper("Ann")
	ag.expect("conversation.assigned")
	ag.send("message.send", conv.ID, map[string]any{"client_msg_id": "a1", "text": "one"})
	var got msgBody
	sh.expectBody("message.new", &got)
	sh.conn.Close()

	ag.send("message.send", conv.ID, map[string]any{"client_msg_id": "a2", "text": "two"})
	ag.expect("message.ack")
	ag.send("message.send", conv.ID, map[string]any{"client_msg_id": "a3", "text": "three"})
	ag.expect("message.ack")

	back := e.dial("back", "/ws/shopper", url.Values{"visitor_id": {w.VisitorID}, "visitor_token": {w.VisitorToken}})
	var again welcomeBody
	back.expectBody("welcome", &again)
	if again.Conversation == nil || again.Conversation.ID != conv.ID || again.VisitorToken != "" {
		t.Fatalf("welcome back = %+v", again)
	}
	back.send("hello", "", map[string]any{"resume": []map[string]any{{"conversation_id": conv.ID, "last_seq": 1}}})
	ag.send("message.send", conv.ID, map[string]any{"client_msg_id": "a4", "text": "four"})
	// The replay and the live message may interleave; each comes once.
	bySeq := map[int64]string{}
	for len(bySeq) < 3 {
		back.expectBody("message.new", &got)
		if _, dup := bySeq[got.Message.Seq]; dup {
			t.Fatalf("seq %d twice", got.Message.Seq)
		}
		bySeq[got.Message.Seq] = got.Message.Text
	}
	if bySeq[2] != "two" || bySeq[3] != "three" || bySeq[4] != "four" {
		t.Fatalf("after resume got %v", bySeq)
	}
	var texts []string
	if n := count(back.sync(), "message.new"); n != 0 {
		t.Fatalf("%d duplicate messages after resume", n)
	}
	// A second hello from further back replays from there, once.
	back.send("hello", "", map[string]any{"resume": []map[string]any{{"conversation_id": conv.ID, "last_seq": 0}}})
	texts = nil
	for _, f := range back.sync() {
		if f.Type == "message.new" {
			f.decode(t, &got)
			texts = append(texts, got.Message.Text)
		}
	}
	if strings.Join(texts, ",") != "one" {
		t.Fatalf("replay from 0 got %v, want the one message not sent on this socket", texts)
	}
}

// A re-sent client_msg_id gets the same ack and stores nothing new.
func TestIdempotentSend(t *testing.T) {
	e := newEnv(t)
	ag, sh, _ := e.assigned()
	var first, second ackBody
	sh.send("message.send", "", map[string]any{"client_msg_id": "same", "text": "hello"})
	f := sh.expectBody("message.ack", &first)
	id := sh.send("message.send", "", map[string]any{"client_msg_id": "same", "text": "hello"})
	g := sh.expectBody("message.ack", &second)
	if first != second || g.Ref != id || f.Ref == g.Ref {
		t.Fatalf("acks %+v (ref %s) and %+v (ref %s)", first, f.Ref, second, g.Ref)
	}
	if n := count(ag.sync(), "message.new"); n != 1 {
		t.Fatalf("agent got %d messages, want 1", n)
	}
}

// Nobody reads another shopper's conversation.
func TestVisitorTokens(t *testing.T) {
	e := newEnv(t)
	_, w, conv := e.shopper("Ann")
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"wrong token", url.Values{"visitor_id": {w.VisitorID}, "visitor_token": {"guess"}}},
		{"missing token", url.Values{"visitor_id": {w.VisitorID}}},
		{"unknown visitor", url.Values{"visitor_id": {"00000000-0000-0000-0000-000000000000"}, "visitor_token": {w.VisitorToken}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial("intruder", "/ws/shopper", tc.q)
			var eb errBody
			f, before := c.expect("error")
			f.decode(t, &eb)
			if eb.Code != "unauthorized" || len(before) != 0 {
				t.Fatalf("error %+v after %v", eb, types(before))
			}
			if code := c.expectClose(); code != 1008 {
				t.Fatalf("close code %d, want 1008", code)
			}
			if strings.Contains(string(f.Body), conv.ID) {
				t.Fatal("the error leaks the conversation")
			}
		})
	}
	// A second shopper cannot resume the first one's conversation.
	other, _, _ := e.shopper("Bob")
	other.send("hello", "", map[string]any{"resume": []map[string]any{{"conversation_id": conv.ID, "last_seq": 0}}})
	var eb errBody
	other.expectBody("error", &eb)
	if eb.Code != "not_found" {
		t.Fatalf("resume of another's conversation: %+v", eb)
	}
}
