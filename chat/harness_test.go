package chat_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/scripts"
)

// start is the manual clock's first moment in every test.
var start = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

const password = "correct horse battery"

// env is one Daogou server over real WebSockets on an httptest server, with
// a SQLite store in a temporary directory and a manual clock.
type env struct {
	t     *testing.T
	clock *chat.ManualClock
	hub   *chat.Hub
	srv   *httptest.Server
	st    store.Store
	cfg   chat.Config
	dir   string
	wrap  func(store.Store) store.Store // the hub's store around the SQLite one (nil: as is)
}

func newEnv(t *testing.T, tune ...func(*chat.Config)) *env {
	t.Helper()
	e := &env{t: t, clock: chat.NewManualClock(start), dir: t.TempDir(), cfg: chat.DefaultConfig()}
	e.cfg.PasswordCost = bcrypt.MinCost
	for _, f := range tune {
		f(&e.cfg)
	}
	e.boot()
	return e
}

// newEnvWrapped is newEnv with the hub's store wrapped by wrap.
func newEnvWrapped(t *testing.T, wrap func(store.Store) store.Store) *env {
	t.Helper()
	e := &env{t: t, clock: chat.NewManualClock(start), dir: t.TempDir(), cfg: chat.DefaultConfig(), wrap: wrap}
	e.cfg.PasswordCost = bcrypt.MinCost
	e.boot()
	return e
}

// boot starts a hub (again) on the env's store file.
func (e *env) boot() {
	t := e.t
	st, err := store.OpenSQLite(context.Background(), filepath.Join(e.dir, "daogou.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := scripts.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	if e.wrap != nil {
		e.st = e.wrap(st)
	}
	e.hub = chat.NewHub(e.cfg, chat.Deps{Store: e.st, Broker: chat.NewMemoryBroker(), Scripts: lib, Clock: e.clock, Log: zaptest.NewLogger(t)})
	if err := e.hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv = frontServer(t, chat.NewServer(e.hub, nil), nil)
	t.Cleanup(e.stop)
}

// frontServer is an httptest server serving h behind a chat.Front, as
// daogou does, on the listener wrap makes of its own (when wrap is set).
func frontServer(tb testing.TB, h http.Handler, wrap func(net.Listener) net.Listener) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	ln := srv.Listener
	if wrap != nil {
		ln = wrap(ln)
	}
	srv.Listener = chat.NewFront(ln, h, 10*time.Second, zap.NewNop())
	srv.Start()
	return srv
}

// stop shuts the server down as SIGTERM would.
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
	e.srv.Close()
	e.st.Close()
	e.srv = nil
}

// account creates an account and logs it in, returning its token.
func (e *env) account(email, name, role string, capacity int) (string, store.Agent) {
	e.t.Helper()
	a, err := e.hub.CreateAccount(context.Background(), email, name, password, role, []string{"zh-CN", "en"}, capacity)
	if err != nil {
		e.t.Fatal(err)
	}
	token, _, err := e.hub.Login(context.Background(), email, password)
	if err != nil {
		e.t.Fatal(err)
	}
	return token, a
}

func (e *env) wsURL(path string, q url.Values) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + path + "?" + q.Encode()
}

// frame is a server frame as a test reads it.
type frame struct {
	Type           string          `json:"type"`
	Ref            string          `json:"ref"`
	ConversationID string          `json:"conversation_id"`
	Body           json.RawMessage `json:"body"`
}

func (f frame) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Body, v); err != nil {
		t.Fatalf("%s body %s: %v", f.Type, f.Body, err)
	}
}

// client is one WebSocket peer; a goroutine reads its frames into a channel.
type client struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	frames chan frame
	closed chan *websocket.CloseError
	n      int
}

func (e *env) dial(name, path string, q url.Values) *client {
	e.t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(e.wsURL(path, q), nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("%s: dial %s: %v (status %d)", name, path, err, status)
	}
	c := &client{t: e.t, name: name, conn: conn, frames: make(chan frame, 1024), closed: make(chan *websocket.CloseError, 1)}
	go c.read()
	e.t.Cleanup(func() { conn.Close() })
	return c
}

// dialStatus tries an upgrade and returns the HTTP status it got.
func (e *env) dialStatus(path string, q url.Values) int {
	conn, resp, err := websocket.DefaultDialer.Dial(e.wsURL(path, q), nil)
	if err == nil {
		conn.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		e.t.Fatalf("dial %s: %v", path, err)
	}
	return resp.StatusCode
}

func (c *client) read() {
	defer close(c.frames)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				c.closed <- ce
			}
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Errorf("%s: server sent a frame that is not JSON: %q", c.name, data)
			continue
		}
		c.frames <- f
	}
}

// send writes a frame; it returns the id used.
func (c *client) send(typ, convID string, body any) string {
	c.t.Helper()
	c.n++
	id := c.name + "-" + strconv.Itoa(c.n)
	f := map[string]any{"type": typ, "id": id}
	if convID != "" {
		f["conversation_id"] = convID
	}
	if body != nil {
		f["body"] = body
	}
	if err := c.conn.WriteJSON(f); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.name, typ, err)
	}
	return id
}

const wait = 5 * time.Second

// expect reads frames until one of type typ arrives; the frames skipped are
// returned too, for checks of what came before.
func (c *client) expect(typ string) (frame, []frame) {
	c.t.Helper()
	var skipped []frame
	timeout := time.After(wait)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("%s: connection ended while waiting for %s (skipped %v)", c.name, typ, types(skipped))
			}
			if f.Type == typ {
				return f, skipped
			}
			skipped = append(skipped, f)
		case <-timeout:
			c.t.Fatalf("%s: no %s within %s (got %v)", c.name, typ, wait, types(skipped))
		}
	}
}

// expectBody reads the next frame of type typ and decodes its body.
func (c *client) expectBody(typ string, v any) frame {
	c.t.Helper()
	f, _ := c.expect(typ)
	f.decode(c.t, v)
	return f
}

// sync sends a ping and returns every frame that came before the pong:
// whatever the server sent in answer to earlier frames of this client.
func (c *client) sync() []frame {
	c.t.Helper()
	id := c.send("ping", "", nil)
	for {
		f, skipped := c.expect("pong")
		if f.Ref == id {
			return skipped
		}
	}
}

// expectClose waits for the server's close frame and returns its code.
func (c *client) expectClose() int {
	c.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ce := <-c.closed:
			return ce.Code
		case _, ok := <-c.frames:
			if !ok {
				select {
				case ce := <-c.closed:
					return ce.Code
				default:
					c.t.Fatalf("%s: connection ended without a close frame", c.name)
				}
			}
		case <-timeout:
			c.t.Fatalf("%s: no close within %s", c.name, wait)
		}
	}
}

func types(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Type
	}
	return out
}

func count(fs []frame, typ string) int {
	n := 0
	for _, f := range fs {
		if f.Type == typ {
			n++
		}
	}
	return n
}

// Wire shapes the tests read.
type (
	wireConv struct {
		ID            string `json:"id"`
		VisitorID     string `json:"visitor_id"`
		State         string `json:"state"`
		AgentID       string `json:"agent_id"`
		Outcome       string `json:"outcome"`
		LastSeq       int64  `json:"last_seq"`
		QueuePosition int    `json:"queue_position"`
		Timers        []struct {
			Rule string `json:"rule"`
		} `json:"timers"`
		Context json.RawMessage `json:"context"`
	}
	wireMsg struct {
		ID     string `json:"id"`
		Seq    int64  `json:"seq"`
		Text   string `json:"text"`
		Kind   string `json:"kind"`
		Auto   bool   `json:"auto"`
		Author struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"author"`
		ScriptID  string `json:"script_id"`
		CreatedAt string `json:"created_at"`
	}
	welcomeBody struct {
		SessionID    string    `json:"session_id"`
		VisitorID    string    `json:"visitor_id"`
		VisitorToken string    `json:"visitor_token"`
		Conversation *wireConv `json:"conversation"`
	}
	msgBody struct {
		Message wireMsg `json:"message"`
	}
	convBody struct {
		Conversation wireConv `json:"conversation"`
		Agent        struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"agent"`
	}
	ackBody struct {
		ClientMsgID string `json:"client_msg_id"`
		Seq         int64  `json:"seq"`
		MessageID   string `json:"message_id"`
	}
	ruleBody struct {
		Rule      string `json:"rule"`
		ElapsedMs int64  `json:"elapsed_ms"`
		Action    string `json:"action"`
		Deadline  string `json:"deadline"`
	}
	errBody struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	queuedBody struct {
		Position       int `json:"position"`
		EstimatedWaitS int `json:"estimated_wait_s"`
	}
)

// shopper connects a new shopper and reads its welcome and opened frames.
func (e *env) shopper(name string) (*client, welcomeBody, wireConv) {
	e.t.Helper()
	c := e.dial(name, "/ws/shopper", url.Values{"name": {name}, "locale": {"en"}})
	var w welcomeBody
	c.expectBody("welcome", &w)
	var o convBody
	c.expectBody("conversation.opened", &o)
	return c, w, o.Conversation
}

// agent connects an agent session and reads its welcome.
// assigned logs in the agent Mei (capacity 5), connects the shopper Ann and
// waits until Mei has Ann's conversation.
func (e *env) assigned() (ag, sh *client, conv wireConv) {
	e.t.Helper()
	token, _ := e.account("mei@shop.test", "Mei", "agent", 5)
	ag = e.agent("agent", token)
	sh, _, conv = e.shopper("Ann")
	ag.expect("conversation.assigned")
	return ag, sh, conv
}

func (e *env) agent(name, token string) *client {
	e.t.Helper()
	c := e.dial(name, "/ws/agent", url.Values{"token": {token}})
	c.expect("welcome")
	return c
}

// expectFrom reads message.new frames until one by an author of kind
// ("shopper", "agent" or "system") arrives.
func (c *client) expectFrom(kind string) wireMsg {
	c.t.Helper()
	for {
		var m msgBody
		c.expectBody("message.new", &m)
		if m.Message.Author.Kind == kind {
			return m.Message
		}
	}
}
