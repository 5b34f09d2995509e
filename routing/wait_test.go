package routing

import (
	"testing"
	"time"
)

func TestHandlingMean(t *testing.T) {
	seconds := func(from, to int) []time.Duration {
		var out []time.Duration
		for s := from; s <= to; s++ {
			out = append(out, time.Duration(s)*time.Second)
		}
		return out
	}
	repeat := func(d time.Duration, n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	for _, tc := range []struct {
		name string
		add  []time.Duration
		want time.Duration
	}{
		{"empty is the default", nil, DefaultHandling},
		{"one", []time.Duration{time.Minute}, time.Minute},
		{"mean of a few", []time.Duration{time.Minute, 2 * time.Minute}, 90 * time.Second},
		{"zero durations count", []time.Duration{0, 4 * time.Minute}, 2 * time.Minute},
		{"negative ignored", []time.Duration{-time.Hour, 2 * time.Minute}, 2 * time.Minute},
		{"only negative: still the default", []time.Duration{-time.Second}, DefaultHandling},
		{"exactly a window", repeat(time.Minute, HandlingWindow), time.Minute},
		{"oldest dropped once full", append(repeat(time.Minute, HandlingWindow), repeat(3*time.Minute, 10)...),
			(40*time.Minute + 30*time.Minute) / HandlingWindow},
		{"many wraps keep the last window", seconds(1, 120), 95*time.Second + 500*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handling
			for _, d := range tc.add {
				h.Add(d)
			}
			if got := h.Mean(); got != tc.want {
				t.Errorf("Mean = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEstimateWait(t *testing.T) {
	const m = 3 * time.Minute
	for _, tc := range []struct {
		name            string
		position, slots int
		mean            time.Duration
		want            time.Duration
	}{
		{"not queued", 0, 4, m, 0},
		{"negative position", -2, 4, m, 0},
		{"first with one slot", 1, 1, m, m},
		{"third with one slot", 3, 1, m, 3 * m},
		{"within the first round", 4, 5, m, m},
		{"exactly two rounds", 4, 2, m, 2 * m},
		{"rounds up", 5, 2, m, 3 * m},
		{"no slots counts as one", 2, 0, m, 2 * m},
		{"negative slots counts as one", 2, -3, m, 2 * m},
		{"other mean", 7, 3, 90 * time.Second, 270 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EstimateWait(tc.position, tc.mean, tc.slots); got != tc.want {
				t.Errorf("EstimateWait(%d, %v, %d) = %v, want %v", tc.position, tc.mean, tc.slots, got, tc.want)
			}
		})
	}
}
