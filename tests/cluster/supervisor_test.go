//go:build cluster

package cluster

import (
	"slices"
	"testing"
)

// TestSupervisorSeesCluster: three instances; the shopper on A, the agent
// on B, the supervisor on C. Everything the supervisor is shown comes from
// the other two: the conversation, its timers and breach, the agent's state
// and the cluster's shopper count.
func TestSupervisorSeesCluster(t *testing.T) {
	c := newCluster(t)
	ids := c.accounts(
		acct{"mei@cluster.test", "Mei", "agent", 5},
		acct{"wang@cluster.test", "Wang", "supervisor", 1},
	)
	agentID := ids[0]
	a, b, cc := c.start("A", startOpts{}), c.start("B", startOpts{}), c.start("C", startOpts{})
	supToken := cc.login(t, "wang@cluster.test")
	sup, snap := cc.supervisor(t, "supervisor", supToken)
	if len(snap.Conversations) != 0 {
		t.Fatalf("snapshot of an empty cluster lists %d conversations", len(snap.Conversations))
	}

	agent, _ := b.agent(t, "agent", b.login(t, "mei@cluster.test"))
	shopper, _, conv := a.shopper(t, "shopper")
	agent.expect("conversation.assigned")
	sup.send("conversation.watch", conv.ID, nil)
	sup.waitUntil(wait, "conversation.watching", func(all []frame) bool {
		return slices.ContainsFunc(all, func(f frame) bool { return f.Type == "conversation.watching" && f.ConversationID == conv.ID })
	})
	// The agent greets once the supervisor has seen the greeting timer
	// start (an agent who answers within milliseconds of the assignment
	// meets a timer whose start is never told to supervisors).
	sup.waitUntil(wait, "timer.started greeting", func(all []frame) bool {
		return slices.ContainsFunc(all, func(f frame) bool {
			b, ok := decodeAll[ruleBody](f)
			return ok && f.Type == "timer.started" && f.ConversationID == conv.ID && b.Rule == "greeting"
		})
	})
	ref := agent.say(conv.ID, "a-1", "Welcome! How can I help?")
	if _, _, err := agent.expectFrame("ack", func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref }); err != nil {
		t.Fatal(err)
	}
	shopper.waitUntil(wait, "the greeting", func(all []frame) bool { return hasText(messagesIn(all, conv.ID), "Welcome! How can I help?") })
	shopper.say("", "s-1", "Is the red one in stock?") // and the agent stays silent

	about := func(f frame, typ string) bool { return f.Type == typ && f.ConversationID == conv.ID }
	rule := func(f frame, typ, name, action string) bool {
		b, ok := decodeAll[ruleBody](f)
		return ok && about(f, typ) && b.Rule == name && b.Action == action
	}
	for _, tc := range []struct {
		name  string
		match func(f frame) bool
	}{
		{"agent.updated: the agent on B online", func(f frame) bool {
			b, ok := decodeAll[struct {
				Agent wireAgent `json:"agent"`
			}](f)
			return ok && f.Type == "agent.updated" && b.Agent.ID == agentID && b.Agent.Status == "online" && b.Agent.Sessions >= 1
		}},
		{"conversation.assigned to the agent", func(f frame) bool {
			b, ok := decodeAll[convBody](f)
			return ok && about(f, "conversation.assigned") && b.Agent.ID == agentID
		}},
		{"conversation.updated", func(f frame) bool { return about(f, "conversation.updated") }},
		{"timer.started greeting", func(f frame) bool { return rule(f, "timer.started", "greeting", "") }},
		{"timer.met greeting", func(f frame) bool { return rule(f, "timer.met", "greeting", "") }},
		{"timer.started first_response", func(f frame) bool { return rule(f, "timer.started", "first_response", "") }},
		{"rule.breached holding_reply", func(f frame) bool { return rule(f, "rule.breached", "first_response", "holding_reply") }},
		{"message.new of the shopper on A, watched", func(f frame) bool {
			return about(f, "message.new") && hasText(messagesIn([]frame{f}, conv.ID), "Is the red one in stock?")
		}},
		{"stats.updated counting the shopper on A", func(f frame) bool {
			b, ok := decodeAll[statsBody](f)
			return ok && f.Type == "stats.updated" && b.Stats.ShoppersOnline == 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if all, err := sup.awaitCond(wait, func(all []frame) bool { return slices.ContainsFunc(all, tc.match) }); err != nil {
				t.Fatalf("supervisor on C: %v (got %v)", err, types(all))
			}
		})
	}

	// A supervisor connecting now is shown the cluster as it is.
	_, snap = cc.supervisor(t, "supervisor-2", supToken)
	if !slices.ContainsFunc(snap.Conversations, func(cv wireConv) bool { return cv.ID == conv.ID && cv.AgentID == agentID && cv.State == "assigned" }) {
		t.Errorf("snapshot on C lacks the conversation on A: %+v", snap.Conversations)
	}
	if !slices.ContainsFunc(snap.Agents, func(v wireAgent) bool {
		return v.ID == agentID && v.Status == "online" && v.Sessions >= 1 && v.Load == 1
	}) {
		t.Errorf("snapshot on C lacks the agent on B online with one conversation: %+v", snap.Agents)
	}
	if snap.Stats.ShoppersOnline != 1 {
		t.Errorf("snapshot on C counts %d shoppers online, want the 1 on A", snap.Stats.ShoppersOnline)
	}
}
