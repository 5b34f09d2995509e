package chat

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// batchConn is a socket whose writes can be held and sent together: the
// writer holds while it drains its queue and flushes once, so frames queued
// together (a welcome, its conversation, a place in the queue, a greeting)
// cost one write call instead of one each. Outside a hold, writes go straight
// through. Only the session's writer goroutine holds and flushes.
type batchConn struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	buf  *[]byte // from batchBuffers while held
	err  error   // the first failed write of a hold
}

// batchFlushAt flushes a hold early once this much is waiting.
const batchFlushAt = 64 << 10

var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold {
		return c.Conn.Write(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= batchFlushAt {
		c.sendLocked()
	}
	return len(p), nil
}

// Hold keeps writes until Flush.
func (c *batchConn) Hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold {
		c.hold, c.err = true, nil
		c.buf = batchBuffers.Get().(*[]byte)
	}
}

// Flush sends what was held in one write and ends the hold; it returns the
// first write error of the hold.
func (c *batchConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.hold {
		return nil
	}
	c.sendLocked()
	c.hold = false
	if cap(*c.buf) <= 64<<10 {
		*c.buf = (*c.buf)[:0]
		batchBuffers.Put(c.buf)
	}
	c.buf = nil
	return c.err
}

func (c *batchConn) sendLocked() {
	if len(*c.buf) > 0 && c.err == nil {
		_, c.err = c.Conn.Write(*c.buf)
	}
	*c.buf = (*c.buf)[:0]
}

// batchWriter hands the WebSocket upgrader a batchConn when it hijacks the
// connection.
type batchWriter struct {
	http.ResponseWriter
	hold bool // the socket starts held: the handshake waits for a Flush
	conn *batchConn
}

func (w *batchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: nc}
	if w.hold {
		w.conn.Hold()
	}
	return w.conn, rw, nil
}
