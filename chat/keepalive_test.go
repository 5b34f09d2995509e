package chat

import (
	"testing"
	"time"
)

func TestKeepalive(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).UnixNano()
	sec := int64(time.Second)
	for _, tc := range []struct {
		name            string
		heard, nextPing int64
		want            int
	}{
		{"heard just now, ping not due", now, now + 10*sec, kaNothing},
		{"ping due", now - 5*sec, now, kaPing},
		{"ping overdue", now - 5*sec, now - sec, kaPing},
		{"silent exactly pongWait", now - int64(pongWait), now + sec, kaNothing},
		{"silent past pongWait", now - int64(pongWait) - 1, now + sec, kaTimeout},
		{"silent and a ping due: closed, not pinged", now - 2*int64(pongWait), now - sec, kaTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keepalive(tc.heard, tc.nextPing, now); got != tc.want {
				t.Fatalf("keepalive = %d, want %d", got, tc.want)
			}
		})
	}
}
