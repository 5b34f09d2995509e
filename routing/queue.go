package routing

import (
	"slices"
	"time"
)

// Entry is one conversation waiting for an agent.
type Entry struct {
	ConversationID string
	Since          time.Time // when it started waiting
	Req            Request
	VisitorID      string // who waits; carried along for the caller, not used here
	// Back puts the entry at the back of the queue even when Since is a
	// little older than the newest entry's (a new conversation: stores
	// in a cluster commit at different speeds, and a shopper who joined
	// later must not be told a worse place).
	Back bool
}

// Queue is the one fair FIFO queue of waiting conversations: the oldest entry
// an agent can take goes first. The zero value is an empty queue.
//
// An index from conversation to slot keeps Position O(1), so telling every
// waiting shopper their new place after a change costs O(n), not O(n²).
type Queue struct {
	entries []Entry
	index   map[string]int // ConversationID -> position in entries
}

// Push puts e in the queue in order of Since, behind entries of the same
// time: a new conversation joins the back, and one put back in the queue
// (its agent vanished) returns to the place its first wait earned. A
// conversation already queued keeps its place.
func (q *Queue) Push(e Entry) {
	if _, ok := q.index[e.ConversationID]; ok {
		return
	}
	if q.index == nil {
		q.index = make(map[string]int)
	}
	i := len(q.entries)
	for !e.Back && i > 0 && e.Since.Before(q.entries[i-1].Since) {
		i-- // usually none: the newest joins the back
	}
	q.entries = slices.Insert(q.entries, i, e)
	for j := i; j < len(q.entries); j++ {
		q.index[q.entries[j].ConversationID] = j
	}
}

// Remove takes a conversation out of the queue and reports whether it was in.
func (q *Queue) Remove(conversationID string) bool {
	i, ok := q.index[conversationID]
	if !ok {
		return false
	}
	delete(q.index, conversationID)
	copy(q.entries[i:], q.entries[i+1:])
	last := len(q.entries) - 1
	q.entries[last] = Entry{} // drop references held by the spare slot
	q.entries = q.entries[:last]
	for j := i; j < last; j++ {
		q.index[q.entries[j].ConversationID] = j
	}
	return true
}

// Position is the conversation's 1-based place in the queue, 0 when absent.
func (q *Queue) Position(conversationID string) int {
	if i, ok := q.index[conversationID]; ok {
		return i + 1
	}
	return 0
}

// Len is the number of waiting conversations.
func (q *Queue) Len() int { return len(q.entries) }

// Entries returns a copy of the queue, oldest first.
func (q *Queue) Entries() []Entry {
	out := make([]Entry, len(q.entries))
	copy(out, q.entries)
	return out
}

// At is the entry at 0-based index i (0 <= i < Len()).
func (q *Queue) At(i int) Entry { return q.entries[i] }

// Oldest returns the entry at the front of the queue.
func (q *Queue) Oldest() (Entry, bool) {
	if len(q.entries) == 0 {
		return Entry{}, false
	}
	return q.entries[0], true
}

// failedMemo is how many distinct unroutable requirements Next remembers
// within one call, so that a long tail of entries nobody can take (say, all
// in a locale no free agent speaks) costs one scan of the agents, not one each.
const failedMemo = 8

// need is the part of a Request that decides eligibility; Topic and Prefer
// only rank the eligible, so two requests with the same need either both
// find an agent or both do not.
type need struct{ locale, skill, exclude string }

// Next returns the oldest entry that some eligible agent can take now, with
// the index of the agent Assign chooses for it. Entries nobody can take are
// skipped, not blocking those behind them. The entry stays queued: the caller
// removes it once the assignment is done.
func (q *Queue) Next(agents []Agent) (Entry, int, bool) {
	var failed [failedMemo]need
	nFailed := 0
	for k := range q.entries {
		e := &q.entries[k]
		n := need{e.Req.Locale, e.Req.Skill, e.Req.Exclude}
		if known(failed[:nFailed], n) {
			continue
		}
		if i := Assign(e.Req, agents); i >= 0 {
			return *e, i, true
		}
		if nFailed < failedMemo {
			failed[nFailed] = n
			nFailed++
		}
	}
	return Entry{}, -1, false
}

func known(failed []need, n need) bool {
	for _, f := range failed {
		if f == n {
			return true
		}
	}
	return false
}
