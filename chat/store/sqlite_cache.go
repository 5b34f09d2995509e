package store

// convCacheSize bounds the conversations the SQLite writer remembers.
const convCacheSize = 10_000

// convCache holds conversations as the writer last read or wrote them, so
// that an append does not read its conversation back. It is exact because
// the writer is the only one to change conversations; what the open
// transaction put in is forgotten if the transaction rolls back. A
// request's savepoint rolled back never reaches the cache: update puts only
// after every statement of the request succeeded.
//
// Only the writer goroutine uses it.
type convCache struct {
	m       map[string]Conversation
	touched []string // put since the transaction began
}

// get is a copy of the conversation, if remembered.
func (c *convCache) get(id string) (Conversation, bool) {
	v, ok := c.m[id]
	if !ok {
		return Conversation{}, false
	}
	return v.clone(), true
}

// put remembers a copy of conv as it is in the open transaction.
func (c *convCache) put(conv Conversation) {
	if _, ok := c.m[conv.ID]; !ok && len(c.m) >= convCacheSize {
		for id := range c.m { // an arbitrary one
			delete(c.m, id)
			break
		}
	}
	c.m[conv.ID] = conv.clone()
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
