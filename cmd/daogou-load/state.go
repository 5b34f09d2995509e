package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// errNotReady is a session that did not get as far as it should within
// --setup-timeout.
var errNotReady = errors.New("session not ready within --setup-timeout")

// run is what every mode shares: the settings, the targets, the
// conversations, the counters.
type run struct {
	cfg    config
	log    *zap.Logger
	stderr io.Writer // progress lines
	ep     *endpoints
	api    *api // the first target: accounts and settings are shared by all
	reg    registry
	st     stats
	rules  *rulesPlan // rules mode only

	categories      map[string]string // script id to category; read-only once the sessions run
	supervisorToken string

	measureFrom atomic.Int64 // unix ns: messages sent earlier are counted but not timed
	stopping    atomic.Bool  // teardown has begun: closed sessions are expected
	readers     sync.WaitGroup

	mu       sync.Mutex
	shoppers []*shopper
	agents   []*agent
}

func newRun(cfg config, log *zap.Logger, stderr io.Writer) *run {
	r := &run{cfg: cfg, log: log, stderr: stderr, ep: newEndpoints(cfg.URLs, cfg.SourceIPs), api: newAPI(cfg.URLs[0])}
	r.reg.m = make(map[string]*conv)
	r.st.failures = make(map[string]int64)
	r.st.errors = make(map[string]int64)
	r.st.autos = make(map[string]int64)
	r.st.breaches = make(map[string]int64)
	return r
}

// stats are the run's counters. Totals are atomic so that the progress
// line can read them while the readers run.
type stats struct {
	dialed, connected, failed atomic.Int64
	opened, ready             atomic.Int64 // shoppers with a conversation; and (relay) greeted by their agent
	agentsUp                  atomic.Int64
	dropped                   atomic.Int64 // sessions that ended before teardown
	queued, reassigned        atomic.Int64
	closedSeen                atomic.Int64 // conversation.closed reaching shoppers
	overflow                  atomic.Int64 // agent answers dropped: the agent's queue was full
	lastOpened                atomic.Int64 // unix ns of the latest conversation.opened

	s2a, a2s direction

	connectLat Histogram // dial to conversation.opened (shoppers)
	lag        Histogram // relay: how late the pacer sent against its schedule

	mu       sync.Mutex
	failures map[string]int64 // failed connection attempts by reason
	errors   map[string]int64 // error frames, "<side>:<code>"
	autos    map[string]int64 // automatic messages reaching shoppers, by script category
	breaches map[string]int64 // rule.breached reaching agents, by action
}

// direction counts the messages one way: shopper to agent, or agent to
// shopper.
type direction struct {
	sent, acked, refused, sendErr atomic.Int64
	recv, dup                     atomic.Int64
	lat                           Histogram
}

// inFlight is sent and neither delivered nor refused yet, all
// conversations together.
func (d *direction) inFlight() int64 {
	return max(d.sent.Load()-d.recv.Load()-d.refused.Load()-d.sendErr.Load(), 0)
}

func (s *stats) count(m map[string]int64, key string) {
	s.mu.Lock()
	m[key]++
	s.mu.Unlock()
}

// count2 reads two automatic-message counts.
func (s *stats) count2(a, b string) (int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.autos[a], s.autos[b]
}

func (s *stats) snapshot(m map[string]int64) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(m)
}

// storeMax raises v to x.
func storeMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// conv is one conversation of the run, shared by its shopper's reader, its
// agent's reader and writer, and the pacer.
type conv struct {
	id      string
	idx     int // in the registry's list; frame ids carry it
	shopper atomic.Pointer[shopper]

	s, a        convDir     // shopper to agent, agent to shopper
	dropped     atomic.Bool // a session of it ended during the run
	greetQueued atomic.Bool // an agent has queued its greeting
	greeted     atomic.Bool // the greeting reached the shopper
	agentID     atomic.Pointer[string]

	// rules mode; written by the shopper's reader
	mu         sync.Mutex
	openedAt   time.Time // the server's opened_at
	turnStart  time.Time // the server's created_at of the shopper's message
	greets     []arrival
	holds      []arrival
	otherAutos int
}

// convDir counts one conversation's messages one way; n, the number in a
// message's marker, is sent's value when it went.
type convDir struct {
	sent, acked, recv, refused, sendErr atomic.Int64
	last                                atomic.Int64 // highest number received
}

// outstanding is sent and neither delivered nor refused (yet).
func (d *convDir) outstanding() int64 {
	return max(d.sent.Load()-d.recv.Load()-d.refused.Load()-d.sendErr.Load(), 0)
}

// sending counts a message about to be written and returns its number.
func (r *run) sending(d *direction, cd *convDir) int64 {
	d.sent.Add(1)
	return cd.sent.Add(1)
}

// sendFailed counts a message whose write failed.
func (r *run) sendFailed(d *direction, cd *convDir) {
	d.sendErr.Add(1)
	cd.sendErr.Add(1)
}

// arrival is an automatic message: the server's time and ours.
type arrival struct{ created, received time.Time }

// delivered counts a marked message reaching the other side: n is its
// number in the conversation, sentAt when it was written.
func (r *run) delivered(d *direction, cd *convDir, n, sentAt int64, at time.Time) {
	if n <= cd.last.Load() {
		d.dup.Add(1)
		return
	}
	cd.last.Store(n)
	cd.recv.Add(1)
	d.recv.Add(1)
	if sentAt >= r.measureFrom.Load() {
		d.lat.Record(time.Duration(at.UnixNano() - sentAt))
	}
}

// registry finds conversations by id and by index.
type registry struct {
	mu   sync.Mutex
	m    map[string]*conv
	list []*conv
}

// add returns the conversation with the id, made if new.
func (g *registry) add(id string) *conv {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.m[id]
	if c == nil {
		c = &conv{id: id, idx: len(g.list)}
		g.m[id] = c
		g.list = append(g.list, c)
	}
	return c
}

// at returns the conversation with the index, or nil.
func (g *registry) at(i int) *conv {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i < 0 || i >= len(g.list) {
		return nil
	}
	return g.list[i]
}

// get returns the conversation with the id, or nil.
func (g *registry) get(id []byte) *conv {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[string(id)]
}

// onError counts an error frame; one that answers a message.send (its ref
// is the message's frame id) means that message was refused.
func (r *run) onError(data []byte, side string) {
	var f errorFrame
	if err := json.Unmarshal(data, &f); err != nil {
		r.st.count(r.st.errors, side+":unreadable")
		return
	}
	r.st.count(r.st.errors, side+":"+f.Body.Code)
	dir, _, idx, ok := parseFrameID([]byte(f.Ref))
	if !ok {
		return
	}
	c := r.reg.at(idx)
	switch {
	case c == nil:
	case dir == dirShopper:
		r.st.s2a.refused.Add(1)
		c.s.refused.Add(1)
	case dir == dirAgent:
		r.st.a2s.refused.Add(1)
		c.a.refused.Add(1)
	}
}

// undelivered is what one direction did not deliver, in conversations
// whose sessions all lasted the run: acked (stored) messages that never
// arrived, and messages never acked; and in conversations where the server
// dropped a session.
type undelivered struct{ acked, unacked, dropped int64 }

func (u undelivered) lost() int64 { return u.acked + u.unacked }

func (r *run) tally(pick func(c *conv) *convDir) undelivered {
	r.reg.mu.Lock()
	defer r.reg.mu.Unlock()
	var u undelivered
	for _, c := range r.reg.list {
		d := pick(c)
		out := d.outstanding()
		if c.dropped.Load() {
			u.dropped += out
			continue
		}
		acked := min(max(d.acked.Load()-d.recv.Load(), 0), out)
		u.acked += acked
		u.unacked += out - acked
	}
	return u
}

// onAck counts a message.ack for one of the run's messages.
func (r *run) onAck(data []byte, d *direction, pick func(c *conv) *convDir, want byte) {
	dir, _, idx, ok := parseFrameID(topString(data, "ref"))
	if !ok || dir != want {
		return
	}
	if c := r.reg.at(idx); c != nil {
		d.acked.Add(1)
		pick(c).acked.Add(1)
	}
}

// connectPaced starts n connections at --connect-rate with at most
// --inflight handshakes at once; start returns once its handshake is over
// (the session ready or failed). It returns when every attempt has started
// or ctx ends.
func (r *run) connectPaced(ctx context.Context, n int, start func(i int, done func())) {
	sem := make(chan struct{}, r.cfg.Inflight)
	interval := time.Duration(float64(time.Second) / r.cfg.ConnectRate)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			if !sleepCtx(ctx, d) {
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		var once sync.Once
		start(i, func() { once.Do(func() { <-sem }) })
	}
}

// waitFor polls cond every 20 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) bool {
	return pollUntil(ctx, 20*time.Millisecond, cond)
}

// pollUntil polls cond every interval until it holds or ctx ends.
func pollUntil(ctx context.Context, interval time.Duration, cond func() bool) bool {
	t := time.NewTicker(interval)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
	return true
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// progress prints line() on w every second until ctx ends.
func progress(ctx context.Context, w io.Writer, on bool, line func(elapsed time.Duration) string) {
	if !on {
		return
	}
	start := time.Now()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				fmt.Fprintf(w, "[%5.1fs] %s\n", now.Sub(start).Seconds(), line(now.Sub(start)))
			}
		}
	}()
}

// teardown closes every session and waits (a bounded time) for the readers.
func (r *run) teardown() {
	r.stopping.Store(true)
	r.mu.Lock()
	shoppers, agents := r.shoppers, r.agents
	r.mu.Unlock()
	for _, s := range shoppers {
		if ws := s.ws.Load(); ws != nil {
			closeConn(ws)
		}
	}
	for _, a := range agents {
		a.stop()
		if ws := a.ws.Load(); ws != nil {
			closeConn(ws)
		}
	}
	done := make(chan struct{})
	go func() {
		r.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.log.Error("some readers did not end within 10s of closing")
	}
}
