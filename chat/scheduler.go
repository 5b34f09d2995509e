package chat

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler keeps every conversation's next deadline in one min-heap behind
// a single clock timer, instead of a runtime timer per conversation. When a
// deadline passes, the conversation id goes to fire, which must not block
// for long (the hub hands it to a worker).
type scheduler struct {
	clock Clock
	fire  func(conversationID string)

	mu      sync.Mutex
	h       deadlineHeap
	index   map[string]*deadline
	timer   Timer
	timerAt time.Time
	stopped bool
}

type deadline struct {
	id string
	at time.Time
	i  int
}

func newScheduler(clock Clock, fire func(string)) *scheduler {
	return &scheduler{clock: clock, fire: fire, index: make(map[string]*deadline)}
}

// Arm sets the conversation's next deadline; a zero time removes it.
func (s *scheduler) Arm(id string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	d, ok := s.index[id]
	switch {
	case at.IsZero() && ok:
		heap.Remove(&s.h, d.i)
		delete(s.index, id)
	case at.IsZero():
		return
	case ok:
		d.at = at
		heap.Fix(&s.h, d.i)
	default:
		d = &deadline{id: id, at: at}
		heap.Push(&s.h, d)
		s.index[id] = d
	}
	s.resetLocked()
}

// Len is how many conversations have a deadline.
func (s *scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.h)
}

// Stop cancels the timer; nothing fires afterwards.
func (s *scheduler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// resetLocked makes the one timer wake at the earliest deadline.
func (s *scheduler) resetLocked() {
	if len(s.h) == 0 {
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		return
	}
	next := s.h[0].at
	if s.timer != nil && s.timerAt.Equal(next) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerAt = next
	s.timer = s.clock.AfterFunc(next.Sub(s.clock.Now()), s.onTimer)
}

func (s *scheduler) onTimer() {
	now := s.clock.Now()
	var due []string
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	for len(s.h) > 0 && !s.h[0].at.After(now) {
		d := heap.Pop(&s.h).(*deadline)
		delete(s.index, d.id)
		due = append(due, d.id)
	}
	s.timer = nil
	s.resetLocked()
	s.mu.Unlock()
	for _, id := range due {
		s.fire(id)
	}
}

type deadlineHeap []*deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
func (h *deadlineHeap) Push(x any) {
	d := x.(*deadline)
	d.i = len(*h)
	*h = append(*h, d)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}
