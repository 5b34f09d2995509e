package chat_test

import (
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// waitFor yields until the server reaches a state on its own (no timing is
// asserted: it fails only when the state never comes).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, wait)
		}
		runtime.Gosched()
	}
}

// Idle sessions hold no reader: they park, wake for each frame, and park
// again.
func TestIdleSessionsPark(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sessions park on Linux (epoll) only")
	}
	e := newEnv(t)
	ag, sh, conv := e.assigned()
	ag.sync()
	sh.sync()
	waitFor(t, "both sessions parked", func() bool { return e.hub.Parked() == 2 })
	for i, text := range []string{"first", "second", "third"} {
		sh.send("message.send", conv.ID, map[string]any{"client_msg_id": "p" + string(rune('0'+i)), "text": text})
		if m := ag.expectFrom("shopper"); m.Text != text {
			t.Fatalf("agent got %q, want %q", m.Text, text)
		}
		e.clock.Advance(time.Second)
		waitFor(t, "parked again", func() bool { return e.hub.Parked() == 2 })
	}
	// A parked session closed by the server still says why, and goes.
	e.stop()
	if code := sh.expectClose(); code != websocket.CloseGoingAway {
		t.Fatalf("shopper close %d, want 1001", code)
	}
}

// Frames that break RFC 6455 close the socket with 1002; the server
// stays up for everyone else.
func TestProtocolErrorsClose(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"unmasked frame", []byte{0x81, 0x02, 'h', 'i'}},
		{"reserved bit", []byte{0xC1, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}},
		{"unknown opcode", []byte{0x83, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}},
		{"fragmented ping", []byte{0x09, 0x80, 1, 2, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := e.dial("raw", "/ws/shopper", url.Values{"name": {"Raw"}})
			sh.expect("welcome")
			if _, err := sh.conn.NetConn().Write(tc.raw); err != nil {
				t.Fatal(err)
			}
			if code := sh.expectClose(); code != websocket.CloseProtocolError {
				t.Fatalf("close %d, want 1002", code)
			}
		})
	}
	ok, _, _ := e.shopper("Ann")
	ok.sync()
}

// A WebSocket ping from the client is answered with its payload, parked or
// not.
func TestWebSocketPingAnswered(t *testing.T) {
	e := newEnv(t)
	conn := e.rawShopper()
	pongs := make(chan string, 2)
	conn.SetPongHandler(func(data string) error { pongs <- data; return nil })
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for _, payload := range []string{"first", "second"} {
		if err := conn.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-pongs:
			if got != payload {
				t.Fatalf("pong %q, want %q", got, payload)
			}
		case <-time.After(wait):
			t.Fatalf("no pong for %q", payload)
		}
	}
}

// The hub's pinger pings a session when its period is up, and closes one
// that has been silent (no frame, no pong) past the pong wait, with 1001.
func TestPingerClosesSilentPeers(t *testing.T) {
	e := newEnv(t)
	conn := e.rawShopper()
	pings := make(chan struct{}, 1)
	conn.SetPingHandler(func(string) error { pings <- struct{}{}; return nil }) // heard, not answered
	closed := make(chan int, 1)
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					closed <- ce.Code
				}
				close(closed)
				return
			}
		}
	}()
	e.hub.PingRound(time.Now().Add(55 * time.Second))
	select {
	case <-pings:
	case <-time.After(wait):
		t.Fatal("no ping")
	}
	e.hub.PingRound(time.Now().Add(61 * time.Second))
	select {
	case code := <-closed:
		if code != websocket.CloseGoingAway {
			t.Fatalf("close %d, want 1001", code)
		}
	case <-time.After(wait):
		t.Fatal("a silent peer was not closed")
	}
}

// rawShopper dials a shopper socket with no reader of the harness's, for
// tests that set gorilla's control handlers themselves.
func (e *env) rawShopper() *websocket.Conn {
	e.t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(e.wsURL("/ws/shopper", url.Values{"name": {"Ann"}}), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}
