package chat

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/daogou/daogou/chat/store"
)

// Metrics are the hub's Prometheus series, on a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry
	sessions *prometheus.GaugeVec
	closed   *prometheus.CounterVec
	messages *prometheus.CounterVec
	delivery prometheus.Histogram
	rules    *prometheus.CounterVec
	queue    prometheus.Gauge
	frames   *prometheus.CounterVec
}

// NewMetrics registers every series (and the Go runtime's) on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "daogou_sessions", Help: "Open WebSocket sessions on this instance, by role.",
		}, []string{"role"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daogou_sessions_closed_total", Help: "Sessions ended, by reason.",
		}, []string{"reason"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daogou_messages_total", Help: "Messages stored, by author kind.",
		}, []string{"author"}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "daogou_delivery_latency_seconds",
			Help:    "From a message reaching this instance's hub to its frame written to a recipient's socket.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daogou_rule_events_total", Help: "Timing-rule results: rule, result (met or breached) and action.",
		}, []string{"rule", "result", "action"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daogou_queue_length", Help: "Conversations waiting for an agent.",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daogou_frames_refused_total", Help: "Client frames answered with an error, by code.",
		}, []string{"code"}),
	}
	m.Registry.MustRegister(m.sessions, m.closed, m.messages, m.delivery, m.rules, m.queue, m.frames,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) observeDelivery(d time.Duration) { m.delivery.Observe(d.Seconds()) }

// writerStats is a store that counts its writers' group commits (SQLite, PostgreSQL).
type writerStats interface{ WriterStats() store.WriterStats }

// registerWriter adds the store writer's series: requests per commit and
// the time a commit takes are read from them (rates of the totals). A
// registry shared by a second hub keeps the first store's.
func (m *Metrics) registerWriter(st writerStats) {
	series := []struct {
		name, help string
		value      func(store.WriterStats) float64
	}{
		{"daogou_store_commits_total", "Transactions the store's writers committed, each carrying the requests waiting (one fsync each).",
			func(w store.WriterStats) float64 { return float64(w.Commits) }},
		{"daogou_store_commit_requests_total", "Requests (messages, new conversations, events) those commits carried.",
			func(w store.WriterStats) float64 { return float64(w.Requests) }},
		{"daogou_store_commit_seconds_total", "Time the store's writers spent running those transactions, fsync included.",
			func(w store.WriterStats) float64 { return w.CommitTime.Seconds() }},
		{"daogou_store_checkpoints_total", "Passive WAL checkpoints run beside the SQLite writer (0 on PostgreSQL).",
			func(w store.WriterStats) float64 { return float64(w.Checkpoints) }},
		{"daogou_store_checkpoint_seconds_total", "Time those checkpoints took.",
			func(w store.WriterStats) float64 { return w.CheckpointTime.Seconds() }},
		{"daogou_store_batch_replays_total", "Batches run a second time because one request failed: with a savepoint per request (SQLite), one by one (PostgreSQL).",
			func(w store.WriterStats) float64 { return float64(w.Replays) }},
	}
	for _, s := range series {
		value := s.value
		_ = m.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: s.name, Help: s.help},
			func() float64 { return value(st.WriterStats()) }))
	}
}
