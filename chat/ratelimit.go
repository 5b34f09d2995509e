package chat

import "time"

// The contract's rate limit: 10 frames a second per connection with bursts
// of 20; a client that sends more than another burst of refused frames within
// 10 s of being told is closed.
const (
	rateLimit   = 10
	rateBurst   = 20
	abuseWindow = 10 * time.Second
)

type rateVerdict int

const (
	rateOK rateVerdict = iota
	rateRefused
	rateAbusive
)

// rateLimiter is a token bucket, used only by a session's reader. Time the
// server itself spent on the client's previous frames, or took to start a
// reader for them, raises the bucket's cap for that while: frames that piled
// up while the server was busy are the server's delay, not a flood.
type rateLimiter struct {
	tokens    float64
	last      time.Time
	busy      time.Duration // the server's handling time since the last take
	refused   int           // frames refused since limitedAt
	limitedAt time.Time     // first refusal of the current window
}

// served notes how long the server spent on a frame.
func (r *rateLimiter) served(d time.Duration) { r.busy += d }

func newRateLimiter() rateLimiter { return rateLimiter{tokens: rateBurst} }

func (r *rateLimiter) take(now time.Time) rateVerdict {
	if !r.last.IsZero() {
		// The cap bounds the refill only: tokens a delay of the server's
		// granted stay until the backlog they are for has been read.
		ceiling := rateBurst + min(r.busy.Seconds()*rateLimit, 10*rateBurst)
		r.tokens = min(max(ceiling, r.tokens), r.tokens+now.Sub(r.last).Seconds()*rateLimit)
	}
	r.last, r.busy = now, 0
	if r.tokens >= 1 {
		r.tokens--
		return rateOK
	}
	if r.limitedAt.IsZero() || now.Sub(r.limitedAt) > abuseWindow {
		r.limitedAt, r.refused = now, 0
	}
	r.refused++
	if r.refused > rateBurst+1 {
		return rateAbusive
	}
	return rateRefused
}
