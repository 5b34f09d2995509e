//go:build cluster

package cluster

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// takeover bounds how long the survivors take to notice a dead instance
// and act on its deadlines: the instance lease (5 s) and a heartbeat (1 s),
// with room for a -race build.
const takeover = 15 * time.Second

// TestKillInstanceMovesTimers: the shopper's instance A dies (SIGKILL)
// while its conversation's deadlines are armed there; the agent on B stays
// silent. B takes the deadlines over: each automatic message goes out
// exactly once. The shopper then resumes on B and gets every message it
// missed, once each, in seq order.
func TestKillInstanceMovesTimers(t *testing.T) {
	for _, tc := range []struct {
		name          string
		agentGreets   bool           // the agent greets before A dies
		shopperWrites bool           // a shopper turn is running when A dies
		consoleOnA    bool           // the agent has a second console on A
		want          map[string]int // automatic messages by script category
	}{
		{"holding reply", true, true, false, map[string]int{"holding": 1, "greeting": 0}},
		{"auto greeting", false, false, false, map[string]int{"holding": 0, "greeting": 1}},
		// A shopper who writes before anyone greeted gets the holding reply
		// at its point and the greeting at the auto-greet point, once each.
		{"holding reply, then the greeting", false, true, false, map[string]int{"holding": 1, "greeting": 1}},
		// The same as the first with one of the agent's consoles on A.
		{"holding reply, the agent also on A", true, true, true, map[string]int{"holding": 1, "greeting": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			c.accounts(acct{"mei@cluster.test", "Mei", "agent", 5})
			a, b := c.start("A", startOpts{}), c.start("B", startOpts{})
			token := b.login(t, "mei@cluster.test")
			category := map[string]string{}
			for _, cat := range []string{"holding", "greeting"} {
				for id := range b.scriptIDs(t, token, cat) {
					category[id] = cat
				}
			}
			agent, _ := b.agent(t, "agent", token)
			if tc.consoleOnA {
				a.agent(t, "agent-on-A", token)
			}
			shopper, w, conv := a.shopper(t, "shopper")
			shopper.expect("conversation.assigned")
			agent.expect("conversation.assigned")
			if tc.agentGreets {
				ref := agent.say(conv.ID, "a-0", "Hi, welcome!")
				if _, _, err := agent.expectFrame("ack", func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref }); err != nil {
					t.Fatal(err)
				}
				shopper.waitUntil(wait, "the greeting", func(all []frame) bool { return hasText(messagesIn(all, conv.ID), "Hi, welcome!") })
			}
			if tc.shopperWrites {
				ref := shopper.say("", "s-1", "Is this still in stock?")
				if _, _, err := shopper.expectFrame("ack", func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref }); err != nil {
					t.Fatal(err)
				}
			}
			a.kill()
			seen := messagesIn(shopper.all(), conv.ID)
			lastSeen := int64(len(seen))
			checkOnce(t, "shopper before the kill", seen, 1, lastSeen)

			autos := func() map[string]int {
				n := map[string]int{}
				for _, m := range b.stored(t, conv.ID, token) {
					if m.Auto {
						n[category[m.ScriptID]]++
					}
				}
				return n
			}
			eventually(t, takeover, "B sends the automatic messages", func() (bool, string) {
				got := autos()
				for cat, n := range tc.want {
					if got[cat] < n {
						return false, fmt.Sprintf("automatic messages %v, want %v; stored %s", got, tc.want, describe(b.stored(t, conv.ID, token)))
					}
				}
				return true, ""
			})
			// Exactly once: nothing more comes in the next few seconds
			// (another re-arm or a second instance acting on it).
			if poll(3*time.Second, 200*time.Millisecond, func() bool {
				got := autos()
				for cat, n := range tc.want {
					if got[cat] != n {
						return true
					}
				}
				return len(got) > len(tc.want)
			}) {
				t.Fatalf("automatic messages %v, want exactly %v", autos(), tc.want)
			}

			// The agent answers while the shopper is away, then the shopper
			// comes back on B and asks for what it missed.
			ref := agent.say(conv.ID, "a-1", "Sorry for the wait!")
			if _, _, err := agent.expectFrame("ack", func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref }); err != nil {
				t.Fatal(err)
			}
			stored := b.stored(t, conv.ID, token)
			last := int64(len(stored))
			back := b.dial(t, "shopper-back", "/ws/shopper", url.Values{
				"visitor_id": {w.VisitorID}, "visitor_token": {w.VisitorToken}, "name": {"shopper"}, "locale": {"en"},
			})
			var again shopperWelcome
			back.expectBody("welcome", &again)
			if again.Conversation == nil || again.Conversation.ID != conv.ID || again.Conversation.LastSeq != last {
				t.Fatalf("welcome on B: conversation %+v, want %s at seq %d", again.Conversation, conv.ID, last)
			}
			back.send("hello", "", map[string]any{"resume": []map[string]any{{"conversation_id": conv.ID, "last_seq": lastSeen}}})
			back.waitUntil(wait, "the missed messages", func(all []frame) bool {
				return len(messagesIn(all, conv.ID)) >= int(last-lastSeen)
			})
			back.sync()
			ref = agent.say(conv.ID, "a-2", "Still there?")
			if _, _, err := agent.expectFrame("ack", func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref }); err != nil {
				t.Fatal(err)
			}
			back.waitUntil(wait, "a live message after the resume", func(all []frame) bool {
				return hasText(messagesIn(all, conv.ID), "Still there?")
			})
			back.sync()
			checkOnce(t, "shopper resumed on B", messagesIn(back.all(), conv.ID), lastSeen+1, last+1)
			agent.sync()
			checkOnce(t, "agent on B", messagesIn(agent.all(), conv.ID), 1, last+1)
		})
	}
}

// describe lists messages briefly, for failure messages.
func describe(msgs []wireMsg) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n  seq %d %s auto=%v script=%q %q", m.Seq, m.Author.Kind, m.Auto, m.ScriptID, m.Text)
	}
	return b.String()
}
