package routing

import "time"

const (
	// HandlingWindow is how many recent handling times the estimate uses.
	HandlingWindow = 50
	// DefaultHandling stands in for the mean before any conversation ended.
	DefaultHandling = 3 * time.Minute
)

// Handling keeps the last HandlingWindow handling durations (how long an
// agent spent on a conversation) in a ring. The zero value is empty.
type Handling struct {
	ring [HandlingWindow]time.Duration
	next int           // slot the next Add writes
	n    int           // filled slots, at most HandlingWindow
	sum  time.Duration // of the filled slots
}

// Add records one handling duration, replacing the oldest once the window is
// full. A negative duration (a clock step) is ignored.
func (h *Handling) Add(d time.Duration) {
	if d < 0 {
		return
	}
	if h.n == HandlingWindow {
		h.sum -= h.ring[h.next]
	} else {
		h.n++
	}
	h.ring[h.next] = d
	h.sum += d
	h.next = (h.next + 1) % HandlingWindow
}

// Mean is the mean of the recorded durations, DefaultHandling when none are.
func (h *Handling) Mean() time.Duration {
	if h.n == 0 {
		return DefaultHandling
	}
	return h.sum / time.Duration(h.n)
}

// EstimateWait is how long the conversation at position waits: slots
// conversations are served at once (see Slots; less than 1 counts as 1), each
// taking mean, so it is ceil(position/slots) rounds of mean. A position of 0
// or less (not queued) waits 0.
func EstimateWait(position int, mean time.Duration, slots int) time.Duration {
	if position <= 0 {
		return 0
	}
	slots = max(slots, 1)
	rounds := position / slots
	if position%slots != 0 {
		rounds++
	}
	return time.Duration(rounds) * mean
}
