// Package chat is Daogou's real-time core: the WebSocket hub with its
// sessions, the conversation lifecycle, the two playbook timing rules carried
// out, the HTTP API, and the Broker interface that lets instances act as one.
//
// Lock order: a conversation stripe lock (Hub.lock) may be held while taking
// dispatcher.mu, Hub.subsMu or Hub.sessMu; never the other way round.
package chat

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/scripts"
)

// Config holds the hub's settings.
type Config struct {
	Rules           rules.Config
	ReconnectGrace  time.Duration // an agent's last session may be gone this long
	ShopName        string
	DefaultLocale   string
	DefaultCapacity int
	PromisedWait    time.Duration // {wait_minutes} when nothing better is known
	TokenTTL        time.Duration
	SendQueue       int // frames queued per session before it counts as slow
	Workers         int // due deadlines carried out at once, at most (on the hub's workers)
	AllowedOrigins  []string
	PasswordCost    int    // bcrypt cost of new password hashes
	Instance        string // this process's name in a cluster (a new UUID when empty)
}

// DefaultConfig is the playbook's numbers and sensible limits.
func DefaultConfig() Config {
	return Config{
		Rules:           rules.Defaults(),
		ReconnectGrace:  30 * time.Second,
		ShopName:        "Daogou Demo Shop",
		DefaultLocale:   "zh-CN",
		DefaultCapacity: 5,
		PromisedWait:    10 * time.Minute,
		TokenTTL:        12 * time.Hour,
		SendQueue:       256,
		Workers:         256,
		PasswordCost:    bcrypt.DefaultCost,
	}
}

// Deps are the hub's collaborators.
type Deps struct {
	Store   store.Store
	Broker  Broker
	Scripts *scripts.Library
	Clock   Clock
	Log     *zap.Logger
	Metrics *Metrics
	// Directory is shared presence, load and queue; nil: a MemoryDirectory.
	Directory Directory
}

// Hub keeps every session of this instance and carries out the chat.
type Hub struct {
	cfg     Config
	store   store.Store
	broker  Broker
	scripts *scripts.Library
	clock   Clock
	log     *zap.Logger
	metrics *Metrics

	dir   Directory
	sched *scheduler
	stats *statsBook
	locks [4096]sync.Mutex // conversation stripes: few conversations share one

	graceMu sync.Mutex
	grace   map[string]Timer // agents whose last console went, by id

	subsMu sync.RWMutex
	subs   map[string]map[*Session]struct{}

	sessMu   sync.Mutex
	sessions map[*Session]struct{}

	events  chan store.Event // rule events on their way to the store
	wg      sync.WaitGroup
	quit    chan struct{}
	park    *parker // nil: every session keeps a reader goroutine
	pool    *workers
	due     chan string
	closing atomic.Bool
	single  bool // the broker is in memory: no other instance to tell

	drainTick int // statsLoop's count, for drainIfWaiting

	openMu sync.Mutex // the cached count of open conversations
	openN  int
	openAt time.Time

	missMu sync.Mutex
	misses map[string]bool // conversations whose frames the broker lost
}

// ErrShuttingDown refuses new sessions while the hub stops.
var ErrShuttingDown = errors.New("chat: shutting down")

// NewHub wires a hub; Start brings it to life.
func NewHub(cfg Config, d Deps) *Hub {
	if d.Clock == nil {
		d.Clock = SystemClock{}
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Directory == nil {
		d.Directory = NewMemoryDirectory()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	if ws, ok := d.Store.(writerStats); ok {
		d.Metrics.registerWriter(ws)
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 256
	}
	if cfg.Instance == "" {
		cfg.Instance = uuid.NewString()
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = bcrypt.DefaultCost
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 256
	}
	h := &Hub{
		cfg: cfg, store: d.Store, broker: d.Broker, scripts: d.Scripts,
		clock: d.Clock, log: d.Log, metrics: d.Metrics,
		dir:      d.Directory,
		grace:    make(map[string]Timer),
		stats:    newStatsBook(),
		subs:     make(map[string]map[*Session]struct{}),
		sessions: make(map[*Session]struct{}),
		quit:     make(chan struct{}),
		due:      make(chan string, 4096),
		events:   make(chan store.Event, 8192),
	}
	h.pool = newWorkers(h.quit, &h.wg, workersIdle)
	_, h.single = d.Broker.(*MemoryBroker)
	h.misses = make(map[string]bool)
	h.sched = newScheduler(h.clock, h.onDue)
	return h
}

// Start loads accounts and open conversations from the store, re-arms every
// deadline, and starts the broker and the workers.
func (h *Hub) Start(ctx context.Context) error {
	if err := h.broker.Start(h.deliver, h.resubscribed); err != nil {
		return err
	}
	if err := h.broker.Subscribe(ctx, supervisorChannel, controlChannel); err != nil {
		return err
	}
	agents, err := h.store.Agents(ctx)
	if err != nil {
		return err
	}
	if err := h.stats.load(ctx, h.store, h.clock.Now(), h.cfg.Rules); err != nil {
		return err
	}
	open, err := h.store.OpenConversations(ctx)
	if err != nil {
		return err
	}
	if err := h.rebuild(ctx, agents, open); err != nil {
		return err
	}
	absent := map[string]bool{}
	for _, c := range open {
		if c.State == store.Assigned {
			absent[c.AgentID] = true
		}
		h.sched.Arm(c.ID, c.Timers.Next())
	}
	// Agents who had conversations get the reconnect grace from now.
	for id := range absent {
		h.startGrace(id)
	}
	if cl, ok := h.dir.(Cluster); ok {
		if err := cl.Start(ctx, h.peerGone, h.directoryBack); err != nil {
			return err
		}
	}
	h.spawn(h.dueLoop)
	for range 4 {
		h.spawn(h.eventWriter)
	}
	h.spawn(h.statsLoop)
	h.spawn(h.pinger)
	if p, err := newParker(); err != nil {
		h.log.Info("idle sessions keep a reader goroutine each", zap.Error(err))
	} else {
		h.park = p
		h.spawn(func() { p.run((*Session).resume) })
	}
	h.log.Info("hub started", zap.Int("agents", len(agents)), zap.Int("open_conversations", len(open)))
	return nil
}

// spawn starts a goroutine counted for shutdown.
func (h *Hub) spawn(f func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f()
	}()
}

// Shutdown closes every session with 1001 going away and waits for every
// goroutine, or for ctx.
func (h *Hub) Shutdown(ctx context.Context) error {
	if !h.closing.CompareAndSwap(false, true) {
		return nil
	}
	h.sched.Stop()
	close(h.quit)
	if h.park != nil {
		h.park.stop()
	}
	h.sessMu.Lock()
	for s := range h.sessions {
		s.close(ClosedShutdown, 1001, "server shutting down")
	}
	h.sessMu.Unlock()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if cl, ok := h.dir.(Cluster); ok {
		if cerr := cl.Close(); cerr != nil {
			h.log.Warn("leaving the cluster", zap.Error(cerr))
		}
	}
	return err
}

// lock is the stripe lock of a conversation: changes to one conversation are
// made and published one at a time, so frames go out in seq order.
func (h *Hub) lock(convID string) *sync.Mutex {
	f := fnv.New32a()
	f.Write([]byte(convID))
	return &h.locks[f.Sum32()%uint32(len(h.locks))]
}

// register adds a session and runs its two loops; it returns once both ended
// and the session is gone.
func (h *Hub) register(s *Session) error {
	h.sessMu.Lock()
	if h.closing.Load() {
		h.sessMu.Unlock()
		return ErrShuttingDown
	}
	h.sessions[s] = struct{}{}
	h.wg.Add(1) // the reader's, done in remove; writers count themselves
	h.sessMu.Unlock()
	s.nextPing.Store(time.Now().Add(pingPeriod).UnixNano())
	s.heard.Store(time.Now().UnixNano())
	h.metrics.sessions.WithLabelValues(string(s.Role)).Inc()
	return nil
}

// pinger pings every session once a ping period, from one goroutine for
// all: an idle session has no goroutine of its own. It also closes a session
// whose peer has sent nothing, not even a pong, for pongWait.
func (h *Hub) pinger() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			return
		case now := <-t.C:
			h.pingRound(now)
		}
	}
}

// pingRound closes the sessions silent for too long and queues a ping to
// those due one.
func (h *Hub) pingRound(now time.Time) {
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	for s := range h.sessions {
		switch keepalive(s.heard.Load(), s.nextPing.Load(), now.UnixNano()) {
		case kaTimeout:
			s.close(ClosedTimeout, websocket.CloseGoingAway, "nothing heard, not even a pong")
		case kaPing:
			s.nextPing.Store(now.Add(pingPeriod).UnixNano())
			s.queue(item{ping: true})
		}
	}
}

// What the pinger does with a session.
const (
	kaNothing = iota
	kaPing
	kaTimeout
)

// keepalive decides for one session, all times in unix nanoseconds: a peer
// heard from (any frame, a pong too) within pongWait is alive; a ping goes
// out every pingPeriod.
func keepalive(heard, nextPing, now int64) int {
	switch {
	case heard < now-int64(pongWait):
		return kaTimeout
	case nextPing <= now:
		return kaPing
	}
	return kaNothing
}

// serve reads a registered session until the session ends, then removes
// it. Where idle sessions park, the reader starts in the calling goroutine
// (a shopper's opening worker, a staff member's upgrade handler), which
// returns as soon as the socket is idle; elsewhere on a worker of its own.
func (h *Hub) serve(s *Session, onEnd func()) {
	s.onEnd = onEnd
	if h.park != nil && s.raw != nil {
		s.readLoop(false)
		return
	}
	h.pool.run(func() { s.readLoop(false) })
}

// remove waits for a session's writer to send the close and forgets the
// session.
func (h *Hub) remove(s *Session) {
	defer h.wg.Done() // register's
	<-s.done
	<-s.writerDone
	if h.park != nil {
		h.park.forget(s)
	}
	s.unlisten(s.listening()...)
	h.sessMu.Lock()
	delete(h.sessions, s)
	h.sessMu.Unlock()
	h.metrics.sessions.WithLabelValues(string(s.Role)).Dec()
	h.metrics.closed.WithLabelValues(string(s.reason)).Inc()
	if ce := s.hub.log.Check(zap.DebugLevel, "session closed"); ce != nil {
		s.logger().Debug("session closed", zap.String("reason", string(s.reason)))
	}
	if s.onEnd != nil {
		s.onEnd()
	}
}

// subscribe adds a session to channels, subscribing the broker to each
// channel that had no local listener.
func (h *Hub) subscribe(s *Session, channels ...string) {
	var fresh []string
	h.subsMu.Lock()
	for _, c := range channels {
		set := h.subs[c]
		if set == nil {
			set = make(map[*Session]struct{})
			h.subs[c] = set
			fresh = append(fresh, c)
		}
		set[s] = struct{}{}
	}
	h.subsMu.Unlock()
	if len(fresh) > 0 {
		if err := h.broker.Subscribe(context.Background(), fresh...); err != nil {
			h.log.Error("broker subscribe failed", zap.Strings("channels", fresh), zap.Error(err))
		}
	}
}

// unsubscribe removes a session from channels, dropping the broker's
// subscription with the last local listener.
func (h *Hub) unsubscribe(s *Session, channels ...string) {
	var gone []string
	h.subsMu.Lock()
	for _, c := range channels {
		set := h.subs[c]
		delete(set, s)
		if len(set) == 0 && set != nil {
			delete(h.subs, c)
			if c != supervisorChannel {
				gone = append(gone, c)
			}
		}
	}
	h.subsMu.Unlock()
	if len(gone) > 0 {
		if err := h.broker.Unsubscribe(context.Background(), gone...); err != nil {
			h.log.Warn("broker unsubscribe failed", zap.Strings("channels", gone), zap.Error(err))
		}
	}
}

// deliver hands a broker payload to every local session on the channel.
func (h *Hub) deliver(channel string, payload []byte) {
	if channel == controlChannel {
		h.onControl(payload)
		return
	}
	p, err := unmarshalPacket(payload)
	if err != nil {
		h.log.Error("dropped a malformed broker payload", zap.String("channel", channel), zap.Error(err))
		return
	}
	if p.origin == h.cfg.Instance {
		return // delivered here when it was published
	}
	h.deliverLocal(channel, p)
}

// deliverLocal queues a packet for this instance's sessions on a channel.
func (h *Hub) deliverLocal(channel string, p packet) {
	now := h.clock.Now()
	h.subsMu.RLock()
	for s := range h.subs[channel] {
		s.queue(item{p: p, at: now})
	}
	h.subsMu.RUnlock()
}

// resubscribed brings the sessions of re-established channels up to date
// (anything published while the broker was away is read from the store),
// and asks the other instances to catch up what this one could not send.
func (h *Hub) resubscribed(channels []string) {
	h.missMu.Lock()
	missed := make([]string, 0, len(h.misses))
	for c := range h.misses {
		missed = append(missed, c)
	}
	clear(h.misses)
	h.missMu.Unlock()
	if len(missed) > 0 {
		h.sendControl(control{Resync: missed})
	}
	h.subsMu.RLock()
	seen := map[*Session]bool{}
	for _, c := range channels {
		for s := range h.subs[c] {
			seen[s] = true
		}
	}
	h.subsMu.RUnlock()
	for s := range seen {
		s.queue(item{sync: true, p: packet{conv: ""}})
	}
}

// publish delivers a packet to this instance's sessions on channels at
// once, and to the other instances through the broker. What the broker
// could not carry is noted, and the other instances catch up from the store
// when it is back.
func (h *Hub) publish(p packet, channels ...string) {
	for _, c := range channels {
		h.deliverLocal(c, p)
	}
	if h.single {
		return
	}
	p.origin = h.cfg.Instance
	payload := p.marshal()
	for _, c := range channels {
		if err := h.broker.Publish(context.Background(), c, payload); err != nil {
			h.missed(p.conv)
			h.log.Warn("publish failed", zap.String("channel", c), zap.String("conversation_id", p.conv), zap.Error(err))
		}
	}
}

// publishFrame encodes a plain frame once and publishes it. On a single
// instance a frame no session listens to is not even encoded (a shopper's
// opening tells supervisors, who are often not there).
func (h *Hub) publishFrame(typ, convID string, body any, channels ...string) {
	if h.single && !h.hasLocal(channels...) {
		return
	}
	h.publish(packet{kind: pkPlain, conv: convID, frame: encode(typ, convID, "", body)}, channels...)
}

// Sessions counts this instance's sessions by role.
func (h *Hub) Sessions() map[Role]int {
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	out := map[Role]int{}
	for s := range h.sessions {
		out[s.Role]++
	}
	return out
}

// Ready reports whether the store and the broker answer.
func (h *Hub) Ready(ctx context.Context) map[string]error {
	return map[string]error{"store": h.store.Ping(ctx), "broker": h.broker.Ping(ctx)}
}

// rebuild loads the accounts into the directory and restores loads and the
// queue from the store when the directory can lose them.
func (h *Hub) rebuild(ctx context.Context, agents []store.Agent, open []store.Conversation) error {
	if r, ok := h.dir.(Rebuilder); ok {
		return r.Rebuild(ctx, agents, open)
	}
	for _, a := range agents {
		if err := h.dir.Upsert(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
