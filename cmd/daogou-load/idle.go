package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// idleResult is what an idle run found.
type idleResult struct {
	Sessions       int              `json:"sessions"`
	Agents         int              `json:"agents"` // silent agents online (0: every conversation queued)
	Opened         int64            `json:"opened"`
	Failed         int64            `json:"failed"`
	Failures       map[string]int64 `json:"failures"`
	ConnectSeconds float64          `json:"connect_seconds"` // first dial to the last conversation.opened
	ConnectRate    float64          `json:"connect_rate"`    // sessions opened a second over that time
	ConnectLatency Summary          `json:"connect_latency"` // dial to conversation.opened, per session
	HeldSeconds    float64          `json:"held_seconds"`
	Dropped        int64            `json:"dropped"`     // sessions that ended after opening
	OpenAtEnd      int64            `json:"open_at_end"` // opened minus dropped at the end of the hold
	// The servers' CPU time from the first dial to the last
	// conversation.opened (with --server-pid).
	ConnectCPUSeconds float64          `json:"connect_cpu_seconds,omitempty"`
	Queued            int64            `json:"queued_frames"`
	AutoMessages      map[string]int64 `json:"auto_messages"`
	Memory            *memoryResult    `json:"memory,omitempty"`
}

// memoryResult is the servers' memory, with --server-pid.
type memoryResult struct {
	BaselineRSS  int64 `json:"baseline_rss_bytes"`  // before the first session
	ConnectedRSS int64 `json:"connected_rss_bytes"` // when the last session opened
	SettledRSS   int64 `json:"settled_rss_bytes"`   // --settle later
	EndRSS       int64 `json:"end_rss_bytes"`       // at the end of the hold
	// Per session open at the time: (RSS - baseline) / (opened - dropped).
	PerSessionConnected float64 `json:"rss_per_session_connected_bytes"`
	PerSessionSettled   float64 `json:"rss_per_session_settled_bytes"`
	PerSessionEnd       float64 `json:"rss_per_session_end_bytes"`
	// With --admin-url: the baseline and end readings again, each taken
	// right after the servers collected garbage and returned freed memory.
	FreedBaselineRSS int64   `json:"freed_baseline_rss_bytes,omitempty"`
	FreedEndRSS      int64   `json:"freed_end_rss_bytes,omitempty"`
	PerSessionFreed  float64 `json:"rss_per_session_freed_bytes,omitempty"`
	// From the servers' /metrics (Go runtime), settled minus baseline, per
	// session: heap in use, goroutine stacks, goroutines, and the live heap
	// after the last GC estimated as next_gc/2 (GOGC=100).
	HeapPerSession       float64            `json:"heap_inuse_per_session_bytes,omitempty"`
	StackPerSession      float64            `json:"stack_inuse_per_session_bytes,omitempty"`
	LiveHeapPerSession   float64            `json:"live_heap_after_gc_per_session_bytes_est,omitempty"`
	GoroutinesPerSession float64            `json:"goroutines_per_session,omitempty"`
	MetricsBaseline      map[string]float64 `json:"metrics_baseline,omitempty"`
	MetricsSettled       map[string]float64 `json:"metrics_settled,omitempty"`
}

func runIdle(ctx context.Context, r *run, res *result) error {
	cfg := r.cfg
	out := &idleResult{Sessions: cfg.Sessions, Agents: cfg.Agents}
	res.Idle = out
	if cfg.Agents > 0 {
		// Silent agents online: conversations are assigned, not queued.
		if err := r.prepareAgents(ctx, true, res); err != nil {
			r.teardown()
			return err
		}
	}
	var mem *memoryResult
	var base procSample
	var baseMetrics map[string]float64
	if len(cfg.ServerPIDs) > 0 {
		var err error
		if base, err = readProcs(cfg.ServerPIDs); err != nil {
			return fmt.Errorf("server process: %w", err)
		}
		mem = &memoryResult{BaselineRSS: base.RSS}
		out.Memory = mem
		if len(cfg.AdminURLs) > 0 {
			if err := freeServerMemory(ctx, cfg.AdminURLs); err != nil {
				return err
			}
			if s, err := readProcs(cfg.ServerPIDs); err == nil {
				mem.FreedBaselineRSS = s.RSS
			}
		}
		baseMetrics, _ = scrapeMetrics(ctx, cfg.URLs)
		mem.MetricsBaseline = baseMetrics
	}
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	var prevOpened int64
	progress(pctx, r.stderr, cfg.Progress, func(time.Duration) string {
		o := r.st.opened.Load()
		line := fmt.Sprintf("idle: open %d/%d (+%d/s) failed %d dropped %d", o, cfg.Sessions, o-prevOpened, r.st.failed.Load(), r.st.dropped.Load())
		prevOpened = o
		if len(cfg.ServerPIDs) > 0 {
			if s, err := readProcs(cfg.ServerPIDs); err == nil {
				line += fmt.Sprintf(" server rss %s", mib(s.RSS))
			}
		}
		return line
	})

	t0 := time.Now()
	cpu0 := base
	setup, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	r.openShoppers(setup, cfg.Sessions)
	waitFor(setup, func() bool { return r.st.opened.Load()+r.st.failed.Load() >= int64(cfg.Sessions) })
	cancel()
	r.failUnsettled()
	connected := time.Now()
	if last := r.st.lastOpened.Load(); last > 0 {
		connected = time.Unix(0, last)
	}
	out.ConnectSeconds = connected.Sub(t0).Seconds()
	out.Opened = r.st.opened.Load()
	if out.ConnectSeconds > 0 {
		out.ConnectRate = float64(out.Opened) / out.ConnectSeconds
	}
	out.ConnectLatency = r.st.connectLat.Summary()
	open := func() float64 { return float64(r.st.opened.Load() - r.st.dropped.Load()) }
	perSession := func(rss int64) float64 {
		if open() <= 0 {
			return 0
		}
		return float64(rss-mem.BaselineRSS) / open()
	}
	if mem != nil {
		if s, err := readProcs(cfg.ServerPIDs); err == nil {
			out.ConnectCPUSeconds = (s.CPU - cpu0.CPU).Seconds()
			mem.ConnectedRSS = s.RSS
			mem.PerSessionConnected = perSession(s.RSS)
		}
	}

	holdStart := time.Now()
	if cfg.Settle < cfg.Duration && sleepCtx(ctx, cfg.Settle) && mem != nil {
		if s, err := readProcs(cfg.ServerPIDs); err == nil {
			mem.SettledRSS = s.RSS
			mem.PerSessionSettled = perSession(s.RSS)
		}
		if m, err := scrapeMetrics(ctx, cfg.URLs); err == nil && baseMetrics != nil {
			mem.MetricsSettled = m
			per := func(name string) float64 {
				if open() <= 0 {
					return 0
				}
				return (m[name] - baseMetrics[name]) / open()
			}
			mem.HeapPerSession = per("go_memstats_heap_inuse_bytes")
			mem.StackPerSession = per("go_memstats_stack_inuse_bytes")
			mem.GoroutinesPerSession = per("go_goroutines")
			mem.LiveHeapPerSession = per("go_memstats_next_gc_bytes") / 2
		}
	}
	sleepCtx(ctx, time.Until(holdStart.Add(cfg.Duration)))
	out.HeldSeconds = time.Since(holdStart).Seconds()
	if mem != nil {
		if s, err := readProcs(cfg.ServerPIDs); err == nil {
			mem.EndRSS = s.RSS
			mem.PerSessionEnd = perSession(s.RSS)
		}
		if len(cfg.AdminURLs) > 0 && freeServerMemory(ctx, cfg.AdminURLs) == nil {
			if s, err := readProcs(cfg.ServerPIDs); err == nil && open() > 0 {
				mem.FreedEndRSS = s.RSS
				mem.PerSessionFreed = float64(s.RSS-mem.FreedBaselineRSS) / open()
			}
		}
	}
	out.Dropped = r.st.dropped.Load()
	out.OpenAtEnd = r.st.opened.Load() - out.Dropped
	out.Failed = r.st.failed.Load()
	out.Failures = r.st.snapshot(r.st.failures)
	out.Queued = r.st.queued.Load()
	out.AutoMessages = r.st.snapshot(r.st.autos)
	stopProgress()
	r.teardown()
	return nil
}

// freeServerMemory asks each server's admin listener to collect garbage
// and return freed memory to the system (POST /debug/free-os-memory).
func freeServerMemory(ctx context.Context, admins []string) error {
	for _, a := range admins {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a+"/debug/free-os-memory", nil)
		if err != nil {
			return err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("admin listener %s: %s", a, res.Status)
		}
	}
	return nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
