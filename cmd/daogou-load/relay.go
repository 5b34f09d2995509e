package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// pacerShards is how many goroutines send the shoppers' messages; each owns
// a share of the conversations, so one slow socket delays only its share.
const pacerShards = 8

// relayResult is what a relay run found.
type relayResult struct {
	Conversations   int     `json:"conversations"`
	Ready           int     `json:"ready"` // assigned and greeted before sending began
	Agents          int     `json:"agents"`
	AgentCapacity   int     `json:"agent_capacity"`
	TargetRate      float64 `json:"target_rate"`   // shopper messages a second
	AchievedRate    float64 `json:"achieved_rate"` // shopper messages sent a second
	SendSeconds     float64 `json:"send_seconds"`
	MeasuredSeconds float64 `json:"measured_seconds"` // after --warmup
	DrainSeconds    float64 `json:"drain_seconds"`
	// Messages sent in the measured window and delivered, both ways, per
	// second of the window.
	DeliveredPerSecond float64          `json:"delivered_per_second"`
	ShopperToAgent     dirResult        `json:"shopper_to_agent"`
	AgentToShopper     dirResult        `json:"agent_to_shopper"`
	SendLag            Summary          `json:"send_lag"` // how late the pacer sent against its schedule
	AutoMessages       map[string]int64 `json:"auto_messages"`
	Breaches           map[string]int64 `json:"breaches"`
	Reassigned         int64            `json:"reassigned"`
	AgentOverflow      int64            `json:"agent_overflow"`
	Dropped            int64            `json:"dropped"`
	Failures           map[string]int64 `json:"failures"`
	Errors             map[string]int64 `json:"errors"`
	Closed             int              `json:"closed"`
}

// dirResult is one direction of a relay.
type dirResult struct {
	Sent       int64 `json:"sent"`
	Acked      int64 `json:"acked"`
	Delivered  int64 `json:"delivered"`
	Duplicated int64 `json:"duplicated"`
	Refused    int64 `json:"refused"` // answered with an error frame
	SendErrors int64 `json:"send_errors"`
	// Sent, not refused, not delivered by the end of the drain, in
	// conversations whose sessions lasted the run; of those, how many the
	// server had acknowledged (stored) and how many it had not (still
	// queued in it). Undelivered: the same in conversations where the
	// server dropped a session.
	Lost        int64   `json:"lost"`
	LostAcked   int64   `json:"lost_acked"`
	LostUnacked int64   `json:"lost_unacked"`
	Undelivered int64   `json:"undelivered_session_dropped"`
	Latency     Summary `json:"latency"`
}

func (r *run) result(d *direction, pick func(c *conv) *convDir) dirResult {
	u := r.tally(pick)
	return dirResult{
		Sent: d.sent.Load(), Acked: d.acked.Load(), Delivered: d.recv.Load(), Duplicated: d.dup.Load(),
		Refused: d.refused.Load(), SendErrors: d.sendErr.Load(),
		Lost: u.lost(), LostAcked: u.acked, LostUnacked: u.unacked, Undelivered: u.dropped, Latency: d.lat.Summary(),
	}
}

func shopperSide(c *conv) *convDir { return &c.s }
func agentSide(c *conv) *convDir   { return &c.a }

// prepareAgents provisions and connects the load agents, and learns the
// script categories. It warns about conversations left open by earlier
// runs: they take the agents' capacity.
func (r *run) prepareAgents(ctx context.Context, silent bool, res *result) error {
	var provisioned atomic.Int64
	pctx, stop := context.WithCancel(ctx)
	progress(pctx, r.stderr, r.cfg.Progress, func(time.Duration) string {
		return fmt.Sprintf("agents: provisioned %d/%d, connected %d", provisioned.Load(), r.cfg.Agents, r.st.agentsUp.Load())
	})
	defer stop()
	if err := r.provisionAgents(ctx, silent, &provisioned); err != nil {
		return err
	}
	cats, err := r.api.scriptCategories(ctx, r.supervisorToken)
	if err != nil {
		return err
	}
	r.categories = cats
	if n, err := r.api.openConversations(ctx, r.supervisorToken); err == nil && n > 0 {
		res.warn(fmt.Sprintf("%d conversations were open before the run (earlier runs?): they take agent capacity; start the server on a fresh data dir", n))
	}
	setup, cancel := context.WithTimeout(ctx, r.cfg.SetupTimeout)
	defer cancel()
	return r.connectAgents(setup)
}

// readyConversations are the run's conversations whose shopper is ready.
func (r *run) readyConversations(ready func(c *conv) bool) []*conv {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*conv
	for _, s := range r.shoppers {
		if c := s.conv.Load(); c != nil && s.ws.Load() != nil && ready(c) {
			out = append(out, c)
		}
	}
	return out
}

func runRelay(ctx context.Context, r *run, res *result) error {
	cfg := r.cfg
	out := &relayResult{Conversations: cfg.Conversations, Agents: cfg.Agents, AgentCapacity: cfg.AgentCapacity, TargetRate: cfg.Rate}
	res.Relay = out
	defer r.teardown()
	if err := r.prepareAgents(ctx, false, res); err != nil {
		return err
	}
	r.measureFrom.Store(1<<63 - 1) // nothing is timed before the warmup ends

	setup, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	progress(pctx, r.stderr, cfg.Progress, r.relayLine())
	r.openShoppers(setup, cfg.Conversations)
	waitFor(setup, func() bool {
		return r.st.ready.Load()+r.st.failed.Load()+r.st.dropped.Load() >= int64(cfg.Conversations)
	})
	cancel()
	r.failUnsettled()
	convs := r.readyConversations(func(c *conv) bool { return c.greeted.Load() })
	out.Ready = len(convs)
	if len(convs) == 0 {
		return fmt.Errorf("%w: no conversation was assigned and greeted", errNotReady)
	}
	if len(convs) < cfg.Conversations {
		res.warn(fmt.Sprintf("only %d of %d conversations were ready; sending over those", len(convs), cfg.Conversations))
	}

	start := time.Now().Add(50 * time.Millisecond)
	end := start.Add(cfg.Duration)
	measureAt := start.Add(cfg.Warmup)
	r.measureFrom.Store(measureAt.UnixNano())
	var cpu cpuWindow
	cpu.begin(r, measureAt)
	var wg sync.WaitGroup
	shards := min(pacerShards, len(convs))
	for j := range shards {
		var mine []*conv
		for k := j; k < len(convs); k += shards {
			mine = append(mine, convs[k])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Shards start a global interval apart, so that together they
			// send evenly.
			offset := time.Duration(float64(j) * float64(time.Second) / cfg.Rate)
			r.pace(ctx, mine, cfg.Rate/float64(shards), start.Add(offset), end)
		}()
	}
	wg.Wait()
	sentEnd := time.Now()
	cpu.end(r, res)

	drainStart := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, cfg.Drain)
	waitFor(dctx, r.balanced)
	dcancel()
	out.DrainSeconds = time.Since(drainStart).Seconds()

	out.SendSeconds = sentEnd.Sub(start).Seconds()
	out.MeasuredSeconds = sentEnd.Sub(measureAt).Seconds()
	out.AchievedRate = float64(r.st.s2a.sent.Load()) / out.SendSeconds
	out.ShopperToAgent, out.AgentToShopper = r.result(&r.st.s2a, shopperSide), r.result(&r.st.a2s, agentSide)
	if out.MeasuredSeconds > 0 {
		out.DeliveredPerSecond = float64(out.ShopperToAgent.Latency.Count+out.AgentToShopper.Latency.Count) / out.MeasuredSeconds
	}
	out.SendLag = r.st.lag.Summary()
	out.AutoMessages = r.st.snapshot(r.st.autos)
	out.Breaches = r.st.snapshot(r.st.breaches)
	out.Reassigned = r.st.reassigned.Load()
	out.AgentOverflow = r.st.overflow.Load()
	out.Dropped = r.st.dropped.Load()
	out.Failures = r.st.snapshot(r.st.failures)
	out.Errors = r.st.snapshot(r.st.errors)
	stopProgress()
	if cfg.CloseAtEnd {
		out.Closed, _ = r.closeConversations(cfg.Drain + 5*time.Second)
	}
	return nil
}

// balanced says every message sent so far in a conversation whose sessions
// are up has been delivered or refused, and no live agent has an answer
// waiting.
func (r *run) balanced() bool {
	if r.tally(shopperSide).lost()+r.tally(agentSide).lost() > 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ag := range r.agents {
		if !ag.down() && len(ag.out) > 0 {
			return false
		}
	}
	return true
}

// pace sends shopper messages open-loop: message k is due at start +
// k/rate, to conversation k mod len(convs), whatever happened to the
// earlier ones.
func (r *run) pace(ctx context.Context, convs []*conv, rate float64, start, end time.Time) {
	interval := float64(time.Second) / rate
	buf := make([]byte, 0, 256+r.cfg.MsgBytes)
	for k := int64(0); ; k++ {
		due := start.Add(time.Duration(float64(k) * interval))
		if !due.Before(end) || ctx.Err() != nil {
			return
		}
		now := time.Now()
		if d := due.Sub(now); d > 0 {
			time.Sleep(d)
			now = time.Now()
		}
		r.st.lag.Record(now.Sub(due))
		c := convs[k%int64(len(convs))]
		n := r.sending(&r.st.s2a, &c.s)
		buf = appendSend(buf[:0], c.id, c.idx, dirShopper, n, time.Now().UnixNano(), r.cfg.MsgBytes)
		if err := writeFrame(c.shopper.Load().ws.Load(), buf); err != nil {
			r.sendFailed(&r.st.s2a, &c.s)
		}
	}
}

// relayLine is the relay's progress line: per second, messages sent and
// delivered each way, and the setup's progress before that.
func (r *run) relayLine() func(time.Duration) string {
	var ps, pa, prs, pra int64
	return func(time.Duration) string {
		s, a := r.st.s2a.sent.Load(), r.st.a2s.sent.Load()
		rs, ra := r.st.s2a.recv.Load(), r.st.a2s.recv.Load()
		line := fmt.Sprintf("relay: shoppers open %d ready %d failed %d | s→a sent %d/s recv %d/s | a→s sent %d/s recv %d/s | in flight s→a %d a→s %d",
			r.st.opened.Load(), r.st.ready.Load(), r.st.failed.Load(), s-ps, rs-prs, a-pa, ra-pra, r.st.s2a.inFlight(), r.st.a2s.inFlight())
		ps, pa, prs, pra = s, a, rs, ra
		return line
	}
}

// cpuWindow measures the servers' CPU time over the measured window.
type cpuWindow struct {
	mu    sync.Mutex
	start procSample
	ok    bool
}

// begin samples the servers at the moment at (in the future).
func (w *cpuWindow) begin(r *run, at time.Time) {
	if len(r.cfg.ServerPIDs) == 0 {
		return
	}
	time.AfterFunc(time.Until(at), func() {
		s, err := readProcs(r.cfg.ServerPIDs)
		w.mu.Lock()
		w.start, w.ok = s, err == nil
		w.mu.Unlock()
	})
}

func (w *cpuWindow) end(r *run, res *result) {
	if len(r.cfg.ServerPIDs) == 0 {
		return
	}
	s, err := readProcs(r.cfg.ServerPIDs)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || !w.ok {
		return
	}
	wall := s.At.Sub(w.start.At)
	res.Server = &serverResult{
		PIDs: r.cfg.ServerPIDs, CPUSeconds: s.CPU.Seconds() - w.start.CPU.Seconds(), WindowSeconds: wall.Seconds(),
		RSSStart: w.start.RSS, RSSEnd: s.RSS,
	}
	if wall > 0 {
		res.Server.CPUPercent = 100 * res.Server.CPUSeconds / wall.Seconds()
	}
}
