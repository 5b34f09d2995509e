package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

var (
	// ErrNotSupervisor is a --supervisor-email whose account is not a
	// supervisor's.
	ErrNotSupervisor = errors.New("the account is not a supervisor")
	// ErrAgentsNotUp is a run whose agents did not all connect within
	// --setup-timeout.
	ErrAgentsNotUp = errors.New("load agents not connected in time")
)

// jobClose is a job that closes a conversation (the others are dirAgent and
// dirGreeting).
const jobClose = 'c'

// agentQueue is how many frames an agent may have waiting for its token
// bucket; more are dropped and counted.
const agentQueue = 1024

// agent is one load agent with one /ws/agent session. Its reader answers
// and greets by queueing jobs; its writer sends them under the contract's
// rate limit.
type agent struct {
	r      *run
	email  string
	token  string
	silent bool // rules mode: connected, never writing a message
	ws     atomic.Pointer[websocket.Conn]
	out    chan job
	quit   chan struct{}
	once   sync.Once
	ready  func()
	up     atomic.Bool

	mu   sync.Mutex
	held map[*conv]bool
}

type job struct {
	c    *conv
	kind byte
}

func (a *agent) stop() { a.once.Do(func() { close(a.quit) }) }

// down says the agent's session has ended (or the run is over).
func (a *agent) down() bool {
	select {
	case <-a.quit:
		return true
	default:
		return false
	}
}

// provisionAgents creates (or reuses) the load agents with the capacity the
// run needs and logs each in. Tokens kept in --token-file are reused while
// the server still takes them.
func (r *run) provisionAgents(ctx context.Context, silent bool, done *atomic.Int64) error {
	supTok, sup, err := r.api.login(ctx, r.cfg.SupervisorEmail, r.cfg.SupervisorPassword)
	if err != nil {
		return err
	}
	if sup.Role != "supervisor" {
		return fmt.Errorf("%w: %s is a %q", ErrNotSupervisor, r.cfg.SupervisorEmail, sup.Role)
	}
	r.supervisorToken = supTok
	tokens, err := loadTokens(r.cfg.TokenFile)
	if err != nil {
		return err
	}
	agents := make([]*agent, r.cfg.Agents)
	var (
		wg    sync.WaitGroup
		tmu   sync.Mutex
		first error
		work  = make(chan int)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				a, err := r.provisionOne(ctx, supTok, i, tokens, &tmu)
				tmu.Lock()
				if err != nil && first == nil {
					first = err
				}
				tmu.Unlock()
				agents[i] = a
				a.silent = silent
				done.Add(1)
			}
		}()
	}
	for i := range agents {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("provisioning agents: %w", err)
	}
	if err := saveTokens(r.cfg.TokenFile, tokens); err != nil {
		return err
	}
	r.mu.Lock()
	r.agents = agents
	r.mu.Unlock()
	return nil
}

func (r *run) provisionOne(ctx context.Context, supTok string, i int, tokens map[string]string, tmu *sync.Mutex) (*agent, error) {
	a := &agent{r: r, email: fmt.Sprintf("%s-%d@load.local", r.cfg.AgentPrefix, i+1), out: make(chan job, agentQueue),
		quit: make(chan struct{}), held: make(map[*conv]bool), ready: func() {}}
	key := r.api.base.String() + " " + a.email
	tmu.Lock()
	a.token = tokens[key]
	tmu.Unlock()
	var acct account
	if a.token != "" {
		var err error
		if acct, _, err = r.api.me(ctx, a.token); err != nil {
			a.token = ""
		}
	}
	if a.token == "" {
		if _, err := r.api.createAgent(ctx, supTok, a.email, fmt.Sprintf("Load agent %d", i+1), r.cfg.AgentPassword, r.cfg.AgentCapacity); err != nil {
			return a, err
		}
		var err error
		a.token, acct, err = r.api.login(ctx, a.email, r.cfg.AgentPassword)
		if err != nil {
			return a, fmt.Errorf("%w (an older load agent with another password? see --agent-password, --agent-prefix)", err)
		}
		tmu.Lock()
		tokens[key] = a.token
		tmu.Unlock()
	}
	if acct.Capacity != r.cfg.AgentCapacity {
		if err := r.api.setCapacity(ctx, supTok, acct.ID, r.cfg.AgentCapacity); err != nil {
			return a, err
		}
	}
	return a, nil
}

// loadTokens reads the token file; a missing file (or none named) is empty.
func loadTokens(path string) (map[string]string, error) {
	tokens := map[string]string{}
	if path == "" {
		return tokens, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return tokens, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	if err := json.Unmarshal(b, &tokens); err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return tokens, nil
}

func saveTokens(path string, tokens map[string]string) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(tokens, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	return nil
}

// connectAgents opens every agent's session and waits for all welcomes.
func (r *run) connectAgents(ctx context.Context) error {
	r.connectPaced(ctx, len(r.agents), func(i int, done func()) {
		a := r.agents[i]
		a.ready = done
		r.readers.Add(1)
		go a.run(ctx)
	})
	if !waitFor(ctx, func() bool { return r.st.agentsUp.Load() == int64(len(r.agents)) }) {
		return fmt.Errorf("%w: %d of %d", ErrAgentsNotUp, r.st.agentsUp.Load(), len(r.agents))
	}
	return nil
}

func (a *agent) run(ctx context.Context) {
	r := a.r
	defer r.readers.Done()
	ws, err := r.ep.dial(ctx, "/ws/agent", url.Values{"token": {a.token}})
	if err != nil {
		a.ready()
		r.st.count(r.st.failures, "agent: "+failReason(err))
		r.log.Error("agent session failed", zap.String("email", a.email), zap.Error(err))
		return
	}
	a.ws.Store(ws)
	if r.stopping.Load() {
		closeConn(ws)
	}
	go a.writeLoop(ws)
	err = readFrames(ws, a.onFrame)
	a.ready()
	a.stop()
	if !r.stopping.Load() {
		a.mu.Lock()
		for c := range a.held {
			c.dropped.Store(true)
		}
		a.mu.Unlock()
		r.st.dropped.Add(1)
		r.st.count(r.st.failures, "agent dropped during the run: "+failReason(err))
		r.log.Error("agent session ended during the run", zap.String("email", a.email), zap.Error(err))
	}
}

func (a *agent) onFrame(data []byte, at time.Time) {
	r := a.r
	switch string(topString(data, "type")) {
	case typeMessageNew:
		dir, n, sentAt, ok := findMarker(data)
		if !ok || dir != dirShopper {
			return // its own echo, or an automatic message (the shopper side counts those)
		}
		c := r.reg.get(topString(data, "conversation_id"))
		if c == nil {
			return
		}
		r.delivered(&r.st.s2a, &c.s, n, sentAt, at)
		if !a.silent {
			a.enqueue(job{c: c, kind: dirAgent})
		}
	case typeMessageAck:
		r.onAck(data, &r.st.a2s, agentSide, dirAgent)
	case typeAssigned:
		var f convFrame
		if json.Unmarshal(data, &f) != nil || f.Body.Conversation.ID == "" {
			r.st.count(r.st.errors, "agent:unreadable conversation.assigned")
			return
		}
		c := r.reg.add(f.Body.Conversation.ID)
		a.hold(c, true)
		if !a.silent && !c.greetQueued.Swap(true) {
			a.enqueue(job{c: c, kind: dirGreeting})
		}
	case typeTransferred, typeClosed:
		var f convFrame
		if json.Unmarshal(data, &f) == nil {
			if c := r.reg.get([]byte(f.Body.Conversation.ID)); c != nil {
				a.hold(c, false)
			}
		}
	case typeBreached:
		var f breachFrame
		if json.Unmarshal(data, &f) == nil {
			r.st.count(r.st.breaches, f.Body.Action)
		}
	case typeError:
		r.onError(data, "agent")
	case typeWelcome:
		if !a.up.Swap(true) {
			r.st.agentsUp.Add(1)
			a.ready()
		}
	}
}

func (a *agent) hold(c *conv, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if on {
		a.held[c] = true
	} else {
		delete(a.held, c)
	}
}

// enqueue hands a job to the writer without blocking the reader.
func (a *agent) enqueue(j job) {
	select {
	case a.out <- j:
	default:
		a.r.st.overflow.Add(1)
	}
}

// writeLoop is the only writer of the agent's session.
func (a *agent) writeLoop(ws *websocket.Conn) {
	r := a.r
	tb := tokenBucket{rate: agentSendRate, burst: agentBurst, tokens: agentBurst, last: time.Now()}
	buf := make([]byte, 0, 256+r.cfg.MsgBytes)
	for {
		var j job
		select {
		case j = <-a.out:
		case <-a.quit:
			return
		}
		if d := tb.take(time.Now()); d > 0 {
			select {
			case <-time.After(d):
			case <-a.quit:
				return
			}
		}
		switch j.kind {
		case dirAgent:
			n := r.sending(&r.st.a2s, &j.c.a)
			buf = appendSend(buf[:0], j.c.id, j.c.idx, dirAgent, n, time.Now().UnixNano(), r.cfg.MsgBytes)
		case dirGreeting:
			buf = appendSend(buf[:0], j.c.id, j.c.idx, dirGreeting, 1, time.Now().UnixNano(), r.cfg.MsgBytes)
		default:
			buf = appendClose(buf[:0], j.c.id)
		}
		if err := writeFrame(ws, buf); err != nil {
			if j.kind == dirAgent {
				r.sendFailed(&r.st.a2s, &j.c.a)
			}
			if !r.stopping.Load() {
				r.log.Error("agent write failed", zap.String("email", a.email), zap.Error(err))
			}
			return
		}
	}
}

// tokenBucket paces one connection's frames. take reserves a token and
// says how long to wait before using it.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) take(now time.Time) time.Duration {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// closeConversations has the agents close every conversation of the run
// they hold, then waits (up to timeout) for the shoppers to hear of it.
func (r *run) closeConversations(timeout time.Duration) (closed, total int) {
	deadline := time.After(timeout)
	before := r.st.closedSeen.Load()
	r.mu.Lock()
	agents := r.agents
	r.mu.Unlock()
	for _, a := range agents {
		if a.down() {
			continue
		}
		a.mu.Lock()
		var mine []*conv
		for c := range a.held {
			if c.shopper.Load() != nil {
				mine = append(mine, c)
			}
		}
		a.mu.Unlock()
		for _, c := range mine {
			select {
			case a.out <- job{c: c, kind: jobClose}:
				total++
			case <-deadline:
				return int(r.st.closedSeen.Load() - before), total
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	waitFor(ctx, func() bool { return r.st.closedSeen.Load()-before >= int64(total) })
	return int(r.st.closedSeen.Load() - before), total
}
