package chat

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
