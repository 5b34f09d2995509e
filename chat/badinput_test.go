package chat_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Malformed, unknown and oversized frames get a clear error and the
// connection stays; nothing half-written reaches the store.
func TestBadFramesKeepTheConnection(t *testing.T) {
	e := newEnv(t)
	sh, _, conv := e.shopper("Ann")
	sh.sync()
	for _, tc := range []struct {
		name  string
		raw   string
		code  string
		inMsg string
	}{
		{"not json", `{"type": "message.send", `, "bad_request", "JSON"},
		{"not an object", `[1,2,3]`, "bad_request", "JSON"},
		{"no type", `{"id":"x1"}`, "bad_request", "missing type"},
		{"unknown type", `{"type":"launch.rocket","id":"x2"}`, "bad_request", "unknown frame type"},
		{"agent-only frame", `{"type":"status.set","id":"x3","body":{"status":"online"}}`, "forbidden", "status.set"},
		{"body of the wrong shape", `{"type":"message.send","id":"x4","body":"hello"}`, "bad_request", "body"},
		{"missing client_msg_id", `{"type":"message.send","id":"x5","body":{"text":"hi"}}`, "bad_request", "client_msg_id"},
		{"missing text", `{"type":"message.send","id":"x6","body":{"client_msg_id":"m6","text":"   "}}`, "bad_request", "text"},
		{"text over 4000 characters", `{"type":"message.send","id":"x7","body":{"client_msg_id":"m7","text":"` + strings.Repeat("长", 4001) + `"}}`, "too_large", "4000"},
		{"someone else's conversation", `{"type":"message.send","id":"x8","conversation_id":"00000000-0000-0000-0000-000000000001","body":{"client_msg_id":"m8","text":"hi"}}`, "not_found", "conversation"},
		{"bad read seq", `{"type":"read","id":"x9","body":{"seq":-1}}`, "bad_request", "seq"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := sh.conn.WriteMessage(websocket.TextMessage, []byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			var eb errBody
			sh.expectBody("error", &eb)
			if eb.Code != tc.code || !strings.Contains(eb.Message, tc.inMsg) {
				t.Fatalf("error = %+v, want %s mentioning %q", eb, tc.code, tc.inMsg)
			}
			e.clock.Advance(200 * time.Millisecond) // stay under the rate limit
		})
	}
	// Still open, and exactly 4,000 characters is fine.
	sh.send("message.send", "", map[string]any{"client_msg_id": "ok", "text": strings.Repeat("长", 4000)})
	var ack ackBody
	sh.expectBody("message.ack", &ack)
	msgs, err := e.st.Messages(context.Background(), conv.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var shopperMsgs int
	for _, m := range msgs {
		if m.Author.Kind == "shopper" {
			shopperMsgs++
		}
	}
	if shopperMsgs != 1 || msgs[len(msgs)-1].Seq != ack.Seq {
		t.Fatalf("store holds %d shopper messages (last seq %d), want only the good one (seq %d)", shopperMsgs, msgs[len(msgs)-1].Seq, ack.Seq)
	}
}

// HTML and script are stored and sent verbatim: clients render text.
func TestHTMLIsVerbatim(t *testing.T) {
	e := newEnv(t)
	ag, sh, _ := e.assigned()
	evil := `<script>alert("x")</script><b>bold</b> & "quotes"`
	sh.send("message.send", "", map[string]any{"client_msg_id": "h1", "text": evil})
	if m := ag.expectFrom("shopper"); m.Text != evil {
		t.Fatalf("agent got %q", m.Text)
	}
}

// A frame over 64 KiB closes the connection with 1009.
func TestOversizedFrame(t *testing.T) {
	e := newEnv(t)
	sh, _, _ := e.shopper("Ann")
	big := `{"type":"message.send","body":{"client_msg_id":"big","text":"` + strings.Repeat("a", 70<<10) + `"}}`
	// The message goes out in fragments: the server may close before the
	// last one, and the client stops writing once it has answered the close.
	if err := sh.conn.WriteMessage(websocket.TextMessage, []byte(big)); err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		t.Fatal(err)
	}
	if code := sh.expectClose(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
}

// Past 20 frames at once the client is told rate_limited; one that keeps
// on is closed with 1008. A client that slows down is served again.
func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	t.Run("slows down", func(t *testing.T) {
		sh, _, _ := e.shopper("Ann")
		sh.sync()
		for range 25 {
			sh.send("ping", "", nil)
		}
		var limited int
		for range 25 {
			select {
			case f := <-sh.frames:
				if f.Type == "error" {
					limited++
				}
			case <-time.After(wait):
				t.Fatal("not every frame was answered")
			}
		}
		if limited != 6 { // the sync ping used one token of the 20
			t.Fatalf("%d frames refused, want 6", limited)
		}
		e.clock.Advance(time.Second)
		sh.sync()
	})
	t.Run("keeps on", func(t *testing.T) {
		sh, _, _ := e.shopper("Bob")
		sh.sync()
		for range 60 {
			if err := sh.conn.WriteJSON(map[string]string{"type": "ping"}); err != nil {
				break
			}
		}
		if code := sh.expectClose(); code != websocket.ClosePolicyViolation {
			t.Fatalf("close code %d, want 1008", code)
		}
	})
}

// Binary frames are refused, the connection stays.
func TestBinaryFrame(t *testing.T) {
	e := newEnv(t)
	sh, _, _ := e.shopper("Ann")
	if err := sh.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var eb errBody
	sh.expectBody("error", &eb)
	if eb.Code != "bad_request" {
		t.Fatalf("error = %+v", eb)
	}
	sh.sync()
}
