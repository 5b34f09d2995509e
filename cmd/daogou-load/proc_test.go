package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"usual", "Name:\tdaogou\nVmPeak:\t  9999 kB\nVmRSS:\t   20480 kB\nThreads:\t5\n", 20480 << 10, false},
		{"no line", "Name:\tx\n", 0, true},
		{"no unit", "VmRSS:\t20480\n", 0, true},
		{"not a number", "VmRSS:\tlots kB\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrProcFormat) {
					t.Fatalf("err %v, want ErrProcFormat", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseCPU(t *testing.T) {
	fields := func(utime, stime string) string {
		f := make([]string, 20)
		for i := range f {
			f[i] = "0"
		}
		f[0] = "S"
		f[11], f[12] = utime, stime
		return strings.Join(f, " ")
	}
	for _, tc := range []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"plain name", "1234 (daogou) " + fields("250", "50"), 3 * time.Second, false},
		{"name with spaces and parens", "1234 (my (odd) name) " + fields("1", "2"), 30 * time.Millisecond, false},
		{"too short", "1234 (daogou) S 1 2", 0, true},
		{"no name", "1234 daogou S", 0, true},
		{"not a number", "1 (x) " + fields("a", "2"), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPU([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrProcFormat) {
					t.Fatalf("err %v, want ErrProcFormat", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestReadOwnProc reads this test process: its RSS is above zero.
func TestReadOwnProc(t *testing.T) {
	s, err := readProcs([]int{os.Getpid()})
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.RSS <= 0 {
		t.Errorf("RSS %d", s.RSS)
	}
}

func TestParseMetrics(t *testing.T) {
	page := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 19042
go_memstats_heap_inuse_bytes 1.5e+08
daogou_sessions{role="shopper"} 19000
go_memstats_stack_inuse_bytes 9.8e+07
`
	out := map[string]float64{"go_goroutines": 10}
	if err := parseMetrics(strings.NewReader(page), out); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"go_goroutines": 19052, "go_memstats_heap_inuse_bytes": 1.5e8, "go_memstats_stack_inuse_bytes": 9.8e7} {
		if out[name] != want {
			t.Errorf("%s = %v, want %v", name, out[name], want)
		}
	}
	if _, ok := out["go_memstats_next_gc_bytes"]; ok {
		t.Errorf("a missing series was filled in")
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name  string
		at    []time.Duration // offsets from t0 of each take
		waits []time.Duration
	}{
		{"burst is free", []time.Duration{0, 0, 0}, []time.Duration{0, 0, 0}},
		{"after the burst, one per 1/rate", []time.Duration{0, 0, 0, 0}, []time.Duration{0, 0, 0, 100 * time.Millisecond}},
		{"refills with time", []time.Duration{0, 0, 0, 300 * time.Millisecond}, []time.Duration{0, 0, 0, 0}},
		{"never above the burst", []time.Duration{time.Hour, time.Hour, time.Hour, time.Hour}, []time.Duration{0, 0, 0, 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tokenBucket{rate: 10, burst: 3, tokens: 3, last: t0}
			for i, off := range tc.at {
				if got := b.take(t0.Add(off)); got.Round(time.Millisecond) != tc.waits[i] {
					t.Fatalf("take %d waits %v, want %v", i, got, tc.waits[i])
				}
			}
		})
	}
}

func TestFreeServerMemory(t *testing.T) {
	var posts atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/debug/free-os-memory" {
			http.NotFound(w, r)
			return
		}
		posts.Add(1)
	}))
	defer ok.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	for _, tc := range []struct {
		name    string
		admins  []string
		wantErr bool
		posts   int32
	}{
		{"each server asked once", []string{ok.URL, ok.URL}, false, 2},
		{"a server without the endpoint is an error", []string{ok.URL, missing.URL}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			posts.Store(0)
			err := freeServerMemory(context.Background(), tc.admins)
			if (err != nil) != tc.wantErr || posts.Load() != tc.posts {
				t.Fatalf("err %v, posts %d; want error %v, posts %d", err, posts.Load(), tc.wantErr, tc.posts)
			}
		})
	}
}
