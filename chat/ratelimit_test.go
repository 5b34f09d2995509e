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

// Frames that waited for a reader the server was late to start (a parked
// session woken while the core was saturated) are the server's delay: the
// wait, counted as served, raises the cap for the backlog read at once.
func TestRateLimiterLateReader(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		late    time.Duration // the reader started this long after the socket was readable
		backlog int           // frames sent at 8 a second meanwhile, read back to back
		refused int
	}{
		{"counted: 4 s of an agent's answers pass", 4 * time.Second, 32, 0},
		{"not counted, as before: past the burst refused", 0, 32, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRateLimiter()
			if r.take(t0) != rateOK { // the frame before the reader parked
				t.Fatal("first frame refused")
			}
			now := t0.Add(4 * time.Second)
			r.served(tc.late)
			refused := 0
			for range tc.backlog {
				if r.take(now) != rateOK {
					refused++
				}
			}
			if refused != tc.refused {
				t.Fatalf("refused %d, want %d", refused, tc.refused)
			}
		})
	}
}
