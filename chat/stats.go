package chat

import (
	"context"
	"sync"
	"time"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// statsBook counts today's rule results, overall and per agent, and the
// breaches of the last hour, for the supervisor view. It starts from the
// stored events, so a restart loses no figure.
type statsBook struct {
	mu       sync.Mutex
	day      string
	all      dayCounts
	agents   map[string]*dayCounts
	breaches []time.Time    // breach times, oldest first, pruned past an hour
	perConv  map[string]int // breaches of open conversations
	opens    int            // conversations opened today
	dirty    bool
	peers    map[string]peerCount // other instances' shoppers online
}

type peerCount struct {
	n  int
	at time.Time
}

// peerShoppers notes another instance's shopper count.
func (b *statsBook) peerShoppers(instance string, n int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.peers[instance].n != n {
		b.dirty = true
	}
	b.peers[instance] = peerCount{n: n, at: now}
}

// peerTotal sums the fresh counts of other instances.
func (b *statsBook) peerTotal(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	total := 0
	for inst, c := range b.peers {
		if now.Sub(c.at) > 5*time.Second {
			delete(b.peers, inst)
			continue
		}
		total += c.n
	}
	return total
}

// dayCounts are one day's rule results.
type dayCounts struct {
	Greetings    int `json:"greetings"`
	GreetingsMet int `json:"greetings_met"`
	Turns        int `json:"turns"`
	TurnsMet     int `json:"turns_met"`
}

func newStatsBook() *statsBook {
	return &statsBook{agents: make(map[string]*dayCounts), perConv: make(map[string]int), peers: make(map[string]peerCount)}
}

// load replays today's stored events (and the last hour's breaches).
func (b *statsBook) load(ctx context.Context, st store.Store, now time.Time, cfg rules.Config) error {
	since := now.Add(-time.Hour)
	if midnight := startOfDay(now); midnight.Before(since) {
		since = midnight
	}
	evs, err := st.Events(ctx, since)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.day = now.UTC().Format(time.DateOnly)
	b.mu.Unlock()
	for _, e := range evs {
		b.record(e, cfg)
	}
	return nil
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// record counts one event. A greeting or a turn counts once: met in time,
// or breached (a late answer after a breach is not counted again).
func (b *statsBook) record(e store.Event, cfg rules.Config) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirty = true
	if e.Kind == "breached" {
		b.breaches = append(b.breaches, e.At)
		b.perConv[e.ConversationID]++
	}
	day := e.At.UTC().Format(time.DateOnly)
	if day != b.day {
		if day < b.day {
			return // an event of an earlier day, loaded for the hourly figure
		}
		b.day, b.all, b.agents, b.opens = day, dayCounts{}, make(map[string]*dayCounts), 0
	}
	ag := b.agents[e.AgentID]
	if ag == nil && e.AgentID != "" {
		ag = &dayCounts{}
		b.agents[e.AgentID] = ag
	}
	for _, c := range []*dayCounts{&b.all, ag} {
		if c == nil {
			continue
		}
		switch {
		case e.Rule == string(rules.Greeting) && e.Kind == "met":
			c.Greetings++
			if e.Elapsed <= cfg.GreetingDeadline {
				c.GreetingsMet++
			}
		case e.Rule == string(rules.Greeting) && e.Kind == "breached":
			c.Greetings++
		case e.Rule == string(rules.FirstResponse) && e.Kind == "met" && e.Elapsed <= cfg.FirstResponseDeadline:
			c.Turns++
			c.TurnsMet++
		case e.Rule == string(rules.FirstResponse) && e.Kind == "breached" && e.Action == string(rules.HoldingReply):
			c.Turns++
		}
	}
}

func (b *statsBook) opened() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opens++
	b.dirty = true
}

// touch marks the figures as changed (sessions, queue).
func (b *statsBook) touch() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirty = true
}

func (b *statsBook) breachesOf(convID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.perConv[convID]
}

func (b *statsBook) forget(convID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.perConv, convID)
}

func (b *statsBook) agentToday(id string) *dayCounts {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := dayCounts{}
	if a := b.agents[id]; a != nil {
		c = *a
	}
	return &c
}

// Stats are the supervisor's header figures.
type Stats struct {
	ShoppersOnline    int      `json:"shoppers_online"`
	AgentsOnline      int      `json:"agents_online"`
	ConversationsOpen int      `json:"conversations_open"`
	Queued            int      `json:"queued"`
	LongestWaitS      int      `json:"longest_wait_s"`
	GreetedPct        *float64 `json:"greeted_pct"`
	AnsweredPct       *float64 `json:"answered_pct"`
	BreachesLastHour  int      `json:"breaches_last_hour"`
	OpenedToday       int      `json:"opened_today"`
}

// figures fills the rule figures of s; taken reports whether anything
// changed since the last call.
func (b *statsBook) figures(s *Stats, now time.Time) (changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cut := now.Add(-time.Hour)
	i := 0
	for i < len(b.breaches) && b.breaches[i].Before(cut) {
		i++
	}
	if i > 0 {
		b.breaches = append(b.breaches[:0], b.breaches[i:]...)
		b.dirty = true
	}
	s.BreachesLastHour = len(b.breaches)
	s.GreetedPct = pct(b.all.GreetingsMet, b.all.Greetings)
	s.AnsweredPct = pct(b.all.TurnsMet, b.all.Turns)
	s.OpenedToday = b.opens
	changed, b.dirty = b.dirty, false
	return changed
}

func pct(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	v := float64(n) * 100 / float64(d)
	return &v
}

// currentStats gathers the supervisor figures.
func (h *Hub) currentStats(ctx context.Context) (Stats, bool) {
	now := h.clock.Now()
	var s Stats
	changed := h.stats.figures(&s, now)
	s.ShoppersOnline = h.Sessions()[RoleShopper] + h.stats.peerTotal(now)
	if views, err := h.dir.Views(ctx); err == nil {
		for _, v := range views {
			if v.Status == routing.Online && v.Sessions > 0 {
				s.AgentsOnline++
			}
		}
	}
	n, oldest, _ := h.dir.QueueInfo(ctx)
	s.Queued = n
	if n > 0 {
		s.LongestWaitS = int(now.Sub(oldest).Seconds())
	}
	s.ConversationsOpen = h.openCount(ctx, now)
	return s, changed || n > 0
}

// statsLoop pushes the figures to supervisors once a second when they
// changed (and while someone waits, as the longest wait grows).
func (h *Hub) statsLoop() {
	tick := make(chan struct{}, 1)
	arm := func() {
		h.clock.AfterFunc(time.Second, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
	}
	arm()
	for {
		select {
		case <-h.quit:
			return
		case <-tick:
			h.shareSessions(h.Sessions()[RoleShopper])
			h.drainIfWaiting()
			if !h.hasLocal(supervisorChannel) {
				arm() // nobody here to tell
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			// Every instance computes the cluster's figures itself, from
			// shared state and the others' notes, for its own supervisors.
			if s, changed := h.currentStats(ctx); changed {
				h.deliverLocal(supervisorChannel, packet{frame: encode(TypeStatsUpdated, "", "", struct {
					Stats Stats `json:"stats"`
				}{s})})
			}
			cancel()
			arm()
		}
	}
}

// openCount is the number of open conversations, read from the store at
// most every five seconds.
func (h *Hub) openCount(ctx context.Context, now time.Time) int {
	h.openMu.Lock()
	defer h.openMu.Unlock()
	if !h.openAt.IsZero() && now.Sub(h.openAt) < 5*time.Second {
		return h.openN
	}
	if open, err := h.store.OpenConversations(ctx); err == nil {
		h.openN, h.openAt = len(open), now
	}
	return h.openN
}

// hasLocal reports whether a session of this instance listens on any of
// channels.
func (h *Hub) hasLocal(channels ...string) bool {
	h.subsMu.RLock()
	defer h.subsMu.RUnlock()
	for _, c := range channels {
		if len(h.subs[c]) > 0 {
			return true
		}
	}
	return false
}
