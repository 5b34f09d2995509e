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

// rateLimiter is a token bucket, used only by a session's reader.
type rateLimiter struct {
	tokens    float64
	last      time.Time
	refused   int       // frames refused since limitedAt
	limitedAt time.Time // first refusal of the current window
}

func newRateLimiter() rateLimiter { return rateLimiter{tokens: rateBurst} }

func (r *rateLimiter) take(now time.Time) rateVerdict {
	if !r.last.IsZero() {
		r.tokens = min(rateBurst, r.tokens+now.Sub(r.last).Seconds()*rateLimit)
	}
	r.last = now
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
