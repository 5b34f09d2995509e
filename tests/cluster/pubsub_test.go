//go:build cluster

package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPubSubKillLosesNothing: Redis drops every pub/sub connection of the
// instances (CLIENT KILL TYPE pubsub) in the middle of a stream of 50
// messages each way; every message still arrives once on the other side,
// the instances catching their sessions up from the store.
func TestPubSubKillLosesNothing(t *testing.T) {
	const n = 50
	for _, tc := range []struct {
		name   string
		killAt []int // kill after this many messages each way
	}{
		{"once mid-stream", []int{25}},
		{"twice", []int{10, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			c.accounts(acct{"mei@cluster.test", "Mei", "agent", 5})
			a, b := c.start("A", startOpts{}), c.start("B", startOpts{})
			agent, _ := b.agent(t, "agent", b.login(t, "mei@cluster.test"))
			shopper, _, conv := a.shopper(t, "shopper")
			agent.expect("conversation.assigned")
			// The agent greets first: a stream that starts with both sides
			// writing at once is TestFirstMessagesCross's case.
			talk(t, agent, shopper, conv.ID, "a-hello", "Hello!")
			if before := c.pubsubClients(t); len(before) < 2 {
				t.Fatalf("want a pub/sub connection from each instance, Redis lists %d named %s", len(before), c.name)
			}

			// 9 frames a second per connection: under the rate limit of 10.
			tick := time.NewTicker(110 * time.Millisecond)
			defer tick.Stop()
			kills := 0
			for i := range n {
				<-tick.C
				if _, err := shopper.trySend("message.send", "", map[string]string{"client_msg_id": fmt.Sprintf("s-%d", i), "text": fmt.Sprintf("shopper %d", i)}); err != nil {
					t.Fatal(err)
				}
				if _, err := agent.trySend("message.send", conv.ID, map[string]string{"client_msg_id": fmt.Sprintf("a-%d", i), "text": fmt.Sprintf("agent %d", i)}); err != nil {
					t.Fatal(err)
				}
				if slices.Contains(tc.killAt, i+1) {
					if killed := c.killPubSub(t); killed < 2 {
						t.Fatalf("CLIENT KILL TYPE pubsub killed %d of the instances' connections, want at least 2", killed)
					}
					kills++
				}
			}
			if kills != len(tc.killAt) {
				t.Fatalf("killed %d times, want %d", kills, len(tc.killAt))
			}
			eventually(t, wait, "both instances resubscribe", func() (bool, string) {
				got := c.pubsubClients(t)
				return len(got) >= 2, fmt.Sprintf("%d pub/sub connections", len(got))
			})

			for _, side := range []struct {
				who      string
				me, peer *client
			}{
				{"shopper", shopper, agent},
				{"agent", agent, shopper},
			} {
				side.me.waitUntil(wait, "every ack", func(all []frame) bool { return len(acksIn(all)) >= n })
				if _, err := side.peer.awaitCond(2*wait, func(all []frame) bool {
					return len(missing(messagesIn(all, conv.ID), side.who, n)) == 0
				}); err != nil {
					got := messagesIn(side.peer.all(), conv.ID)
					var lost []string
					for _, m := range b.stored(t, conv.ID, agentToken(t, b)) {
						if slices.Contains(missing(got, side.who, n), m.Text) {
							lost = append(lost, fmt.Sprintf("seq %d %q", m.Seq, m.Text))
						}
					}
					t.Fatalf("the %s's messages did not all reach the other side: %v; missing %v; received seqs %v", side.who, err, lost, seqsOf(got))
				}
			}
			shopper.sync()
			agent.sync()
			stored := b.stored(t, conv.ID, agentToken(t, b))
			last := int64(len(stored))
			if last < 2*n {
				t.Fatalf("stored %d messages, want at least %d", last, 2*n)
			}
			for i, m := range stored {
				if m.Seq != int64(i+1) {
					t.Fatalf("stored seqs are not 1..n: %v", seqsOf(stored))
				}
			}
			checkOnce(t, "shopper", messagesIn(shopper.all(), conv.ID), 1, last)
			checkOnce(t, "agent", messagesIn(agent.all(), conv.ID), 1, last)
			for _, side := range []struct {
				who string
				cl  *client
			}{{"shopper", shopper}, {"agent", agent}} {
				seqs := map[int64]string{}
				for id, seq := range acksIn(side.cl.all()) {
					if other, dup := seqs[seq]; dup {
						t.Errorf("%s: %s and %s acked with the same seq %d", side.who, other, id, seq)
					}
					seqs[seq] = id
				}
			}
		})
	}
}

// agentToken logs the test's agent in again, for API reads.
func agentToken(t testing.TB, in *instance) string {
	t.Helper()
	return in.login(t, "mei@cluster.test")
}

// pubsubClients lists the ids of the instances' pub/sub connections.
func (c *cluster) pubsubClients(t testing.TB) []string {
	t.Helper()
	ctx, cancel := ctxWait()
	defer cancel()
	list, err := c.rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		fields := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			fields[k] = v
		}
		// A pub/sub connection has subscriptions (sub) or is flagged P.
		if fields["name"] == c.name && (strings.Contains(fields["flags"], "P") || fields["sub"] != "0" && fields["sub"] != "") {
			ids = append(ids, fields["id"])
		}
	}
	return ids
}

// killPubSub is CLIENT KILL TYPE pubsub limited to this test's instances
// (other users of the Redis keep theirs); it returns how many it killed.
func (c *cluster) killPubSub(t testing.TB) int {
	t.Helper()
	ctx, cancel := ctxWait()
	defer cancel()
	killed := 0
	for _, id := range c.pubsubClients(t) {
		n, err := c.rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub", "ID", id).Int()
		if err != nil {
			t.Fatalf("CLIENT KILL TYPE pubsub ID %s: %v", id, err)
		}
		killed += n
	}
	return killed
}

// missing lists the texts "<who> 0".."<who> n-1" not among msgs.
func missing(msgs []wireMsg, who string, n int) []string {
	var out []string
	for i := range n {
		text := fmt.Sprintf("%s %d", who, i)
		if !slices.ContainsFunc(msgs, func(m wireMsg) bool { return m.Text == text && m.Author.Kind == who }) {
			out = append(out, text)
		}
	}
	return out
}
