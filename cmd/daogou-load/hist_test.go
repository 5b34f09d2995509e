package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    uint64
	}{
		{"zero", 0},
		{"one", 1},
		{"last exact", subCount - 1},
		{"first shared", subCount},
		{"odd above exact", subCount + 1},
		{"a microsecond", 1000},
		{"a millisecond", 1_000_000},
		{"a second", 1_000_000_000},
		{"power of two", 1 << 30},
		{"just below a power of two", 1<<30 - 1},
		{"largest", maxValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := bucketOf(tc.v)
			if i < 0 || i >= nBuckets {
				t.Fatalf("bucketOf(%d) = %d, outside 0..%d", tc.v, i, nBuckets-1)
			}
			lo, hi := bucketBounds(i)
			if tc.v < lo || tc.v > hi {
				t.Fatalf("bucket %d holds %d..%d, not %d", i, lo, hi, tc.v)
			}
			if width := hi - lo; lo > 0 && float64(width) > float64(lo)/float64(subHalf) {
				t.Fatalf("bucket %d is %d wide at %d: coarser than 1/%d", i, width, lo, subHalf)
			}
		})
	}
}

// TestBucketsContiguous checks that the buckets tile the range with no gap
// and no overlap.
func TestBucketsContiguous(t *testing.T) {
	var next uint64
	for i := 0; i < nBuckets; i++ {
		lo, hi := bucketBounds(i)
		if lo != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, next)
		}
		if hi < lo {
			t.Fatalf("bucket %d is empty: %d..%d", i, lo, hi)
		}
		next = hi + 1
	}
	if next != maxValue+1 {
		t.Fatalf("buckets end at %d, want %d", next-1, maxValue)
	}
}

func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(r, 1), len(sorted))-1]
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func(i int) time.Duration
		n    int
	}{
		{"constant", func(int) time.Duration { return 730 * time.Microsecond }, 1000},
		{"uniform 0-10ms", func(int) time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) }, 100_000},
		{"exponential 1ms", func(int) time.Duration { return time.Duration(rng.ExpFloat64() * float64(time.Millisecond)) }, 100_000},
		{"a long tail", func(i int) time.Duration {
			if i%1000 == 0 {
				return 2 * time.Second
			}
			return 300 * time.Microsecond
		}, 50_000},
		{"tiny exact values", func(i int) time.Duration { return time.Duration(i % 100) }, 10_000},
		{"one value", func(int) time.Duration { return 5 * time.Millisecond }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			all := make([]time.Duration, tc.n)
			for i := range all {
				all[i] = tc.gen(i)
				h.Record(all[i])
			}
			slices.Sort(all)
			if h.Count() != uint64(tc.n) {
				t.Fatalf("count %d, want %d", h.Count(), tc.n)
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.Quantile(q), exactQuantile(all, q)
				tol := float64(want)/float64(subHalf) + 1
				if math.Abs(float64(got-want)) > tol {
					t.Errorf("q%.3f = %v, want %v (±%.0fns)", q, got, want, tol)
				}
			}
			s := h.Summary()
			if s.MaxMs != ms(all[len(all)-1]) || s.MinMs != ms(all[0]) {
				t.Errorf("min/max %v/%v, want %v/%v", s.MinMs, s.MaxMs, ms(all[0]), ms(all[len(all)-1]))
			}
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		record  []time.Duration
		wantMax time.Duration
		wantP50 time.Duration
	}{
		{"empty", nil, 0, 0},
		{"negative counts as zero", []time.Duration{-5 * time.Millisecond}, 0, 0},
		{"clipped at the top", []time.Duration{100 * time.Hour}, time.Duration(maxValue), time.Duration(maxValue)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, d := range tc.record {
				h.Record(d)
			}
			if got := h.Quantile(1); got != tc.wantMax {
				t.Errorf("max %v, want %v", got, tc.wantMax)
			}
			if got := h.Quantile(0.5); got != tc.wantP50 {
				t.Errorf("p50 %v, want %v", got, tc.wantP50)
			}
			if s := h.Summary(); s.Count != uint64(len(tc.record)) {
				t.Errorf("summary count %d, want %d", s.Count, len(tc.record))
			}
		})
	}
}

func TestSampleSummary(t *testing.T) {
	msd := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", msd(7), Summary{Count: 1, MinMs: 7, MeanMs: 7, P50Ms: 7, P90Ms: 7, P99Ms: 7, P999Ms: 7, MaxMs: 7}},
		{"unsorted with a negative", msd(5, -2, 9, 1), Summary{Count: 4, MinMs: -2, MeanMs: 3.25, P50Ms: 1, P90Ms: 9, P99Ms: 9, P999Ms: 9, MaxMs: 9}},
		{"one to ten", msd(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), Summary{Count: 10, MinMs: 1, MeanMs: 5.5, P50Ms: 5, P90Ms: 9, P99Ms: 10, P999Ms: 10, MaxMs: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Sample
			for _, d := range tc.in {
				s.Add(d)
			}
			if got := s.Summary(); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * time.Microsecond)
	}
}
