//go:build cluster

package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// TestReadyzAndRedisOutage: instance A reaches Redis through a proxy that
// the test cuts. While cut, A says so on /readyz, refuses new sessions with
// 503, and its connected shopper and agent keep talking (acked, stored).
// When Redis is back, A is ready again, takes new sessions, and a session
// on B that follows the conversation gets what A could not publish.
func TestReadyzAndRedisOutage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pastLease bool // the cut lasts until B has given A up for dead
	}{
		{"short outage", false},
		{"outage past the instance lease", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			ids := c.accounts(
				acct{"mei@cluster.test", "Mei", "agent", 5},
				acct{"wang@cluster.test", "Wang", "supervisor", 1},
			)
			agentID := ids[0]
			u, err := url.Parse(c.redisURL)
			if err != nil {
				t.Fatal(err)
			}
			px := startProxy(t, u.Host, 0)
			a := c.start("A", startOpts{redis: px.redisURL(c.redisURL)})
			b := c.start("B", startOpts{})
			agentToken := a.login(t, "mei@cluster.test")
			supToken := b.login(t, "wang@cluster.test")
			agent, _ := a.agent(t, "agent", agentToken)
			shopper, _, conv := a.shopper(t, "shopper")
			shopper.expect("conversation.assigned")
			agent.expect("conversation.assigned")
			talk(t, agent, shopper, conv.ID, "a-0", "Hello! How can I help?")

			// A supervisor on B follows the conversation.
			watcher, _ := b.supervisor(t, "watcher", supToken)
			watcher.send("conversation.watch", conv.ID, nil)
			var watching struct {
				Messages []wireMsg `json:"messages"`
			}
			watcher.expectBody("conversation.watching", &watching)
			watchedFrom := int64(len(watching.Messages)) + 1

			px.cutAll()
			eventually(t, wait, "/readyz on A names the broker", func() (bool, string) {
				status, body := a.readyz()
				var r struct {
					Checks map[string]string `json:"checks"`
				}
				_ = json.Unmarshal([]byte(body), &r)
				broker, named := r.Checks["broker"]
				return status == http.StatusServiceUnavailable && named && broker != "ok" && r.Checks["store"] == "ok", fmt.Sprintf("%d %s", status, body)
			})
			if st, body := a.upgradeStatus(t, "/ws/shopper", url.Values{"name": {"late"}}); st != http.StatusServiceUnavailable {
				t.Errorf("a new shopper on A during the outage: status %d %s, want 503", st, body)
			}
			if tc.pastLease {
				eventually(t, takeover, "B gives A up", func() (bool, string) {
					for _, v := range b.agents(t, supToken) {
						if v.ID == agentID {
							return v.Sessions == 0, fmt.Sprintf("B counts %d consoles of the agent", v.Sessions)
						}
					}
					return false, "the agent is not listed on B"
				})
			}

			// Local sessions keep talking: acked, stored and delivered on A.
			outage := []struct {
				from, text string
			}{
				{"shopper", "outage 1: are you there?"},
				{"agent", "outage 2: yes, still here"},
				{"shopper", "outage 3: great"},
				{"agent", "outage 4: anything else?"},
			}
			for i, x := range outage {
				from, to := agent, shopper
				if x.from == "shopper" {
					from, to = shopper, agent
				}
				talk(t, from, to, conv.ID, fmt.Sprintf("o-%d", i), x.text)
			}
			stored := a.stored(t, conv.ID, agentToken)
			for _, x := range outage {
				if !hasText(stored, x.text) {
					t.Errorf("not stored during the outage: %q", x.text)
				}
			}

			px.restore()
			eventually(t, 2*wait, "/readyz on A is 200 again", func() (bool, string) {
				status, body := a.readyz()
				return status == http.StatusOK, fmt.Sprintf("%d %s", status, body)
			})
			a.shopper(t, "shopper-2") // new sessions are taken again

			// What A could not publish reaches B's watcher, with no new message.
			if _, err := watcher.awaitCond(2*wait, func(all []frame) bool {
				msgs := messagesIn(all, conv.ID)
				return !slices.ContainsFunc(outage, func(x struct{ from, text string }) bool { return !hasText(msgs, x.text) })
			}); err != nil {
				t.Errorf("the watcher on B did not get the outage's messages after Redis returned: %v; got seqs %v", err, seqsOf(messagesIn(watcher.all(), conv.ID)))
			}

			if tc.pastLease {
				seen := "the agent is not listed on B"
				if !poll(takeover, 100*time.Millisecond, func() bool {
					for _, v := range b.agents(t, supToken) {
						if v.ID == agentID {
							seen = fmt.Sprintf("B sees the agent %s with %d consoles", v.Status, v.Sessions)
							return v.Sessions >= 1 && v.Status == "online"
						}
					}
					return false
				}) {
					t.Errorf("the agent's console on A does not count again after the outage: %s", seen)
				}
				// It keeps its conversation past the reconnect grace (3 s).
				if poll(5*time.Second, 250*time.Millisecond, func() bool {
					var out struct {
						Conversation wireConv `json:"conversation"`
					}
					st := b.api(t, http.MethodGet, "/api/v1/conversations/"+conv.ID, supToken, nil, &out)
					return st != http.StatusOK || out.Conversation.AgentID != agentID
				}) {
					t.Errorf("the conversation left the agent whose console stayed connected on A")
				}
				for _, f := range agent.all() {
					if f.Type == "conversation.transferred" {
						t.Errorf("the agent on A was told its conversation was transferred: %s", f.Body)
					}
				}
			}

			shopper.sync()
			agent.sync()
			stored = a.stored(t, conv.ID, agentToken)
			last := int64(len(stored))
			checkOnce(t, "shopper on A", messagesIn(shopper.all(), conv.ID), 1, last)
			checkOnce(t, "agent on A", messagesIn(agent.all(), conv.ID), 1, last)
			if !t.Failed() {
				checkOnce(t, "watcher on B", messagesIn(watcher.all(), conv.ID), watchedFrom, last)
			}
		})
	}
}

// talk sends a message from one side and waits for its ack and for the
// other side to receive it.
func talk(t testing.TB, from, to *client, convID, clientMsgID, text string) {
	t.Helper()
	ref := from.say(convID, clientMsgID, text)
	if _, _, err := from.expectFrame("ack "+clientMsgID, func(f frame) bool { return f.Type == "message.ack" && f.Ref == ref }); err != nil {
		t.Fatal(err)
	}
	to.waitUntil(wait, "message "+clientMsgID, func(all []frame) bool { return hasText(messagesIn(all, convID), text) })
}
