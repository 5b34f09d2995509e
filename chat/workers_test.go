package chat

import (
	"runtime"
	"sync"
	"testing"
)

// waiting is how many workers wait for a task.
func (p *workers) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// waitIdle yields (no sleep) until n workers wait for a task: a worker
// counts as waiting once it is on the list run takes from.
func waitIdle(p *workers, n int) {
	for p.waiting() != n {
		runtime.Gosched()
	}
}

func TestWorkers(t *testing.T) {
	tests := []struct {
		name     string
		maxIdle  int
		parallel int   // tasks held running at once, then released
		again    int   // tasks run one at a time afterwards
		wantBorn int64 // workers started in all
		wantIdle int   // waiting at the end
	}{
		{name: "one task after another reuses one worker", maxIdle: 4, parallel: 1, again: 5, wantBorn: 1, wantIdle: 1},
		{name: "a burst starts a worker per task and keeps them", maxIdle: 8, parallel: 6, again: 6, wantBorn: 6, wantIdle: 6},
		{name: "workers beyond the idle limit end", maxIdle: 2, parallel: 5, again: 3, wantBorn: 5, wantIdle: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quit := make(chan struct{})
			var wg sync.WaitGroup
			p := newWorkers(quit, &wg, tt.maxIdle)

			release := make(chan struct{})
			var started sync.WaitGroup
			started.Add(tt.parallel)
			for range tt.parallel {
				p.run(func() {
					started.Done()
					<-release
				})
			}
			started.Wait() // all running at once: each needed a worker of its own
			close(release)
			waitIdle(p, (min(tt.parallel, tt.maxIdle)))

			for range tt.again {
				done := make(chan struct{})
				p.run(func() { close(done) })
				<-done
				waitIdle(p, (min(tt.parallel, tt.maxIdle)))
			}
			if got := p.born.Load(); got != tt.wantBorn {
				t.Errorf("workers started: %d, want %d", got, tt.wantBorn)
			}
			if got := p.waiting(); got != tt.wantIdle {
				t.Errorf("idle workers: %d, want %d", got, tt.wantIdle)
			}
			close(quit)
			wg.Wait() // idle workers end on quit
			if got := p.waiting(); got != 0 {
				t.Errorf("idle after quit: %d, want 0", got)
			}
		})
	}
}
