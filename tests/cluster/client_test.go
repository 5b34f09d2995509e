//go:build cluster

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wait bounds every wait for a frame: instances are separate -race
// processes that talk through Redis, so a little slower than in-process.
const wait = 10 * time.Second

// frame is a server frame as a test reads it.
type frame struct {
	Type           string          `json:"type"`
	Ref            string          `json:"ref"`
	ConversationID string          `json:"conversation_id"`
	Body           json.RawMessage `json:"body"`
}

func (f frame) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Body, v); err != nil {
		t.Fatalf("%s body %s: %v", f.Type, f.Body, err)
	}
}

// client is one WebSocket peer. A goroutine reads every frame into a log;
// expect consumes the log in order from a cursor, and the checks that look
// at everything received (seen, messages) read the whole log.
type client struct {
	t    testing.TB
	name string
	conn *websocket.Conn

	wmu sync.Mutex // one writer at a time
	n   int        // frame ids sent

	mu     sync.Mutex
	log    []frame
	cursor int           // next frame for expect
	ended  bool          // the reader stopped
	bump   chan struct{} // a frame arrived or the reader stopped
}

// errStatus is an upgrade the server answered with an HTTP status.
type errStatus struct {
	status int
	body   string
}

func (e *errStatus) Error() string { return fmt.Sprintf("upgrade refused: %d %s", e.status, e.body) }

// dialWS opens a WebSocket without failing the test: goroutines use it.
func dialWS(name, base, path string, q url.Values) (*client, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + path + "?" + q.Encode()
	d := websocket.Dialer{HandshakeTimeout: wait}
	conn, resp, err := d.Dial(u, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return nil, &errStatus{status: resp.StatusCode, body: string(body)}
		}
		return nil, fmt.Errorf("%s: dial %s: %w", name, path, err)
	}
	c := &client{name: name, conn: conn, bump: make(chan struct{}, 1)}
	go c.read()
	return c, nil
}

// dial opens a WebSocket on an instance and closes it at the end of t.
func (in *instance) dial(t testing.TB, name, path string, q url.Values) *client {
	t.Helper()
	c, err := dialWS(name, in.url, path, q)
	if err != nil {
		t.Fatalf("%s on %s: %v", name, in.name, err)
	}
	c.attach(t)
	return c
}

// attach ties a client made by dialWS to a test.
func (c *client) attach(t testing.TB) {
	c.t = t
	t.Cleanup(func() { c.conn.Close() })
}

// upgradeStatus tries an upgrade and returns the HTTP status it got.
func (in *instance) upgradeStatus(t testing.TB, path string, q url.Values) (int, string) {
	t.Helper()
	c, err := dialWS("probe", in.url, path, q)
	if err == nil {
		c.conn.Close()
		return http.StatusSwitchingProtocols, ""
	}
	var es *errStatus
	if errors.As(err, &es) {
		return es.status, es.body
	}
	t.Fatalf("upgrade on %s: %v", in.name, err)
	return 0, ""
}

func (c *client) read() {
	for {
		_, data, err := c.conn.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.ended = true
			c.mu.Unlock()
			c.notify()
			return
		}
		var f frame
		if jerr := json.Unmarshal(data, &f); jerr != nil {
			f = frame{Type: "!invalid", Body: json.RawMessage(strconv.Quote(string(data)))}
		}
		c.log = append(c.log, f)
		c.mu.Unlock()
		c.notify()
	}
}

func (c *client) notify() {
	select {
	case c.bump <- struct{}{}:
	default:
	}
}

// trySend writes a frame and returns the id it used; safe from any goroutine.
func (c *client) trySend(typ, convID string, body any) (string, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.n++
	id := c.name + "-" + strconv.Itoa(c.n)
	f := map[string]any{"type": typ, "id": id}
	if convID != "" {
		f["conversation_id"] = convID
	}
	if body != nil {
		f["body"] = body
	}
	c.conn.SetWriteDeadline(time.Now().Add(wait))
	if err := c.conn.WriteJSON(f); err != nil {
		return id, fmt.Errorf("%s: send %s: %w", c.name, typ, err)
	}
	return id, nil
}

// send writes a frame from the test goroutine.
func (c *client) send(typ, convID string, body any) string {
	c.t.Helper()
	id, err := c.trySend(typ, convID, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

// say sends a message.send and returns its frame id.
func (c *client) say(convID, clientMsgID, text string) string {
	c.t.Helper()
	return c.send("message.send", convID, map[string]string{"client_msg_id": clientMsgID, "text": text})
}

// waitUntil blocks until cond holds over every frame received so far, or
// fails after timeout; cond runs under the client's lock.
func (c *client) waitUntil(timeout time.Duration, desc string, cond func(all []frame) bool) []frame {
	c.t.Helper()
	out, err := c.awaitCond(timeout, cond)
	if err != nil {
		c.t.Fatalf("%s: %s: %v (got %v)", c.name, desc, err, types(out))
	}
	return out
}

// awaitCond is waitUntil for goroutines: it returns an error instead.
func (c *client) awaitCond(timeout time.Duration, cond func(all []frame) bool) ([]frame, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, ended, all := cond(c.log), c.ended, slices.Clone(c.log)
		c.mu.Unlock()
		if ok {
			return all, nil
		}
		if ended {
			return all, errors.New("connection ended first")
		}
		select {
		case <-c.bump:
		case <-deadline.C:
			return all, fmt.Errorf("not within %s", timeout)
		}
	}
}

// next returns the next frame not yet consumed.
func (c *client) next(timeout time.Duration) (frame, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if c.cursor < len(c.log) {
			f := c.log[c.cursor]
			c.cursor++
			c.mu.Unlock()
			return f, nil
		}
		ended := c.ended
		c.mu.Unlock()
		if ended {
			return frame{}, errors.New("connection ended")
		}
		select {
		case <-c.bump:
		case <-deadline.C:
			return frame{}, fmt.Errorf("nothing within %s", timeout)
		}
	}
}

// expectFrame consumes frames until one matches; the skipped ones are
// returned too. For goroutines: it returns an error instead of failing.
func (c *client) expectFrame(desc string, match func(f frame) bool) (frame, []frame, error) {
	var skipped []frame
	deadline := time.Now().Add(wait)
	for {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			return f, skipped, fmt.Errorf("%s: waiting for %s: %w (skipped %v)", c.name, desc, err, types(skipped))
		}
		if match(f) {
			return f, skipped, nil
		}
		skipped = append(skipped, f)
	}
}

// expect consumes frames until one of type typ.
func (c *client) expect(typ string) (frame, []frame) {
	c.t.Helper()
	f, skipped, err := c.expectFrame(typ, func(f frame) bool { return f.Type == typ })
	if err != nil {
		c.t.Fatal(err)
	}
	return f, skipped
}

// expectBody consumes frames until one of type typ and decodes its body.
func (c *client) expectBody(typ string, v any) frame {
	c.t.Helper()
	f, _ := c.expect(typ)
	f.decode(c.t, v)
	return f
}

// sync sends a ping and consumes every frame up to its pong: whatever the
// server sent this client before answering.
func (c *client) sync() []frame {
	c.t.Helper()
	id := c.send("ping", "", nil)
	_, skipped, err := c.expectFrame("pong "+id, func(f frame) bool { return f.Type == "pong" && f.Ref == id })
	if err != nil {
		c.t.Fatal(err)
	}
	return skipped
}

// all is every frame received so far.
func (c *client) all() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func types(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Type
	}
	return out
}

// Wire shapes the tests read.
type (
	wireConv struct {
		ID            string `json:"id"`
		VisitorID     string `json:"visitor_id"`
		State         string `json:"state"`
		AgentID       string `json:"agent_id"`
		LastSeq       int64  `json:"last_seq"`
		QueuePosition int    `json:"queue_position"`
	}
	wireAuthor struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	}
	wireMsg struct {
		ID             string     `json:"id"`
		ConversationID string     `json:"conversation_id"`
		Seq            int64      `json:"seq"`
		Text           string     `json:"text"`
		Kind           string     `json:"kind"`
		Auto           bool       `json:"auto"`
		Author         wireAuthor `json:"author"`
		ScriptID       string     `json:"script_id"`
		ClientMsgID    string     `json:"client_msg_id"`
	}
	shopperWelcome struct {
		SessionID    string    `json:"session_id"`
		VisitorID    string    `json:"visitor_id"`
		VisitorToken string    `json:"visitor_token"`
		Conversation *wireConv `json:"conversation"`
		Agent        *struct {
			ID string `json:"id"`
		} `json:"agent"`
	}
	agentWelcome struct {
		SessionID     string     `json:"session_id"`
		Agent         wireAgent  `json:"agent"`
		Conversations []wireConv `json:"conversations"`
	}
	wireAgent struct {
		ID       string `json:"id"`
		Role     string `json:"role"`
		Status   string `json:"status"`
		Capacity int    `json:"capacity"`
		Load     int    `json:"load"`
		Sessions int    `json:"sessions"`
	}
	convBody struct {
		Conversation wireConv `json:"conversation"`
		Agent        struct {
			ID string `json:"id"`
		} `json:"agent"`
	}
	ackBody struct {
		ClientMsgID string `json:"client_msg_id"`
		Seq         int64  `json:"seq"`
		MessageID   string `json:"message_id"`
	}
	ruleBody struct {
		Rule     string `json:"rule"`
		Action   string `json:"action"`
		Deadline string `json:"deadline"`
	}
	queuedBody struct {
		Position int `json:"position"`
	}
	typingBody struct {
		On     bool       `json:"on"`
		Author wireAuthor `json:"author"`
	}
	statsBody struct {
		Stats struct {
			ShoppersOnline int `json:"shoppers_online"`
		} `json:"stats"`
	}
	snapshotBody struct {
		Conversations []wireConv  `json:"conversations"`
		Agents        []wireAgent `json:"agents"`
		Stats         struct {
			ShoppersOnline int `json:"shoppers_online"`
		} `json:"stats"`
	}
)

// decodeAll decodes a body without a test, for conditions.
func decodeAll[T any](f frame) (T, bool) {
	var v T
	err := json.Unmarshal(f.Body, &v)
	return v, err == nil
}

// messagesIn is every message.new of one conversation among frames, in the
// order received.
func messagesIn(fs []frame, convID string) []wireMsg {
	var out []wireMsg
	for _, f := range fs {
		if f.Type != "message.new" || f.ConversationID != convID {
			continue
		}
		if b, ok := decodeAll[struct {
			Message wireMsg `json:"message"`
		}](f); ok {
			out = append(out, b.Message)
		}
	}
	return out
}

// acksIn maps each acknowledged client_msg_id to its seq.
func acksIn(fs []frame) map[string]int64 {
	out := map[string]int64{}
	for _, f := range fs {
		if f.Type != "message.ack" {
			continue
		}
		if b, ok := decodeAll[ackBody](f); ok {
			out[b.ClientMsgID] = b.Seq
		}
	}
	return out
}

// hasText reports whether msgs hold a message with text.
func hasText(msgs []wireMsg, text string) bool {
	return slices.ContainsFunc(msgs, func(m wireMsg) bool { return m.Text == text })
}

// checkOnce fails t unless msgs are the seqs from..to, each exactly once.
func checkOnce(t testing.TB, who string, msgs []wireMsg, from, to int64) {
	t.Helper()
	seen := map[int64]int{}
	for _, m := range msgs {
		seen[m.Seq]++
	}
	for seq, n := range seen {
		if n > 1 {
			t.Errorf("%s: seq %d delivered %d times", who, seq, n)
		}
		if seq < from || seq > to {
			t.Errorf("%s: seq %d outside %d..%d", who, seq, from, to)
		}
	}
	for seq := from; seq <= to; seq++ {
		if seen[seq] == 0 {
			t.Errorf("%s: seq %d never delivered (got %v)", who, seq, seqsOf(msgs))
		}
	}
}

func seqsOf(msgs []wireMsg) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// shopper connects a new shopper and reads its welcome and opened frames.
func (in *instance) shopper(t testing.TB, name string) (*client, shopperWelcome, wireConv) {
	t.Helper()
	c := in.dial(t, name, "/ws/shopper", url.Values{"name": {name}, "locale": {"en"}})
	var w shopperWelcome
	c.expectBody("welcome", &w)
	var o convBody
	c.expectBody("conversation.opened", &o)
	return c, w, o.Conversation
}

// agent connects a console and reads its welcome.
func (in *instance) agent(t testing.TB, name, token string) (*client, agentWelcome) {
	t.Helper()
	c := in.dial(t, name, "/ws/agent", url.Values{"token": {token}})
	var w agentWelcome
	c.expectBody("welcome", &w)
	return c, w
}

// supervisor connects the live monitor and reads its snapshot.
func (in *instance) supervisor(t testing.TB, name, token string) (*client, snapshotBody) {
	t.Helper()
	c := in.dial(t, name, "/ws/supervisor", url.Values{"token": {token}})
	var s snapshotBody
	c.expectBody("snapshot", &s)
	return c, s
}

// ctxWait is a context bounded by wait, for HTTP calls.
func ctxWait() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), wait)
}
