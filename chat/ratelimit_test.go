package chat

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		frames  int           // sent back to back at t0 + gap*i
		gap     time.Duration // between frames
		busy    time.Duration // server time on each frame
		refused int
		abusive bool
	}{
		{"a burst of 20 passes", 20, 0, 0, 0, false},
		{"the 21st is refused", 21, 0, 0, 1, false},
		{"ten a second for ever passes", 200, 100 * time.Millisecond, 0, 0, false},
		{"keeps on past another burst: abusive", 42, 0, 0, 22, true},
		{"a backlog of a busy server is not a flood", 60, 0, time.Second / 10, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRateLimiter()
			refused, abusive := 0, false
			now := t0
			for i := range tc.frames {
				if i > 0 {
					now = now.Add(tc.gap)
				}
				switch r.take(now) {
				case rateRefused:
					refused++
				case rateAbusive:
					refused++
					abusive = true
					now = now.Add(time.Hour) // the connection is closed: stop
				case rateOK:
					r.served(tc.busy)
					now = now.Add(tc.busy)
				}
			}
			if refused != tc.refused || abusive != tc.abusive {
				t.Fatalf("refused %d (abusive %v), want %d (%v)", refused, abusive, tc.refused, tc.abusive)
			}
		})
	}
}
