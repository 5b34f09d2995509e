package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Connection settings of every WebSocket the generator opens.
const (
	handshakeTimeout = 15 * time.Second
	writeWait        = 10 * time.Second // a write that takes longer fails
	readBufferSize   = 1024             // bufio reader per connection
	writeBufferSize  = 1024             // taken from writeBuffers per frame
	apiTimeout       = 30 * time.Second
)

var (
	// ErrHTTPStatus is an API answer with an unexpected status.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrHandshake is a WebSocket upgrade the server refused.
	ErrHandshake = errors.New("WebSocket handshake refused")
)

// writeBuffers is shared by every connection: a buffer is held only while
// a frame is written.
var writeBuffers = &sync.Pool{}

// frameBufs hold a frame while its reader handles it.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// endpoints spreads connections over the target servers and the local
// source addresses, round-robin.
type endpoints struct {
	bases   []*url.URL
	dialers []*websocket.Dialer // one per source address (one with none)
	next    atomic.Uint64
}

func newEndpoints(bases []*url.URL, sources []net.IP) *endpoints {
	e := &endpoints{bases: bases}
	mk := func(local net.Addr) *websocket.Dialer {
		nd := &net.Dialer{Timeout: handshakeTimeout, LocalAddr: local}
		return &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: handshakeTimeout,
			ReadBufferSize:   readBufferSize,
			WriteBufferSize:  writeBufferSize,
			WriteBufferPool:  writeBuffers,
		}
	}
	for _, ip := range sources {
		e.dialers = append(e.dialers, mk(&net.TCPAddr{IP: ip}))
	}
	if len(e.dialers) == 0 {
		e.dialers = append(e.dialers, mk(nil))
	}
	return e
}

// dial opens a WebSocket on the next server, from the next source address.
func (e *endpoints) dial(ctx context.Context, path string, q url.Values) (*websocket.Conn, error) {
	i := e.next.Add(1) - 1
	base := e.bases[i%uint64(len(e.bases))]
	u := *base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path, u.RawQuery = path, q.Encode()
	ws, resp, err := e.dialers[i%uint64(len(e.dialers))].DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: %s %s", ErrHandshake, u.Path, resp.Status)
		}
		return nil, err
	}
	return ws, nil
}

// failReason names a failed connection attempt for the report.
func failReason(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "closed"
	case errors.Is(err, ErrHandshake):
		return "handshake refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errNotReady):
		return "not ready in time"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "dial: " + oe.Err.Error()
	}
	return err.Error()
}

// readFrames reads text frames until the connection fails, handing each to
// fn with the time it was read. The frame's bytes are fn's only during the
// call.
func readFrames(ws *websocket.Conn, fn func(data []byte, at time.Time)) error {
	for {
		mt, r, err := ws.NextReader()
		if err != nil {
			return err
		}
		if mt != websocket.TextMessage {
			continue
		}
		bp := frameBufs.Get().(*[]byte)
		b, err := readInto((*bp)[:0], r)
		if err == nil {
			fn(b, time.Now())
		}
		*bp = b
		frameBufs.Put(bp)
		if err != nil {
			return err
		}
	}
}

func readInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// writeFrame writes one text frame with the write deadline.
func writeFrame(ws *websocket.Conn, b []byte) error {
	if err := ws.SetWriteDeadline(time.Now().Add(writeWait)); err != nil {
		return err
	}
	return ws.WriteMessage(websocket.TextMessage, b)
}

// closeConn says goodbye and closes.
func closeConn(ws *websocket.Conn) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "load run over"), time.Now().Add(time.Second))
	_ = ws.Close()
}

// api is the HTTP API of one server.
type api struct {
	base *url.URL
	hc   *http.Client
}

func newAPI(base *url.URL) *api {
	return &api{base: base, hc: &http.Client{Timeout: apiTimeout}}
}

// do sends one request; out (when not nil) receives a 2xx JSON answer.
func (a *api) do(ctx context.Context, method, path, token string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base.String()+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%w: %s %s: %s: %s", ErrHTTPStatus, method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// account is an agent or supervisor as the API shows it.
type account struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Capacity int    `json:"capacity"`
}

func (a *api) login(ctx context.Context, email, password string) (string, account, error) {
	var out struct {
		Token string  `json:"token"`
		Agent account `json:"agent"`
	}
	_, err := a.do(ctx, http.MethodPost, "/api/v1/login", "", map[string]string{"email": email, "password": password}, &out)
	if err != nil {
		return "", account{}, fmt.Errorf("login %s: %w", email, err)
	}
	return out.Token, out.Agent, nil
}

// me checks a token and returns its account.
func (a *api) me(ctx context.Context, token string) (account, int, error) {
	var out struct {
		Agent account `json:"agent"`
	}
	status, err := a.do(ctx, http.MethodGet, "/api/v1/me", token, nil, &out)
	return out.Agent, status, err
}

// createAgent creates an agent; a 409 (it exists) is not an error.
func (a *api) createAgent(ctx context.Context, token, email, name, password string, capacity int) (created bool, err error) {
	in := map[string]any{"email": email, "name": name, "password": password, "role": "agent", "capacity": capacity}
	status, err := a.do(ctx, http.MethodPost, "/api/v1/agents", token, in, nil)
	if status == http.StatusConflict {
		return false, nil
	}
	return err == nil, err
}

func (a *api) setCapacity(ctx context.Context, token, id string, capacity int) error {
	_, err := a.do(ctx, http.MethodPatch, "/api/v1/agents/"+url.PathEscape(id), token, map[string]any{"capacity": capacity}, nil)
	return err
}

// serverConfig is GET /api/v1/config.
type serverConfig struct {
	GreetingDeadlineMs      int64 `json:"greeting_deadline_ms"`
	AutoGreetAfterMs        int64 `json:"auto_greet_after_ms"`
	FirstResponseDeadlineMs int64 `json:"first_response_deadline_ms"`
	ReassignDeadlineMs      int64 `json:"reassign_deadline_ms"`
}

func (a *api) config(ctx context.Context) (serverConfig, error) {
	var c serverConfig
	_, err := a.do(ctx, http.MethodGet, "/api/v1/config", "", nil, &c)
	return c, err
}

// scriptCategories maps every script id to its category.
func (a *api) scriptCategories(ctx context.Context, token string) (map[string]string, error) {
	var list []struct {
		ID       string `json:"id"`
		Category string `json:"category"`
	}
	if _, err := a.do(ctx, http.MethodGet, "/api/v1/scripts", token, nil, &list); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, s := range list {
		out[s.ID] = s.Category
	}
	return out, nil
}

// openConversations counts the open conversations a supervisor sees.
func (a *api) openConversations(ctx context.Context, token string) (int, error) {
	var out struct {
		Conversations []json.RawMessage `json:"conversations"`
	}
	_, err := a.do(ctx, http.MethodGet, "/api/v1/conversations?state=open", token, nil, &out)
	return len(out.Conversations), err
}
