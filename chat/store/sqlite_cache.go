package store

import "hash/maphash"

// convCacheSize bounds the conversations the SQLite writer remembers.
const convCacheSize = 10_000

// convCache holds conversations as the writer last read or wrote them, so
// that an append does not read its conversation back, and with each the
// client ids of its messages, so that a repeated one is found without an
// index (see clientIDs). It is exact because the writer is the only one to
// change conversations and add messages; what the open transaction put in
// is forgotten if the transaction rolls back. A request's savepoint rolled
// back never reaches the cache: update puts only after every statement of
// the request succeeded.
//
// Only the writer goroutine uses it.
type convCache struct {
	m       map[string]*cachedConv
	touched []string // put since the transaction began
}

type cachedConv struct {
	conv    Conversation
	clients clientIDs
}

// get is a copy of the conversation, if remembered.
func (c *convCache) get(id string) (Conversation, bool) {
	v, ok := c.m[id]
	if !ok {
		return Conversation{}, false
	}
	return v.conv.clone(), true
}

// clients is the remembered conversation's client ids (nil when it is not
// remembered).
func (c *convCache) clients(id string) *clientIDs {
	if v, ok := c.m[id]; ok {
		return &v.clients
	}
	return nil
}

// load remembers a conversation read from the database with the client
// ids of its messages.
func (c *convCache) load(conv Conversation, clients clientIDs) {
	c.put(conv)
	c.m[conv.ID].clients = clients
}

// put remembers a copy of conv as it is in the open transaction, keeping
// the client ids already remembered with it.
func (c *convCache) put(conv Conversation) {
	v, ok := c.m[conv.ID]
	if !ok {
		if len(c.m) >= convCacheSize {
			for id := range c.m { // an arbitrary one
				delete(c.m, id)
				break
			}
		}
		v = &cachedConv{}
		c.m[conv.ID] = v
	}
	v.conv = conv.clone()
	c.touched = append(c.touched, conv.ID)
}

// committed keeps what the transaction put.
func (c *convCache) committed() { c.touched = c.touched[:0] }

// rollback forgets what the transaction put.
func (c *convCache) rollback() {
	for _, id := range c.touched {
		delete(c.m, id)
	}
	c.touched = c.touched[:0]
}

// clientIDs is a set of (author, client id) pairs, kept as 64-bit hashes:
// a hash found is confirmed by reading the message, so a collision costs a
// query, never a message. A conversation's few are a slice; past
// clientIDsInSlice they move to a map.
type clientIDs struct {
	few  []uint64
	many map[uint64]struct{}
}

const clientIDsInSlice = 64

var clientSeed = maphash.MakeSeed()

// clientKey is the hash of an author's client id.
func clientKey(authorID, clientMsgID string) uint64 {
	var h maphash.Hash
	h.SetSeed(clientSeed)
	h.WriteString(authorID)
	h.WriteByte(0)
	h.WriteString(clientMsgID)
	return h.Sum64()
}

func (s *clientIDs) has(k uint64) bool {
	if s.many != nil {
		_, ok := s.many[k]
		return ok
	}
	for _, x := range s.few {
		if x == k {
			return true
		}
	}
	return false
}

func (s *clientIDs) add(k uint64) {
	switch {
	case s.many != nil:
		s.many[k] = struct{}{}
	case len(s.few) < clientIDsInSlice:
		s.few = append(s.few, k)
	default:
		s.many = make(map[uint64]struct{}, 2*clientIDsInSlice)
		for _, x := range s.few {
			s.many[x] = struct{}{}
		}
		s.many[k] = struct{}{}
		s.few = nil
	}
}
