package chat

import (
	"slices"
	"sync"
	"sync/atomic"
)

// workersIdle is how many finished workers wait for the next task. A burst
// that needs more starts more; those beyond this many end when done.
const workersIdle = 256

// workers runs the short-lived work of sessions (a woken reader, a writer
// with frames queued) on goroutines kept between tasks. A new goroutine
// starts with a small stack and grows it, copying, in the same calls every
// time: under load that copying was 5–8 % of the server's CPU (profile in
// docs/benchmarks.md). A kept worker has grown its stack already.
type workers struct {
	quit <-chan struct{}
	wg   *sync.WaitGroup
	max  int
	born atomic.Int64 // workers started, ever

	mu   sync.Mutex
	idle []chan func() // waiting workers, the last to finish on top
}

func newWorkers(quit <-chan struct{}, wg *sync.WaitGroup, idle int) *workers {
	return &workers{quit: quit, wg: wg, max: idle}
}

// run hands f to the worker that finished last, or starts one. Every
// worker is counted in wg while it lives; idle workers end when quit
// closes.
func (p *workers) run(f func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		in <- f // its buffer holds one: never blocks
		return
	}
	p.mu.Unlock()
	p.wg.Add(1)
	p.born.Add(1)
	go p.work(f)
}

func (p *workers) work(f func()) {
	defer p.wg.Done()
	in := make(chan func(), 1)
	for {
		f()
		f = nil // let the task's captures go while waiting
		p.mu.Lock()
		if len(p.idle) >= p.max {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, in)
		p.mu.Unlock()
		select {
		case f = <-in:
		case <-p.quit:
			p.mu.Lock()
			i := slices.Index(p.idle, in)
			if i >= 0 {
				p.idle = slices.Delete(p.idle, i, i+1)
			}
			p.mu.Unlock()
			if i >= 0 {
				return
			}
			f = <-in // taken off the list by run: its task is on the way
		}
	}
}
