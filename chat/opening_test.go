package chat_test

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"github.com/daogou/daogou/chat"
)

// firstWrites remembers the first write call on every accepted socket.
type firstWrites struct {
	net.Listener
	mu    sync.Mutex
	first [][]byte
}

func (l *firstWrites) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.first = append(l.first, nil)
	return &firstWriteConn{Conn: c, l: l, i: len(l.first) - 1}, nil
}

func (l *firstWrites) get(i int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first[i]
}

type firstWriteConn struct {
	net.Conn
	l *firstWrites
	i int
}

func (c *firstWriteConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	if c.l.first[c.i] == nil {
		c.l.first[c.i] = bytes.Clone(p)
	}
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

// A shopper's whole opening (the handshake, the welcome, the conversation
// and, queued or assigned, what follows at once) leaves the server in one
// write call.
func TestShopperOpeningIsOneWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		agent  bool
		frames []string // what the shopper reads first, in order
	}{
		{"queued: greeted at once", false, []string{"welcome", "conversation.opened", "message.new"}},
		{"assigned", true, []string{"welcome", "conversation.opened", "conversation.assigned"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.agent {
				token, _ := e.account("mei@shop.test", "Mei", "agent", 5)
				e.agent("agent", token)
			}
			l := &firstWrites{}
			srv := frontServer(t, chat.NewServer(e.hub, nil), func(ln net.Listener) net.Listener {
				l.Listener = ln
				return l
			})
			defer srv.Close()
			agents := e.srv
			e.srv = srv
			defer func() { e.srv = agents }()

			sh := e.dial("shopper", "/ws/shopper", map[string][]string{"name": {"Ann"}, "locale": {"en"}})
			for _, typ := range tc.frames {
				sh.expect(typ)
			}
			first := l.get(0)
			if !bytes.HasPrefix(first, []byte("HTTP/1.1 101 ")) {
				t.Fatalf("first write = %.40q…, want the handshake", first)
			}
			for _, typ := range tc.frames {
				if !bytes.Contains(first, []byte(`{"type":"`+typ+`"`)) {
					t.Errorf("%s is not in the first write (%d bytes)", typ, len(first))
				}
			}
		})
	}
}
