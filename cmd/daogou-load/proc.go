package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on every
// Linux the generator runs on).
const clockTicks = 100

// ErrProcFormat is a /proc file that does not read as expected.
var ErrProcFormat = errors.New("unexpected /proc format")

// procSample is the server processes' memory and CPU at one moment,
// summed over every --server-pid.
type procSample struct {
	RSS int64         // bytes (VmRSS)
	CPU time.Duration // user + system
	At  time.Time
}

func readProcs(pids []int) (procSample, error) {
	s := procSample{At: time.Now()}
	for _, pid := range pids {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return s, err
		}
		rss, err := parseVmRSS(status)
		if err != nil {
			return s, fmt.Errorf("pid %d: %w", pid, err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return s, err
		}
		cpu, err := parseCPU(stat)
		if err != nil {
			return s, fmt.Errorf("pid %d: %w", pid, err)
		}
		s.RSS += rss
		s.CPU += cpu
	}
	return s, nil
}

// parseVmRSS reads the "VmRSS:  1234 kB" line of /proc/PID/status.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: VmRSS line %q", ErrProcFormat, bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmRSS %q", ErrProcFormat, f[0])
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%w: no VmRSS line", ErrProcFormat)
}

// parseCPU reads utime + stime from /proc/PID/stat (fields 14 and 15; the
// command name in field 2 may hold spaces, so count from its ')').
func parseCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no ')'", ErrProcFormat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat has %d fields after the name", ErrProcFormat, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: stat time %q", ErrProcFormat, s)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// raiseNoFile lifts the soft limit of open files to the hard one and
// returns it.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// runtimeMetrics are the Go runtime series of the servers' /metrics that
// size a session, summed over every target.
var runtimeMetrics = []string{
	"go_memstats_heap_inuse_bytes",
	"go_memstats_stack_inuse_bytes",
	"go_memstats_next_gc_bytes",
	"go_goroutines",
	"process_resident_memory_bytes",
}

// scrapeMetrics reads runtimeMetrics from every target's /metrics (the
// contract's operator endpoint); a series a server does not export is
// left out.
func scrapeMetrics(ctx context.Context, bases []*url.URL) (map[string]float64, error) {
	out := map[string]float64{}
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, b := range bases {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.String()+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		err = parseMetrics(resp.Body, out)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseMetrics adds the wanted unlabelled series of a Prometheus text page
// to out.
func parseMetrics(r io.Reader, out map[string]float64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, want := range runtimeMetrics {
			if name == want {
				v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
				if err == nil {
					out[name] += v
				}
			}
		}
	}
	return sc.Err()
}
