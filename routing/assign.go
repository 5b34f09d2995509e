// Package routing decides which agent takes a conversation, keeps the queue
// of conversations waiting for one, and estimates how long they will wait.
//
// Everything here is pure: the hub passes in a snapshot of its agents (and,
// where it matters, the time) and carries out the answer. There is no I/O, no
// goroutine and no clock, and nothing is safe for concurrent use; the caller
// owns the locking.
//
// The rule, as in the protocol: among the online agents with the skill and
// free capacity, the one with the lowest load/capacity, then the one idle
// longest. On top of that a returning shopper gets their last agent back when
// that agent can take them, a topic the agent lists wins over one it does not,
// and a reassignment never goes back to the agent it moves away from.
//
// Assign decides in one pass over a snapshot. Pool makes the same decision
// from an index kept up to date agent by agent, without the pass, for a
// caller that holds its agents for the long run.
package routing

import "time"

// Status is an agent's availability, as on the wire.
type Status string

const (
	// Online agents take new conversations.
	Online Status = "online"
	// Away agents keep their conversations but get no new ones.
	Away Status = "away"
	// Offline agents have no session.
	Offline Status = "offline"
)

// Agent is the routing view of one agent at one moment.
type Agent struct {
	ID     string
	Status Status
	// Skills are locales ("zh-CN", "en") and topics ("sales", "after_sales");
	// an agent with none is a generalist and meets every requirement, but
	// is never preferred for a topic. Matching is exact: normalise upstream.
	Skills    []string
	Capacity  int       // most conversations at once
	Load      int       // conversations now
	IdleSince time.Time // last conversation ended or came online; earlier wins ties
}

// Request is what a conversation needs from its agent.
type Request struct {
	Locale  string // the agent must list it (or list no skills at all)
	Topic   string // agents listing it are chosen before those that do not
	Skill   string // hard requirement when set, as Locale (a transfer to a skill)
	Prefer  string // the shopper's last agent: chosen whenever eligible
	Exclude string // never chosen (reassignment away from a silent agent)
}

// Assign returns the index in agents of the agent that should take req, or
// -1 when none is eligible.
//
// Eligible means online, below capacity, not req.Exclude, and listing
// req.Skill and req.Locale when they are set (or listing no skills at all).
// Among the eligible, req.Prefer wins outright; otherwise agents listing
// req.Topic come first, then the lowest Load/Capacity, then the earliest
// IdleSince, then the lower index. One pass, no allocation.
func Assign(req Request, agents []Agent) int {
	best := -1
	var (
		bestTopic         bool
		bestLoad, bestCap int
		bestIdle          time.Time
	)
	wantTopic := req.Topic != ""
	for i := range agents {
		a := &agents[i]
		if !a.free(req.Exclude) {
			continue
		}
		preferred := req.Prefer != "" && same(a.ID, req.Prefer)
		cmp := -1
		if best >= 0 {
			cmp = a.compare(bestLoad, bestCap, bestIdle)
		}
		// Behind the best so far on load and idle, and the topic cannot
		// lift it ahead: whatever its skills, it does not win.
		if cmp >= 0 && !preferred && (bestTopic || !wantTopic) {
			continue
		}
		topic, ok := a.fits(&req)
		if !ok {
			continue
		}
		if preferred {
			return i
		}
		if best >= 0 {
			if topic != bestTopic {
				if !topic {
					continue
				}
			} else if cmp >= 0 {
				continue // a tie keeps the lower index
			}
		}
		best, bestTopic, bestLoad, bestCap, bestIdle = i, topic, a.Load, a.Capacity, a.IdleSince
	}
	return best
}

// Slots is the capacity, busy or free, of the online agents that could serve
// req: the number of conversations they work through at once, which is what
// EstimateWait divides the queue by. Zero means nobody online could.
func Slots(req Request, agents []Agent) int {
	n := 0
	for i := range agents {
		a := &agents[i]
		if a.Status != Online || a.Capacity <= 0 || (req.Exclude != "" && a.ID == req.Exclude) {
			continue
		}
		if _, ok := a.fits(&req); ok {
			n += a.Capacity
		}
	}
	return n
}

// free reports whether a can take one more conversation now.
func (a *Agent) free(exclude string) bool {
	return a.Load < a.Capacity && a.Capacity > 0 && a.Status == Online &&
		(exclude == "" || a.ID != exclude)
}

// fits reports whether a meets req's locale and skill, and whether it lists
// req's topic, in one scan of its skills.
func (a *Agent) fits(req *Request) (topic, ok bool) {
	if len(a.Skills) == 0 {
		return false, true
	}
	needLocale, needSkill, wantTopic := req.Locale != "", req.Skill != "", req.Topic != ""
	for _, s := range a.Skills {
		if needLocale && same(s, req.Locale) {
			needLocale = false
		}
		if needSkill && same(s, req.Skill) {
			needSkill = false
		}
		if wantTopic && same(s, req.Topic) {
			topic, wantTopic = true, false
		}
	}
	return topic, !needLocale && !needSkill
}

// same is s == t for a non-empty t, without a call into the runtime for
// the usual case of two different skills of the same length.
func same(s, t string) bool {
	return len(s) == len(t) && s[0] == t[0] && s[len(s)-1] == t[len(t)-1] && s == t
}

// compare ranks a against an agent with load, capacity and idle on load
// ratio, then idle time: -1 when a comes first, 1 when after, 0 on a tie.
func (a *Agent) compare(load, capacity int, idle time.Time) int {
	// a.Load/a.Capacity against load/capacity, both capacities positive.
	if l, r := a.Load*capacity, load*a.Capacity; l != r {
		if l < r {
			return -1
		}
		return 1
	}
	return a.IdleSince.Compare(idle)
}
