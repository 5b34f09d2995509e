package store

import (
	"testing"
	"time"

	"github.com/daogou/daogou/chat/rules"
)

// TestEncodeTimers checks the hand-written timers against encoding/json,
// byte for byte, errors included.
func TestEncodeTimers(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 15, 123_456_789, time.UTC)
	shanghai := time.FixedZone("CST", 8*3600)
	for _, tc := range []struct {
		name string
		s    rules.State
	}{
		{"none", rules.State{}},
		{"a greeting running", rules.State{GreetingStarted: at, GreetingDeadline: at.Add(15 * time.Second), GreetingAutoAt: at.Add(12 * time.Second)}},
		{"a turn running", rules.State{TurnStarted: at, TurnDeadline: at.Add(3 * time.Second), TurnReassignAt: at.Add(time.Minute)}},
		{"held only", rules.State{TurnHeld: true}},
		{"everything", rules.State{GreetingStarted: at, GreetingDeadline: at, GreetingAutoAt: at,
			TurnStarted: at, TurnDeadline: at, TurnReassignAt: at, TurnHeld: true}},
		{"whole seconds", rules.State{TurnStarted: at.Truncate(time.Second)}},
		{"another zone", rules.State{TurnStarted: at.In(shanghai)}},
		{"year 9999", rules.State{TurnDeadline: time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)}},
		{"year 10000", rules.State{TurnDeadline: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"before year 0", rules.State{GreetingStarted: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeTimers(tc.s)
			want, wantErr := encodeTimersJSON(tc.s)
			if (err != nil) != (wantErr != nil) || got != want {
				t.Fatalf("encodeTimers = %q, %v; encoding/json: %q, %v", got, err, want, wantErr)
			}
			if err != nil {
				return
			}
			back, err := decodeTimers([]byte(got))
			if err != nil || back != msState(tc.s) {
				t.Errorf("decoded %+v, %v; want %+v", back, err, msState(tc.s))
			}
		})
	}
}

// BenchmarkEncodeTimers is a running turn's timers, saved with a message,
// by hand and by encoding/json.
func BenchmarkEncodeTimers(b *testing.B) {
	at := time.Date(2026, 12, 3, 9, 30, 15, 123_000_000, time.UTC)
	s := rules.State{TurnStarted: at, TurnDeadline: at.Add(3 * time.Second), TurnReassignAt: at.Add(time.Minute)}
	for _, enc := range []struct {
		name string
		f    func(rules.State) (string, error)
	}{{"hand", encodeTimers}, {"json", encodeTimersJSON}} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.f(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
