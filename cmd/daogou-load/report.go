package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is everything a run reports; it is the JSON output.
type result struct {
	Mode        string        `json:"mode"`
	Command     string        `json:"command"`
	Started     time.Time     `json:"started"`
	WallSeconds float64       `json:"wall_seconds"`
	Targets     []string      `json:"targets"`
	SourceIPs   int           `json:"source_ips"`
	NoFile      uint64        `json:"nofile_limit"`
	Idle        *idleResult   `json:"idle,omitempty"`
	Relay       *relayResult  `json:"relay,omitempty"`
	Rules       *rulesResult  `json:"rules,omitempty"`
	Server      *serverResult `json:"server,omitempty"`
	Warnings    []string      `json:"warnings,omitempty"`
	Error       string        `json:"error,omitempty"`
}

// serverResult is the servers' CPU over the measured window, with
// --server-pid.
type serverResult struct {
	PIDs          []int   `json:"pids"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	WindowSeconds float64 `json:"window_seconds"`
	CPUPercent    float64 `json:"cpu_percent_of_one_core"`
	RSSStart      int64   `json:"rss_start_bytes"`
	RSSEnd        int64   `json:"rss_end_bytes"`
}

func (r *result) warn(s string) { r.Warnings = append(r.Warnings, s) }

// writeJSON writes the result to path ("-": w).
func writeJSON(res *result, path string, w io.Writer) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = w.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

// writeTable prints the result for people.
func writeTable(res *result, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(name, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", name, fmt.Sprintf(format, a...)) }
	fmt.Fprintf(tw, "daogou-load %s\t%s\n", res.Mode, strings.Join(res.Targets, " "))
	switch {
	case res.Idle != nil:
		idleTable(res.Idle, row)
	case res.Relay != nil:
		relayTable(res.Relay, tw, row)
	case res.Rules != nil:
		rulesTable(res.Rules, tw, row)
	}
	if s := res.Server; s != nil {
		row("server CPU", "%.2f s over %.2f s (%.0f%% of one core); RSS %s → %s", s.CPUSeconds, s.WindowSeconds, s.CPUPercent, mib(s.RSSStart), mib(s.RSSEnd))
	}
	row("wall time", "%.1f s", res.WallSeconds)
	for _, warning := range res.Warnings {
		row("warning", "%s", warning)
	}
	if res.Error != "" {
		row("error", "%s", res.Error)
	}
	return tw.Flush()
}

func idleTable(r *idleResult, row func(string, string, ...any)) {
	row("sessions", "%d opened of %d, %d failed, %d dropped after opening; %d open at the end of a %.0f s hold", r.Opened, r.Sessions, r.Failed, r.Dropped, r.OpenAtEnd, r.HeldSeconds)
	row("connect rate", "%.0f sessions/s (%d in %.2f s)", r.ConnectRate, r.Opened, r.ConnectSeconds)
	if r.Agents > 0 {
		row("agents", "%d silent agents online: conversations are assigned", r.Agents)
	} else {
		row("agents", "none online: every conversation waits in the queue")
	}
	if r.ConnectCPUSeconds > 0 {
		row("server CPU to connect", "%.2f s (%.2f ms per session)", r.ConnectCPUSeconds, 1000*r.ConnectCPUSeconds/float64(max(r.Opened, 1)))
	}
	row("connect latency", "%s", latencyText(r.ConnectLatency))
	if len(r.Failures) > 0 {
		row("failures", "%s", counts(r.Failures))
	}
	row("auto messages", "%s", countsOrNone(r.AutoMessages))
	if m := r.Memory; m != nil {
		row("server RSS", "baseline %s, connected %s, settled %s, end %s", mib(m.BaselineRSS), mib(m.ConnectedRSS), mib(m.SettledRSS), mib(m.EndRSS))
		row("RSS per session", "connected %s, settled %s, end %s", kib(m.PerSessionConnected), kib(m.PerSessionSettled), kib(m.PerSessionEnd))
		if m.FreedEndRSS > 0 {
			row("RSS per session, freed", "%.0f bytes (%s → %s, each read after the servers returned freed memory)",
				m.PerSessionFreed, mib(m.FreedBaselineRSS), mib(m.FreedEndRSS))
		}
		if m.MetricsSettled != nil {
			row("Go runtime per session", "heap in use %s, stacks %s, live heap after GC ≈ %s, goroutines %.2f",
				kib(m.HeapPerSession), kib(m.StackPerSession), kib(m.LiveHeapPerSession), m.GoroutinesPerSession)
		}
	}
}

func relayTable(r *relayResult, tw io.Writer, row func(string, string, ...any)) {
	row("conversations", "%d ready of %d; %d agents, capacity %d each", r.Ready, r.Conversations, r.Agents, r.AgentCapacity)
	row("shopper messages", "target %.0f/s, sent %.1f/s over %.1f s (timed: the last %.1f s)", r.TargetRate, r.AchievedRate, r.SendSeconds, r.MeasuredSeconds)
	fmt.Fprintf(tw, "latency (ms)\t%s\n", latencyHead)
	fmt.Fprintf(tw, "  shopper → agent\t%s\n", latencyCols(r.ShopperToAgent.Latency))
	fmt.Fprintf(tw, "  agent → shopper\t%s\n", latencyCols(r.AgentToShopper.Latency))
	row("delivered", "%.0f messages/s both ways", r.DeliveredPerSecond)
	for _, d := range []struct {
		name string
		r    dirResult
	}{{"shopper → agent", r.ShopperToAgent}, {"agent → shopper", r.AgentToShopper}} {
		row("  "+d.name, "sent %d, acked %d, delivered %d, LOST %d (acked %d, never acked %d); undelivered after a dropped session %d; refused %d; send errors %d; duplicated %d",
			d.r.Sent, d.r.Acked, d.r.Delivered, d.r.Lost, d.r.LostAcked, d.r.LostUnacked, d.r.Undelivered, d.r.Refused, d.r.SendErrors, d.r.Duplicated)
	}
	row("drain", "%.2f s", r.DrainSeconds)
	row("generator send lag", "%s", latencyText(r.SendLag))
	row("auto messages", "%s (greeting and holding replies: 0 when every rule was met)", countsOrNone(r.AutoMessages))
	row("rule breaches", "%s", countsOrNone(r.Breaches))
	row("problems", "reassigned %d, agent queue overflow %d, sessions dropped %d", r.Reassigned, r.AgentOverflow, r.Dropped)
	if len(r.Failures) > 0 {
		row("failures", "%s", counts(r.Failures))
	}
	row("error frames", "%s", countsOrNone(r.Errors))
	row("closed at the end", "%d", r.Closed)
}

func rulesTable(r *rulesResult, tw io.Writer, row func(string, string, ...any)) {
	row("conversations", "%d opened of %d; %d silent agents, capacity %d each", r.Opened, r.Conversations, r.Agents, r.AgentCapacity)
	row("deadlines", "auto greeting %d ms after opening, holding reply %d ms after the turn, reassign at %d ms", r.AutoGreetAfterMs, r.FirstResponseMs, r.ReassignMs)
	fmt.Fprintf(tw, "lateness (ms)\t%s\n", latencyHead)
	fmt.Fprintf(tw, "  auto greeting, server time\t%s\n", latencyCols(r.Greeting.Server))
	fmt.Fprintf(tw, "  auto greeting, received\t%s\n", latencyCols(r.Greeting.Local))
	fmt.Fprintf(tw, "  holding reply, server time\t%s\n", latencyCols(r.Holding.Server))
	fmt.Fprintf(tw, "  holding reply, received\t%s\n", latencyCols(r.Holding.Local))
	row("auto greetings", "%d arrived, MISSING %d, TWICE %d", r.Greeting.Arrived, r.Greeting.Missing, r.Greeting.Duplicated)
	row("holding replies", "%d arrived, MISSING %d, TWICE %d (no turn start seen: %d)", r.Holding.Arrived, r.Holding.Missing, r.Holding.Duplicated, r.NoTurnStart)
	row("other", "other auto messages %d, reassigned %d, listened %.1f s", r.OtherAutos, r.Reassigned, r.ListenedSeconds)
	row("dropped by the server", "%d sessions; %d conversations left out of the figures above", r.Dropped, r.DroppedConversations)
	row("breaches seen by agents", "%s", countsOrNone(r.Breaches))
	if len(r.Failures) > 0 {
		row("failures", "%s", counts(r.Failures))
	}
	row("error frames", "%s", countsOrNone(r.Errors))
	row("closed at the end", "%d", r.Closed)
}

const latencyHead = "count\tp50\tp90\tp99\tp99.9\tmax"

func latencyCols(s Summary) string {
	return fmt.Sprintf("%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f", s.Count, s.P50Ms, s.P90Ms, s.P99Ms, s.P999Ms, s.MaxMs)
}

func latencyText(s Summary) string {
	if s.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d)", s.P50Ms, s.P99Ms, s.MaxMs, s.Count)
}

func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func countsOrNone(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	return counts(m)
}

func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }
