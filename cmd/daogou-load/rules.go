package main

import (
	"context"
	"fmt"
	"time"
)

// rulesPlan is the server's timing settings, from GET /api/v1/config.
type rulesPlan struct {
	autoGreetAfter time.Duration // opened_at to the auto greeting
	firstResponse  time.Duration // turn start to the holding reply
	reassign       time.Duration // turn start to the reassignment
}

// rulesResult is what a rules run found.
type rulesResult struct {
	Conversations    int     `json:"conversations"`
	Opened           int     `json:"opened"`
	Agents           int     `json:"agents"`
	AgentCapacity    int     `json:"agent_capacity"`
	AutoGreetAfterMs int64   `json:"auto_greet_after_ms"`
	FirstResponseMs  int64   `json:"first_response_deadline_ms"`
	ReassignMs       int64   `json:"reassign_deadline_ms"`
	ListenedSeconds  float64 `json:"listened_seconds"`
	// Lateness against the deadline: "server" uses the message's created_at,
	// "local" the time it reached the shopper; both against the server's
	// opened_at (greeting) or the shopper message's created_at (holding).
	Greeting rulesLateness `json:"auto_greeting"`
	Holding  rulesLateness `json:"holding_reply"`
	// Conversations with no turn start (the shopper's own message never came
	// back), so no holding deadline. Missing counts what had not arrived
	// when the run ended (everything arrived, then --drain; or --duration).
	NoTurnStart int `json:"no_turn_start"`
	// Conversations whose shopper session the server closed during the run;
	// they are left out of the lateness and the missing counts.
	DroppedConversations int              `json:"dropped_conversations"`
	OtherAutos           int              `json:"other_auto_messages"`
	Reassigned           int64            `json:"reassigned"`
	Breaches             map[string]int64 `json:"breaches_seen_by_agents"`
	Dropped              int64            `json:"dropped"`
	Failures             map[string]int64 `json:"failures"`
	Errors               map[string]int64 `json:"errors"`
	Closed               int              `json:"closed"`
	ShopperSends         dirResult        `json:"shopper_messages"`
}

// rulesLateness is one rule's automatic messages.
type rulesLateness struct {
	Arrived    int     `json:"arrived"`
	Missing    int     `json:"missing"`
	Duplicated int     `json:"duplicated"` // conversations that got it more than once
	Server     Summary `json:"lateness_server"`
	Local      Summary `json:"lateness_local"`
}

func runRules(ctx context.Context, r *run, res *result) error {
	cfg := r.cfg
	out := &rulesResult{Conversations: cfg.Conversations, Agents: cfg.Agents, AgentCapacity: cfg.AgentCapacity}
	res.Rules = out
	defer r.teardown()
	sc, err := r.api.config(ctx)
	if err != nil {
		return err
	}
	plan := &rulesPlan{
		autoGreetAfter: time.Duration(sc.AutoGreetAfterMs) * time.Millisecond,
		firstResponse:  time.Duration(sc.FirstResponseDeadlineMs) * time.Millisecond,
		reassign:       time.Duration(sc.ReassignDeadlineMs) * time.Millisecond,
	}
	out.AutoGreetAfterMs, out.FirstResponseMs, out.ReassignMs = sc.AutoGreetAfterMs, sc.FirstResponseDeadlineMs, sc.ReassignDeadlineMs
	if err := r.prepareAgents(ctx, true, res); err != nil {
		return err
	}
	r.rules = plan

	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	progress(pctx, r.stderr, cfg.Progress, func(time.Duration) string {
		g, h := r.st.count2("greeting", "holding")
		return fmt.Sprintf("rules: open %d/%d failed %d | auto greetings %d holding replies %d | reassigned %d",
			r.st.opened.Load(), cfg.Conversations, r.st.failed.Load(), g, h, r.st.reassigned.Load())
	})
	t0 := time.Now()
	var cpu cpuWindow
	cpu.begin(r, t0)
	setup, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	r.openShoppers(setup, cfg.Conversations)
	waitFor(setup, func() bool { return r.st.opened.Load()+r.st.failed.Load() >= int64(cfg.Conversations) })
	cancel()
	r.failUnsettled()

	// Listen until every conversation whose sessions are up has both
	// automatic messages, then --drain longer to catch duplicates; all
	// within --duration of the start.
	last := time.Now()
	if l := r.st.lastOpened.Load(); l > 0 {
		last = time.Unix(0, l)
	}
	lastDue := last.Add(max(plan.autoGreetAfter, plan.firstResponse))
	capAt := t0.Add(cfg.Duration)
	if capAt.Sub(t0) > plan.reassign {
		res.warn(fmt.Sprintf("--duration %v is past the reassign deadline %v: expect reassignments", cfg.Duration, plan.reassign))
	}
	convs := r.readyConversations(func(*conv) bool { return true })
	lctx, lcancel := context.WithDeadline(ctx, capAt)
	complete := pollUntil(lctx, 200*time.Millisecond, func() bool { return time.Now().After(lastDue) && allArrived(convs) })
	sleepCtx(lctx, cfg.Drain)
	lcancel()
	if !complete {
		res.warn(fmt.Sprintf("automatic messages still missing when --duration %v ended the run", cfg.Duration))
	}
	out.ListenedSeconds = time.Since(t0).Seconds()
	cpu.end(r, res)
	stopProgress()

	out.Opened = len(convs)
	r.judge(convs, out)
	out.Reassigned = r.st.reassigned.Load()
	out.Breaches = r.st.snapshot(r.st.breaches)
	out.Dropped = r.st.dropped.Load()
	out.Failures = r.st.snapshot(r.st.failures)
	out.Errors = r.st.snapshot(r.st.errors)
	out.ShopperSends = r.result(&r.st.s2a, shopperSide)
	if cfg.CloseAtEnd {
		out.Closed, _ = r.closeConversations(cfg.Drain + 5*time.Second)
	}
	return nil
}

// allArrived says every conversation whose sessions are up has had its
// auto greeting and its holding reply.
func allArrived(convs []*conv) bool {
	for _, c := range convs {
		if c.dropped.Load() {
			continue
		}
		c.mu.Lock()
		done := len(c.greets) > 0 && len(c.holds) > 0
		c.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

// judge measures every conversation's automatic messages against their
// deadlines.
func (r *run) judge(convs []*conv, out *rulesResult) {
	var gs, gl, hs, hl Sample
	rate := func(l *rulesLateness, got []arrival, due time.Time, server, local *Sample) {
		if len(got) == 0 {
			l.Missing++
			return
		}
		l.Arrived++
		if len(got) > 1 {
			l.Duplicated++
		}
		server.Add(got[0].created.Sub(due))
		local.Add(got[0].received.Sub(due))
	}
	for _, c := range convs {
		if c.dropped.Load() {
			out.DroppedConversations++
			continue // its shopper could not hear anything more
		}
		c.mu.Lock()
		rate(&out.Greeting, c.greets, c.openedAt.Add(r.rules.autoGreetAfter), &gs, &gl)
		if c.turnStart.IsZero() {
			out.NoTurnStart++
			if len(c.holds) == 0 {
				out.Holding.Missing++
			}
		} else {
			rate(&out.Holding, c.holds, c.turnStart.Add(r.rules.firstResponse), &hs, &hl)
		}
		out.OtherAutos += c.otherAutos
		c.mu.Unlock()
	}
	out.Greeting.Server, out.Greeting.Local = gs.Summary(), gl.Summary()
	out.Holding.Server, out.Holding.Local = hs.Summary(), hl.Summary()
}
