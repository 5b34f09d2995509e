package main

import (
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Histogram layout: values (nanoseconds) below 2^subBits are counted
// exactly; above, every power of two is split into 2^(subBits-1) equal
// buckets, so a bucket is never wider than 1/64 of its lower bound.
const (
	subBits  = 7
	subCount = 1 << subBits // 128 exact buckets at the bottom
	subHalf  = subCount / 2 // buckets per power of two above them
	maxBits  = 41           // values are clipped to 2^41-1 ns (about 36 min)
	nBuckets = (maxBits-subBits)*subHalf + subCount
	maxValue = uint64(1)<<maxBits - 1
)

// Histogram counts non-negative durations in log-linear buckets. Record is
// a handful of atomic adds with no allocation, so one histogram is shared by
// every connection's reader.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	min    atomic.Uint64 // stored as ^v so that the zero value means "none yet"
	max    atomic.Uint64
}

// bucketOf is the bucket of v (v <= maxValue).
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return shift*subHalf + int(v>>shift)
}

// bucketBounds is the smallest and the largest value counted in bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subHalf - 1
	m := uint64(i - shift*subHalf)
	return m << shift, (m+1)<<shift - 1
}

// Record counts one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	if v > maxValue {
		v = maxValue
	}
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		old := h.max.Load()
		if v <= old || h.max.CompareAndSwap(old, v) {
			break
		}
	}
	for {
		old := h.min.Load()
		if (old != 0 && v >= ^old) || h.min.CompareAndSwap(old, ^v) {
			break
		}
	}
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Quantile is the duration below or at which a fraction q (0..1) of the
// recorded ones fall: the top of the bucket holding that rank, never above
// the largest recorded. An empty histogram answers 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			lo := ^h.min.Load()
			return time.Duration(min(max(hi, lo), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// Summary is the histogram's figures, in milliseconds.
func (h *Histogram) Summary() Summary {
	n := h.n.Load()
	if n == 0 {
		return Summary{}
	}
	return Summary{
		Count:  n,
		MinMs:  ms(time.Duration(^h.min.Load())),
		MeanMs: ms(time.Duration(h.sum.Load() / n)),
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P99Ms:  ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)),
		MaxMs:  ms(time.Duration(h.max.Load())),
	}
}

// Summary describes a set of durations, in milliseconds.
type Summary struct {
	Count  uint64  `json:"count"`
	MinMs  float64 `json:"min_ms"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Sample keeps every duration, signed, for exact percentiles of small sets
// (a timing-rule run has two per conversation). Safe for concurrent use.
type Sample struct {
	mu sync.Mutex
	v  []time.Duration
}

// Add keeps one duration.
func (s *Sample) Add(d time.Duration) {
	s.mu.Lock()
	s.v = append(s.v, d)
	s.mu.Unlock()
}

// Summary is the exact figures of the sample (nearest rank).
func (s *Sample) Summary() Summary {
	s.mu.Lock()
	v := slices.Clone(s.v)
	s.mu.Unlock()
	if len(v) == 0 {
		return Summary{}
	}
	slices.Sort(v)
	var sum time.Duration
	for _, d := range v {
		sum += d
	}
	at := func(q float64) time.Duration {
		r := int(math.Ceil(q * float64(len(v))))
		return v[min(max(r, 1), len(v))-1]
	}
	return Summary{
		Count:  uint64(len(v)),
		MinMs:  ms(v[0]),
		MeanMs: ms(sum / time.Duration(len(v))),
		P50Ms:  ms(at(0.50)),
		P90Ms:  ms(at(0.90)),
		P99Ms:  ms(at(0.99)),
		P999Ms: ms(at(0.999)),
		MaxMs:  ms(v[len(v)-1]),
	}
}
