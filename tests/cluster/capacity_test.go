//go:build cluster

package cluster

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCapacityAcrossInstances: one agent with room for 3; 12 shoppers
// arrive at the same moment, half on each instance. Exactly 3 are assigned
// to the agent, the other 9 wait at distinct places 1..9, and the agent's
// load never goes over its capacity.
func TestCapacityAcrossInstances(t *testing.T) {
	const capacity, shoppers = 3, 12
	c := newCluster(t)
	ids := c.accounts(
		acct{"mei@cluster.test", "Mei", "agent", capacity},
		acct{"wang@cluster.test", "Wang", "supervisor", 1},
	)
	agentID := ids[0]
	a, b := c.start("A", startOpts{}), c.start("B", startOpts{})
	ins := []*instance{a, b}
	agentToken := a.login(t, "mei@cluster.test")
	supToken := b.login(t, "wang@cluster.test")
	agent, _ := a.agent(t, "agent", agentToken)

	// A supervisor's view of the agent's load, sampled all along.
	stop := make(chan struct{})
	sampled := make(chan []int, 1)
	go func() {
		var loads []int
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var out struct {
				Agents []wireAgent `json:"agents"`
			}
			if st, err := b.do(http.MethodGet, "/api/v1/agents", supToken, nil, &out); err == nil && st == http.StatusOK {
				for _, v := range out.Agents {
					if v.ID == agentID {
						loads = append(loads, v.Load)
					}
				}
			}
			select {
			case <-stop:
				sampled <- loads
				return
			case <-tick.C:
			}
		}
	}()
	stopSampling := sync.OnceValue(func() []int {
		close(stop)
		return <-sampled
	})
	t.Cleanup(func() { stopSampling() })

	clients := make([]*client, shoppers)
	errs := make([]error, shoppers)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range shoppers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			name := fmt.Sprintf("shopper%d", i)
			cl, err := dialWS(name, ins[i%2].url, "/ws/shopper", url.Values{"name": {name}, "locale": {"en"}})
			if err != nil {
				errs[i] = err
				return
			}
			clients[i] = cl
			_, errs[i] = cl.awaitCond(wait, func(all []frame) bool {
				return slices.ContainsFunc(all, func(f frame) bool { return f.Type == "conversation.assigned" || f.Type == "conversation.queued" })
			})
		}()
	}
	close(gate)
	wg.Wait()
	for i, cl := range clients {
		if cl != nil {
			cl.attach(t)
		}
		if errs[i] != nil {
			t.Errorf("shopper%d: %v", i, errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Each shopper's conversation and latest state.
	type state struct {
		conv     string
		assigned string // agent id
		position int    // latest queue position, 0 if never queued
	}
	stateOf := func(cl *client) state {
		var s state
		for _, f := range cl.all() {
			switch f.Type {
			case "conversation.opened":
				s.conv = f.ConversationID
			case "conversation.assigned":
				if body, ok := decodeAll[convBody](f); ok {
					s.assigned = body.Agent.ID
				}
			case "conversation.queued":
				if body, ok := decodeAll[queuedBody](f); ok {
					s.position = body.Position
				}
			}
		}
		return s
	}
	var assigned []string
	for i, cl := range clients {
		s := stateOf(cl)
		switch {
		case s.assigned != "" && s.position != 0:
			t.Errorf("shopper%d was both queued (%d) and assigned", i, s.position)
		case s.assigned != "" && s.assigned != agentID:
			t.Errorf("shopper%d assigned to %s, want %s", i, s.assigned, agentID)
		case s.assigned != "":
			assigned = append(assigned, s.conv)
		}
	}
	if len(assigned) != capacity {
		t.Fatalf("%d shoppers assigned, want exactly %d", len(assigned), capacity)
	}
	// Places may be told again while the queue settles: the latest ones
	// must end up 1..9, once each.
	latest := func() []int {
		var places []int
		for _, cl := range clients {
			if s := stateOf(cl); s.assigned == "" {
				places = append(places, s.position)
			}
		}
		slices.Sort(places)
		return places
	}
	if !poll(wait, 100*time.Millisecond, func() bool {
		places := latest()
		for i, p := range places {
			if p != i+1 {
				return false
			}
		}
		return len(places) == shoppers-capacity
	}) {
		var open struct {
			Conversations []wireConv `json:"conversations"`
		}
		b.api(t, http.MethodGet, "/api/v1/conversations?state=open", supToken, nil, &open)
		actual := map[string]int{}
		for _, cv := range open.Conversations {
			actual[cv.ID] = cv.QueuePosition
		}
		var told []string
		for i, cl := range clients {
			s := stateOf(cl)
			if s.assigned != "" {
				continue
			}
			var history []int
			for _, f := range cl.all() {
				if body, ok := decodeAll[queuedBody](f); ok && f.Type == "conversation.queued" {
					history = append(history, body.Position)
				}
			}
			told = append(told, fmt.Sprintf("shopper%d on %s told %v, in line at %d", i, ins[i%2].name, history, actual[s.conv]))
		}
		t.Fatalf("the waiting shoppers' latest places are %v, want 1..%d once each:\n%s", latest(), shoppers-capacity, strings.Join(told, "\n"))
	}

	agent.sync()
	var toAgent []string
	for _, f := range agent.all() {
		if f.Type == "conversation.assigned" {
			toAgent = append(toAgent, f.ConversationID)
		}
	}
	slices.Sort(toAgent)
	slices.Sort(assigned)
	if !slices.Equal(toAgent, assigned) {
		t.Errorf("the agent was told of %v, the shoppers of %v", toAgent, assigned)
	}

	loads := stopSampling()
	if len(loads) == 0 {
		t.Fatal("no load sampled")
	}
	if m := slices.Max(loads); m > capacity {
		t.Errorf("the agent's load reached %d (capacity %d); samples %v", m, capacity, loads)
	}
	for _, in := range ins {
		for _, v := range in.agents(t, supToken) {
			if v.ID == agentID && v.Load != capacity {
				t.Errorf("%s: the agent's load is %d, want %d", in.name, v.Load, capacity)
			}
		}
	}

	var open struct {
		Conversations []wireConv `json:"conversations"`
	}
	if st := b.api(t, http.MethodGet, "/api/v1/conversations?state=open", supToken, nil, &open); st != http.StatusOK {
		t.Fatalf("open conversations: status %d", st)
	}
	byState := map[string]int{}
	for _, cv := range open.Conversations {
		byState[cv.State]++
	}
	if byState["assigned"] != capacity || byState["queued"] != shoppers-capacity {
		t.Errorf("stored states %v, want %d assigned and %d queued", byState, capacity, shoppers-capacity)
	}

	// A second console, on the other instance, is welcomed with the three.
	_, w := b.agent(t, "agent-again", agentToken)
	var got []string
	for _, cv := range w.Conversations {
		got = append(got, cv.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, assigned) {
		t.Errorf("welcome on reconnect lists %v, want %v", got, assigned)
	}
}
