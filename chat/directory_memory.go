package chat

import (
	"context"
	"sync"
	"time"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// MemoryDirectory is the Directory of a single instance, under one lock.
type MemoryDirectory struct {
	mu      sync.Mutex
	agents  map[string]*presence
	order   []string        // account ids in creation order, for stable routing
	scratch []routing.Agent // reused by the queue and wait decisions
	// pool is every account's routing view, kept in step by syncLocked
	// after each change to one, in creation order: Assign asks it.
	pool     routing.Pool
	queue    routing.Queue
	handling routing.Handling
	sentPos  map[string]int // last queue position told to each waiting shopper
	// dirtyFrom is the first queue index whose entry may have moved since
	// Moved last ran: entries before it still stand where they were told.
	dirtyFrom int
	version   int64 // of the answers of Moved
}

// presence is one account's live state.
type presence struct {
	agent       store.Agent
	status      routing.Status
	sessions    int
	load        int
	idleSince   time.Time
	onlineSince time.Time
}

// NewMemoryDirectory makes an empty directory.
func NewMemoryDirectory() *MemoryDirectory {
	return &MemoryDirectory{agents: make(map[string]*presence), sentPos: make(map[string]int)}
}

func (d *MemoryDirectory) Upsert(_ context.Context, a store.Agent) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.agents[a.ID]
	if ok {
		p.agent = a
	} else {
		p = &presence{agent: a, status: routing.Offline}
		d.agents[a.ID] = p
		d.order = append(d.order, a.ID)
	}
	d.syncLocked(a.ID, p)
	return nil
}

func (d *MemoryDirectory) Connect(_ context.Context, id string, now time.Time) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return false, nil
	}
	p.sessions++
	defer d.syncLocked(id, p)
	if p.status != routing.Offline {
		return false, nil
	}
	p.status, p.onlineSince = routing.Online, now
	if p.load == 0 {
		p.idleSince = now
	}
	return true, nil
}

func (d *MemoryDirectory) Disconnect(_ context.Context, id string, _ time.Time) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return false, nil
	}
	p.sessions = max(p.sessions-1, 0)
	d.syncLocked(id, p)
	return p.sessions == 0, nil
}

func (d *MemoryDirectory) Expire(_ context.Context, id string, _ time.Time) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil || p.sessions > 0 || p.status == routing.Offline {
		return false, nil
	}
	p.status = routing.Offline
	d.syncLocked(id, p)
	return true, nil
}

func (d *MemoryDirectory) SetStatus(_ context.Context, id string, st routing.Status, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return nil
	}
	if p.status != routing.Online && st == routing.Online {
		p.onlineSince = now
		if p.load == 0 {
			p.idleSince = now
		}
	}
	p.status = st
	d.syncLocked(id, p)
	return nil
}

// routable is an account as routing sees it: an agent with no console
// connected, or an account that is not an agent, is not online for new
// shoppers.
func routable(id string, p *presence) routing.Agent {
	st := p.status
	if p.sessions == 0 || p.agent.Role != AccountAgent {
		st = routing.Offline
	}
	return routing.Agent{
		ID: id, Status: st, Skills: p.agent.Skills,
		Capacity: p.agent.Capacity, Load: p.load, IdleSince: p.idleSince,
	}
}

// routableLocked fills the scratch slice with every account as routing
// sees it, in creation order.
func (d *MemoryDirectory) routableLocked() []routing.Agent {
	d.scratch = d.scratch[:0]
	for _, id := range d.order {
		d.scratch = append(d.scratch, routable(id, d.agents[id]))
	}
	return d.scratch
}

// syncLocked brings the pool's view of account id up to date with p.
func (d *MemoryDirectory) syncLocked(id string, p *presence) {
	d.pool.Set(routable(id, p))
}

func (d *MemoryDirectory) Assign(_ context.Context, req routing.Request) (string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.pool.Assign(req)
	if !ok {
		return "", false, nil
	}
	p := d.agents[id]
	p.load++
	d.syncLocked(id, p)
	return id, true, nil
}

func (d *MemoryDirectory) Take(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil || p.status != routing.Online || p.sessions == 0 || p.load >= p.agent.Capacity {
		return false, nil
	}
	p.load++
	d.syncLocked(id, p)
	return true, nil
}

func (d *MemoryDirectory) Release(_ context.Context, id string, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil || p.load == 0 {
		return nil
	}
	p.load--
	if p.load == 0 {
		p.idleSince = now
	}
	d.syncLocked(id, p)
	return nil
}

func (d *MemoryDirectory) Handled(_ context.Context, dur time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.handling.Add(dur)
	return nil
}

func (d *MemoryDirectory) Enqueue(_ context.Context, e routing.Entry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.queue.Position(e.ConversationID) == 0 {
		d.queue.Push(e)
		d.dirtyFrom = min(d.dirtyFrom, d.queue.Position(e.ConversationID)-1)
	}
	return nil
}

func (d *MemoryDirectory) Dequeue(_ context.Context, convID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removeLocked(convID)
	return nil
}

func (d *MemoryDirectory) removeLocked(convID string) {
	if pos := d.queue.Position(convID); pos > 0 {
		d.dirtyFrom = min(d.dirtyFrom, pos-1)
		d.queue.Remove(convID)
	}
	delete(d.sentPos, convID)
}

func (d *MemoryDirectory) Next(context.Context) (routing.Entry, string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	agents := d.routableLocked()
	e, i, ok := d.queue.Next(agents)
	if !ok {
		return routing.Entry{}, "", false, nil
	}
	d.removeLocked(e.ConversationID)
	id := agents[i].ID
	p := d.agents[id]
	p.load++
	d.syncLocked(id, p)
	return e, id, true, nil
}

func (d *MemoryDirectory) Place(_ context.Context, convID string) (queuePlace, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.placeLocked(convID, d.queue.Position(convID)), nil
}

func (d *MemoryDirectory) Back(context.Context) (queuePlace, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.placeLocked("", d.queue.Len()+1), nil
}

// placeLocked is position pos in the queue with its estimated wait.
func (d *MemoryDirectory) placeLocked(convID string, pos int) queuePlace {
	return queuePlace{ConversationID: convID, Position: pos, Wait: waitFor(pos, d.handling.Mean(), d.routableLocked())}
}

func (d *MemoryDirectory) Moved(context.Context) ([]queuePlace, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []queuePlace
	agents := d.routableLocked()
	d.version++
	for i := d.dirtyFrom; i < d.queue.Len(); i++ {
		e, pos := d.queue.At(i), i+1
		if d.sentPos[e.ConversationID] == pos {
			continue
		}
		d.sentPos[e.ConversationID] = pos
		out = append(out, queuePlace{ConversationID: e.ConversationID, VisitorID: e.VisitorID, Position: pos, Wait: waitFor(pos, d.handling.Mean(), agents), Version: d.version})
	}
	d.dirtyFrom = d.queue.Len()
	return out, nil
}

func (d *MemoryDirectory) QueueInfo(context.Context) (int, time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.queue.Oldest()
	if !ok {
		return 0, time.Time{}, nil
	}
	return d.queue.Len(), e.Since, nil
}

func (d *MemoryDirectory) Views(context.Context) ([]agentView, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]agentView, 0, len(d.order))
	for _, id := range d.order {
		out = append(out, d.agents[id].view())
	}
	return out, nil
}

// View is one account's view (Views without copying every account: it
// runs on each assignment).
func (d *MemoryDirectory) View(_ context.Context, id string) (agentView, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[id]
	if p == nil {
		return agentView{}, false
	}
	return p.view(), true
}

func (p *presence) view() agentView {
	v := agentView{Agent: p.agent, Status: p.status, Load: p.load, Sessions: p.sessions}
	if p.status != routing.Offline {
		v.OnlineSince = store.At(p.onlineSince)
	}
	if v.Skills == nil {
		v.Skills = []string{}
	}
	return v
}

// Rebuild restores loads and the queue from the store (after a restart).
func (d *MemoryDirectory) Rebuild(ctx context.Context, agents []store.Agent, open []store.Conversation) error {
	for _, a := range agents {
		d.Upsert(ctx, a)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range open {
		switch c.State {
		case store.Assigned:
			if p := d.agents[c.AgentID]; p != nil {
				p.load++
				d.syncLocked(c.AgentID, p)
			}
		case store.Queued:
			if d.queue.Position(c.ID) == 0 {
				d.queue.Push(queueEntry(c))
				d.dirtyFrom = min(d.dirtyFrom, d.queue.Position(c.ID)-1)
			}
		}
	}
	return nil
}
