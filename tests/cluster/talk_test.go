//go:build cluster

package cluster

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// TestCrossInstanceTalk: a shopper and the agent who serves them sit on
// different instances; the conversation is assigned across them, messages
// go both ways with acks and one gapless seq, and typing is relayed.
func TestCrossInstanceTalk(t *testing.T) {
	for _, tc := range []struct {
		name             string
		shopperOn, agent int // instance indexes
	}{
		{"shopper on A, agent on B", 0, 1},
		{"shopper on B, agent on A", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			agentID := c.accounts(acct{"mei@cluster.test", "Mei", "agent", 5})[0]
			ins := []*instance{c.start("A", startOpts{}), c.start("B", startOpts{})}
			sIn, aIn := ins[tc.shopperOn], ins[tc.agent]
			token := aIn.login(t, "mei@cluster.test")
			agent, _ := aIn.agent(t, "agent", token)
			shopper, _, conv := sIn.shopper(t, "shopper")

			var sa, aa convBody
			shopper.expectBody("conversation.assigned", &sa)
			if sa.Agent.ID != agentID || sa.Conversation.ID != conv.ID {
				t.Fatalf("shopper: assigned %s to %s, want %s to %s", sa.Conversation.ID, sa.Agent.ID, conv.ID, agentID)
			}
			agent.expectBody("conversation.assigned", &aa)
			if aa.Conversation.ID != conv.ID || aa.Conversation.AgentID != agentID {
				t.Fatalf("agent: assigned %+v, want %s", aa.Conversation, conv.ID)
			}

			exchanges := []struct{ from, text string }{
				{"agent", "Hello, welcome to the shop!"},
				{"shopper", "Do you have this jacket in blue?"},
				{"agent", "We do. Which size?"},
				{"shopper", "M, please."},
				{"shopper", "And gift wrap?"},
				{"agent", "Done: blue, M, gift-wrapped."},
			}
			for i, x := range exchanges {
				from, to, convArg := agent, shopper, conv.ID
				if x.from == "shopper" {
					from, to, convArg = shopper, agent, "" // a shopper may omit it
				}
				cmid := fmt.Sprintf("%s-%d", x.from, i)
				ref := from.say(convArg, cmid, x.text)
				ackF, _, err := from.expectFrame("ack "+ref, func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref })
				if err != nil {
					t.Fatal(err)
				}
				var ack ackBody
				ackF.decode(t, &ack)
				if ack.ClientMsgID != cmid || ack.Seq < 1 || ackF.ConversationID != conv.ID {
					t.Fatalf("%s: ack %+v for %s in %s", x.from, ack, cmid, ackF.ConversationID)
				}
				all := to.waitUntil(wait, "message "+cmid, func(all []frame) bool { return hasText(messagesIn(all, conv.ID), x.text) })
				for _, m := range messagesIn(all, conv.ID) {
					if m.Text == x.text && (m.Seq != ack.Seq || m.ID != ack.MessageID || m.Author.Kind != x.from) {
						t.Errorf("%s's message arrived as seq %d id %s by %s, acked as seq %d id %s", x.from, m.Seq, m.ID, m.Author.Kind, ack.Seq, ack.MessageID)
					}
				}
			}

			for _, tt := range []struct {
				from, to *client
				convArg  string
				kind     string
			}{
				{shopper, agent, "", "shopper"},
				{agent, shopper, conv.ID, "agent"},
			} {
				tt.from.send("typing", tt.convArg, map[string]bool{"on": true})
				f, _, err := tt.to.expectFrame("typing", func(f frame) bool { return f.Type == "typing" })
				if err != nil {
					t.Fatal(err)
				}
				var b typingBody
				f.decode(t, &b)
				if !b.On || b.Author.Kind != tt.kind || f.ConversationID != conv.ID {
					t.Errorf("%s's typing arrived as %+v in %q", tt.kind, b, f.ConversationID)
				}
			}

			shopper.sync()
			agent.sync()
			stored := aIn.stored(t, conv.ID, token)
			for i, m := range stored {
				if m.Seq != int64(i+1) {
					t.Fatalf("stored seqs are not 1..n: %v", seqsOf(stored))
				}
			}
			if len(stored) < len(exchanges) {
				t.Fatalf("stored %d messages, sent %d", len(stored), len(exchanges))
			}
			last := int64(len(stored))
			checkOnce(t, "shopper", messagesIn(shopper.all(), conv.ID), 1, last)
			checkOnce(t, "agent", messagesIn(agent.all(), conv.ID), 1, last)
		})
	}
}

// TestFirstMessagesCross: in a new conversation the agent (on B) writes
// and, a moment later, the shopper (on A). The shopper's own message (seq 2)
// reaches its session at once; the agent's (seq 1) comes through Redis,
// which is 100 ms away from A here. The shopper must still get both, in
// seq order.
func TestFirstMessagesCross(t *testing.T) {
	const conversations = 2
	c := newCluster(t)
	c.accounts(acct{"mei@cluster.test", "Mei", "agent", conversations})
	u, err := url.Parse(c.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	px := startProxy(t, u.Host, 100*time.Millisecond)
	a := c.start("A", startOpts{redis: px.redisURL(c.redisURL)})
	b := c.start("B", startOpts{})
	token := b.login(t, "mei@cluster.test")
	agent, _ := b.agent(t, "agent", token)
	for i := range conversations {
		shopper, _, conv := a.shopper(t, fmt.Sprintf("shopper%d", i))
		shopper.expect("conversation.assigned")
		shopper.sync() // its session on A handles frames now
		agent.waitUntil(wait, "the assignment", func(all []frame) bool {
			return slices.ContainsFunc(all, func(f frame) bool { return f.Type == "conversation.assigned" && f.ConversationID == conv.ID })
		})
		ref := agent.say(conv.ID, fmt.Sprintf("a-%d", i), "Hello, welcome!")
		ackF, _, err := agent.expectFrame("ack", func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref })
		if err != nil {
			t.Fatal(err)
		}
		shopper.say("", "s-1", "Hi, a question")
		if _, err := shopper.awaitCond(wait, func(all []frame) bool {
			msgs := messagesIn(all, conv.ID)
			return hasText(msgs, "Hello, welcome!") && hasText(msgs, "Hi, a question")
		}); err != nil {
			var ack ackBody
			ackF.decode(t, &ack)
			t.Errorf("shopper%d never got the agent's message (seq %d): %v: received %s; stored %s", i, ack.Seq, err,
				describe(messagesIn(shopper.all(), conv.ID)), describe(b.stored(t, conv.ID, token)))
			continue
		}
		shopper.sync()
		checkOnce(t, fmt.Sprintf("shopper%d", i), messagesIn(shopper.all(), conv.ID), 1, int64(len(b.stored(t, conv.ID, token))))
	}
}
