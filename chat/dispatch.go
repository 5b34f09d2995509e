package chat

import (
	"sync"
	"time"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// dispatcher is this instance's view of who can take shoppers: every
// account's presence and load, and the one queue of waiting conversations.
// Picking an agent and counting the load happen under one lock, so capacity
// always holds. The routing decisions themselves are routing's, which is pure.
type dispatcher struct {
	mu       sync.Mutex
	agents   map[string]*presence
	order    []string        // account ids in creation order, for stable routing
	scratch  []routing.Agent // reused by every decision
	queue    routing.Queue
	handling routing.Handling
	sentPos  map[string]int // last queue position told to each waiting shopper
}

// presence is one account's live state.
type presence struct {
	agent       store.Agent
	status      routing.Status
	chosen      bool // the status came from status.set, not from connecting
	sessions    int
	load        int
	idleSince   time.Time
	onlineSince time.Time
	grace       Timer
}

func newDispatcher() *dispatcher {
	return &dispatcher{agents: make(map[string]*presence), sentPos: make(map[string]int)}
}

// upsert adds an account or refreshes its profile (skills, capacity, role).
func (d *dispatcher) upsert(a store.Agent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.agents[a.ID]; ok {
		p.agent = a
		return
	}
	d.agents[a.ID] = &presence{agent: a, status: routing.Offline}
	d.order = append(d.order, a.ID)
}

// connect counts a new session of an agent; it comes online unless it chose
// another status. It returns the grace timer to stop, if one ran.
func (d *dispatcher) connect(id string, now time.Time) (cameOnline bool, grace Timer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return false, nil
	}
	p.sessions++
	grace, p.grace = p.grace, nil
	if p.status == routing.Offline {
		p.status, p.chosen, p.onlineSince = routing.Online, false, now
		if p.load == 0 {
			p.idleSince = now
		}
		return true, grace
	}
	return false, grace
}

// disconnect counts a session gone; last says it was the agent's last one.
func (d *dispatcher) disconnect(id string) (last bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return false
	}
	p.sessions = max(p.sessions-1, 0)
	return p.sessions == 0
}

// setGrace remembers the timer that will take an absent agent offline.
func (d *dispatcher) setGrace(id string, t Timer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.agents[id]; p != nil {
		p.grace = t
	}
}

// expire takes an agent offline when it still has no session; it reports
// whether it did.
func (d *dispatcher) expire(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil || p.sessions > 0 {
		return false
	}
	p.grace = nil
	p.status, p.chosen = routing.Offline, false
	return true
}

// setStatus applies an agent's own status choice.
func (d *dispatcher) setStatus(id string, st routing.Status, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return false
	}
	if p.status != routing.Online && st == routing.Online {
		p.onlineSince = now
		if p.load == 0 {
			p.idleSince = now
		}
	}
	p.status, p.chosen = st, st != routing.Online
	return true
}

// routable fills the scratch slice with the accounts routing may consider.
func (d *dispatcher) routableLocked() []routing.Agent {
	d.scratch = d.scratch[:0]
	for _, id := range d.order {
		p := d.agents[id]
		d.scratch = append(d.scratch, routing.Agent{
			ID: id, Status: p.status, Skills: p.agent.Skills,
			Capacity: p.agent.Capacity, Load: p.load, IdleSince: p.idleSince,
		})
	}
	return d.scratch
}

// assign picks an agent for req and counts the conversation on it.
func (d *dispatcher) assign(req routing.Request) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	agents := d.routableLocked()
	i := routing.Assign(req, agents)
	if i < 0 {
		return "", false
	}
	d.agents[agents[i].ID].load++
	return agents[i].ID, true
}

// take counts a conversation on a named agent, when it is online with room.
func (d *dispatcher) take(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil || p.status != routing.Online || p.load >= p.agent.Capacity {
		return false
	}
	p.load++
	return true
}

// hold counts a conversation on an agent whatever its state (a restart
// finding the conversation assigned in the store).
func (d *dispatcher) hold(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.agents[id]; p != nil {
		p.load++
	}
}

// release uncounts a conversation from an agent.
func (d *dispatcher) release(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil || p.load == 0 {
		return
	}
	p.load--
	if p.load == 0 {
		p.idleSince = now
	}
}

// handled records how long a closed conversation took, for wait estimates.
func (d *dispatcher) handled(dur time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handling.Add(dur)
}

func (d *dispatcher) enqueue(e routing.Entry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queue.Push(e)
}

func (d *dispatcher) dequeue(convID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queue.Remove(convID)
	delete(d.sentPos, convID)
}

// next takes the oldest waiting conversation some agent can serve now,
// counting it on that agent.
func (d *dispatcher) next() (routing.Entry, string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	agents := d.routableLocked()
	e, i, ok := d.queue.Next(agents)
	if !ok {
		return routing.Entry{}, "", false
	}
	d.queue.Remove(e.ConversationID)
	delete(d.sentPos, e.ConversationID)
	d.agents[agents[i].ID].load++
	return e, agents[i].ID, true
}

// queuePlace is a waiting conversation's position and estimated wait.
type queuePlace struct {
	ConversationID string
	Position       int
	Wait           time.Duration
}

// place is one conversation's place in the queue (Position 0: not queued).
func (d *dispatcher) place(convID string) queuePlace {
	d.mu.Lock()
	defer d.mu.Unlock()
	pos := d.queue.Position(convID)
	return queuePlace{ConversationID: convID, Position: pos, Wait: d.waitLocked(pos)}
}

func (d *dispatcher) waitLocked(pos int) time.Duration {
	slots := 0
	for _, p := range d.agents {
		if p.status == routing.Online {
			slots += p.agent.Capacity
		}
	}
	return routing.EstimateWait(pos, d.handling.Mean(), max(slots, 1))
}

// moved lists the waiting conversations whose position changed since they
// were last told, and remembers the new positions as told.
func (d *dispatcher) moved() []queuePlace {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []queuePlace
	for i, e := range d.queue.Entries() {
		pos := i + 1
		if d.sentPos[e.ConversationID] == pos {
			continue
		}
		d.sentPos[e.ConversationID] = pos
		out = append(out, queuePlace{ConversationID: e.ConversationID, Position: pos, Wait: d.waitLocked(pos)})
	}
	return out
}

// queueInfo is the queue's length and its oldest entry's time.
func (d *dispatcher) queueInfo() (int, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.queue.Oldest()
	if !ok {
		return 0, time.Time{}
	}
	return d.queue.Len(), e.Since
}

// anyOnline reports whether some agent is online.
func (d *dispatcher) anyOnline() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.agents {
		if p.status == routing.Online && p.agent.Role == "agent" {
			return true
		}
	}
	return false
}

// agentView is an account as the wire shows it.
type agentView struct {
	store.Agent
	Status      routing.Status `json:"status"`
	Load        int            `json:"load"`
	Sessions    int            `json:"sessions"` // connected consoles (0: away from the keyboard or reconnecting)
	OnlineSince store.Time     `json:"online_since"`
	Today       *dayCounts     `json:"today,omitempty"`
}

func (d *dispatcher) view(id string) (agentView, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return agentView{}, false
	}
	return p.viewLocked(), true
}

func (p *presence) viewLocked() agentView {
	v := agentView{Agent: p.agent, Status: p.status, Load: p.load, Sessions: p.sessions}
	if p.status != routing.Offline {
		v.OnlineSince = store.At(p.onlineSince)
	}
	if v.Skills == nil {
		v.Skills = []string{}
	}
	return v
}

// views lists every account, in creation order.
func (d *dispatcher) views() []agentView {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]agentView, 0, len(d.order))
	for _, id := range d.order {
		out = append(out, d.agents[id].viewLocked())
	}
	return out
}

// onlineCount is how many agents are online.
func (d *dispatcher) onlineCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, p := range d.agents {
		if p.status == routing.Online {
			n++
		}
	}
	return n
}

// isQueued reports whether a conversation waits in the queue.
func (d *dispatcher) isQueued(convID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queue.Position(convID) > 0
}
