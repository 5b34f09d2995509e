package routing

import (
	"math/bits"
	"slices"
	"time"
)

// Pool keeps agents indexed so that Assign finds the agent for a request
// without a pass over all of them. It makes exactly the decision Assign
// would make on a slice of the same agents in the order they were first Set.
// The zero value is an empty pool.
//
// Skills are interned to bits of a mask as they first appear. The free
// agents (online, Load below a positive Capacity) stand in sorted lists, best
// first by load ratio, then IdleSince, then insertion order: one list per
// skill, one of the generalists and one of them all. A decision walks the
// head of one or two lists; Set moves an agent within its lists by binary
// search and one copy. Assign does not allocate, nor does Set of an agent
// already in the pool once the lists have grown, unless its skills change.
//
// Only the first 64 distinct skills get a bit. A request naming a later one
// falls back to Assign over every agent, which is correct and O(n).
//
// Like the rest of the package it is not safe for concurrent use.
type Pool struct {
	agents []Agent // by slot: insertion order; removed agents are zero until compacted
	meta   []slotMeta
	index  map[string]int32 // ID -> slot
	dead   int              // removed slots not yet compacted away
	skills map[string]int   // skill -> bit; 64 and up have none
	// lists hold the slots of the free agents, best first: one per
	// skill bit, then generalList and allList.
	lists [listCount][]int32
	remap []int32 // scratch for compact
}

// slotMeta is what the index knows of the agent in one slot.
type slotMeta struct {
	mask    uint64 // bits of the skills it lists (those that have one)
	general bool   // lists no skills
	listed  bool   // free, and so in the lists
	live    bool   // not removed
}

const (
	maskBits    = 64
	generalList = maskBits     // free generalists
	allList     = maskBits + 1 // every free agent
	listCount   = maskBits + 2
)

// rank is the sort key of the lists: Load/Capacity, then idle, then slot.
type rank struct {
	load, capacity int
	idle           time.Time
	slot           int32
}

// Len is the number of agents in the pool.
func (p *Pool) Len() int { return len(p.index) }

// Get returns the agent with the given ID as last Set.
func (p *Pool) Get(id string) (Agent, bool) {
	s, ok := p.index[id]
	if !ok {
		return Agent{}, false
	}
	a := p.agents[s]
	a.Skills = slices.Clone(a.Skills)
	return a, true
}

// Set inserts an agent or replaces the one with the same ID. An agent new
// to the pool goes after every agent already in it, which is the order
// Assign's "lower index" refers to; replacing keeps its place. The pool
// keeps its own copy of a.Skills.
func (p *Pool) Set(a Agent) {
	if p.index == nil {
		p.index = make(map[string]int32)
		p.skills = make(map[string]int)
	}
	s, known := p.index[a.ID]
	if !known {
		s = int32(len(p.agents))
		p.agents = append(p.agents, Agent{})
		p.meta = append(p.meta, slotMeta{})
		p.index[a.ID] = s
	}
	old, from := p.meta[s], p.rank(s)
	cur := &p.agents[s]
	m := slotMeta{mask: old.mask, general: len(a.Skills) == 0, live: true}
	if !slices.Equal(cur.Skills, a.Skills) {
		cur.Skills = append(cur.Skills[:0], a.Skills...)
		m.mask = p.intern(cur.Skills)
	}
	cur.ID, cur.Status, cur.Capacity, cur.Load, cur.IdleSince = a.ID, a.Status, a.Capacity, a.Load, a.IdleSince
	m.listed = cur.free("")
	p.meta[s] = m
	if !old.listed && !m.listed {
		return
	}
	to := p.rank(s)
	var oldMask, newMask uint64
	if old.listed {
		oldMask = old.mask
	}
	if m.listed {
		newMask = m.mask
	}
	for u := oldMask | newMask; u != 0; u &= u - 1 {
		k := bits.TrailingZeros64(u)
		p.shift(k, oldMask>>k&1 != 0, newMask>>k&1 != 0, &from, &to)
	}
	wasGeneral, isGeneral := old.listed && old.general, m.listed && m.general
	if wasGeneral || isGeneral {
		p.shift(generalList, wasGeneral, isGeneral, &from, &to)
	}
	p.shift(allList, old.listed, m.listed, &from, &to)
}

// Remove takes the agent with the given ID out of the pool, if it is in.
// Should it come back, it goes after every agent then in the pool.
func (p *Pool) Remove(id string) {
	s, ok := p.index[id]
	if !ok {
		return
	}
	if m := p.meta[s]; m.listed {
		from := p.rank(s)
		for u := m.mask; u != 0; u &= u - 1 {
			p.shift(bits.TrailingZeros64(u), true, false, &from, nil)
		}
		if m.general {
			p.shift(generalList, true, false, &from, nil)
		}
		p.shift(allList, true, false, &from, nil)
	}
	p.agents[s], p.meta[s] = Agent{}, slotMeta{} // never eligible for the fallback
	delete(p.index, id)
	p.dead++
	if p.dead >= 32 && 2*p.dead >= len(p.agents) {
		p.compact()
	}
}

// Assign returns the ID of the agent that should take req, as Assign would
// choose it; ok is false when none is eligible. It does not count the
// conversation: the caller Sets the agent with its new load.
func (p *Pool) Assign(req Request) (id string, ok bool) {
	if req.Prefer != "" {
		if s, ok := p.index[req.Prefer]; ok && p.meta[s].listed {
			a := &p.agents[s]
			if _, fits := a.fits(&req); fits && (req.Exclude == "" || a.ID != req.Exclude) {
				return a.ID, true
			}
		}
	}
	// need holds the bits every skilled candidate must have; when a required
	// skill has never been seen, no skilled agent can be a candidate.
	var need uint64
	skilled, topic := true, -1
	for i, name := range [...]string{req.Locale, req.Skill, req.Topic} {
		if name == "" {
			continue
		}
		b, known := p.skills[name]
		switch {
		case !known:
			if i < 2 {
				skilled = false
			}
		case b >= maskBits:
			return p.fallback(req)
		case i < 2:
			need |= 1 << b
		default:
			topic = b
		}
	}
	ex := int32(-1)
	if req.Exclude != "" {
		if s, ok := p.index[req.Exclude]; ok {
			ex = s
		}
	}
	if skilled && topic >= 0 {
		if s := p.first(p.lists[topic], need, ex); s >= 0 {
			return p.agents[s].ID, true
		}
	}
	best := int32(-1)
	if skilled {
		if need == 0 { // anyone free will do, generalists included
			if best = p.first(p.lists[allList], 0, ex); best < 0 {
				return "", false
			}
			return p.agents[best].ID, true
		}
		// Every candidate stands in the list of each needed bit: walk the
		// shortest.
		k := bits.TrailingZeros64(need)
		for u := need & (need - 1); u != 0; u &= u - 1 {
			if j := bits.TrailingZeros64(u); len(p.lists[j]) < len(p.lists[k]) {
				k = j
			}
		}
		best = p.first(p.lists[k], need, ex)
	}
	if g := p.first(p.lists[generalList], 0, ex); g >= 0 {
		if best < 0 {
			best = g
		} else if r := p.rank(best); p.cmp(g, &r) < 0 {
			best = g
		}
	}
	if best < 0 {
		return "", false
	}
	return p.agents[best].ID, true
}

// fallback is Assign over every slot, for requests naming a skill past
// the first 64. Removed slots hold zero Agents, which are never eligible.
func (p *Pool) fallback(req Request) (string, bool) {
	if i := Assign(req, p.agents); i >= 0 {
		return p.agents[i].ID, true
	}
	return "", false
}

// first is the first slot in list whose agent has every bit of need and is
// not slot ex, or -1.
func (p *Pool) first(list []int32, need uint64, ex int32) int32 {
	for _, s := range list {
		if p.meta[s].mask&need == need && s != ex {
			return s
		}
	}
	return -1
}

// intern returns the mask of skills, giving new skills the next bit.
func (p *Pool) intern(skills []string) uint64 {
	var mask uint64
	for _, sk := range skills {
		if sk == "" {
			continue // no request asks for it
		}
		b, ok := p.skills[sk]
		if !ok {
			b = len(p.skills)
			p.skills[sk] = b
		}
		if b < maskBits {
			mask |= 1 << b
		}
	}
	return mask
}

// rank is the sort key of the agent in slot s as it stands.
func (p *Pool) rank(s int32) rank {
	a := &p.agents[s]
	return rank{load: a.Load, capacity: a.Capacity, idle: a.IdleSince, slot: s}
}

// cmp orders the agent in slot s against r: -1 when it comes first, 1 when
// after, 0 when it is r's own slot (whatever its current values).
func (p *Pool) cmp(s int32, r *rank) int {
	if s == r.slot {
		return 0
	}
	a := &p.agents[s]
	if c := a.compare(r.load, r.capacity, r.idle); c != 0 {
		return c
	}
	if s < r.slot {
		return -1
	}
	return 1
}

// search is the first index of list whose agent does not come before r.
func (p *Pool) search(list []int32, r *rank) int {
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.cmp(list[m], r) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// shift updates list k for the agent in slot from.slot (== to.slot), which
// stood in it at rank from when in is set and belongs in it at rank to
// when out is set. The agent's values are already those of to.
func (p *Pool) shift(k int, in, out bool, from, to *rank) {
	l := p.lists[k]
	s := from.slot
	i := -1
	if in {
		// cmp ranks s itself equal to from, so the search lands on it; the
		// scan only guards against an order time.Compare left inconsistent.
		if i = p.search(l, from); i >= len(l) || l[i] != s {
			i = slices.Index(l, s)
		}
	}
	switch {
	case i >= 0 && out:
		if i > 0 && p.cmp(l[i-1], to) > 0 {
			j := p.search(l[:i], to)
			copy(l[j+1:i+1], l[j:i])
			l[j] = s
		} else if i+1 < len(l) && p.cmp(l[i+1], to) < 0 {
			j := i + 1 + p.search(l[i+1:], to)
			copy(l[i:j-1], l[i+1:j])
			l[j-1] = s
		}
	case i >= 0:
		copy(l[i:], l[i+1:])
		l = l[:len(l)-1]
	case out:
		j := p.search(l, to)
		l = append(l, 0)
		copy(l[j+1:], l[j:])
		l[j] = s
	}
	p.lists[k] = l
}

// compact drops the slots of removed agents. Slots keep their order, so
// the lists stay sorted once renumbered.
func (p *Pool) compact() {
	p.remap = slices.Grow(p.remap[:0], len(p.agents))[:len(p.agents)]
	n := int32(0)
	for i := range p.agents {
		if !p.meta[i].live {
			continue
		}
		p.remap[i] = n
		if int(n) != i {
			p.agents[n], p.meta[n] = p.agents[i], p.meta[i]
			p.index[p.agents[n].ID] = n
		}
		n++
	}
	clear(p.agents[n:])
	clear(p.meta[n:])
	p.agents, p.meta, p.dead = p.agents[:n], p.meta[:n], 0
	for k := range p.lists {
		for j, s := range p.lists[k] {
			p.lists[k][j] = p.remap[s]
		}
	}
}
