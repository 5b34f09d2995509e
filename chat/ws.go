package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/scripts"
)

// writeBuffers is shared by every connection: a buffer is held only while a
// frame is being written.
var writeBuffers = &sync.Pool{}

// upgrade turns the request into a WebSocket over a batchConn (the
// upgrader has answered when it fails).
func (h *Hub) upgrade(c echo.Context, hold bool) (*websocket.Conn, error) {
	u := websocket.Upgrader{
		ReadBufferSize:  1, // gorilla's reader is unused (see frameReader): the smallest it takes
		WriteBufferSize: 4096,
		WriteBufferPool: writeBuffers,
		CheckOrigin:     h.checkOrigin,
	}
	return u.Upgrade(&batchWriter{ResponseWriter: c.Response(), hold: hold}, c.Request(), nil)
}

// ServeShopper is GET /ws/shopper: a shopper's widget.
func (h *Hub) ServeShopper(c echo.Context) error {
	r := c.Request()
	q := r.URL.Query()
	if err := h.accepting(r.Context()); err != nil {
		return err
	}
	// The handshake waits in the socket for the welcome and what follows
	// it: one write call for a shopper's whole opening (holdOpening).
	conn, err := h.upgrade(c, true)
	if err != nil {
		return nil // the upgrader has answered
	}
	// The opening runs on a worker, whose stack has grown already; the
	// connection's goroutine, new for every connect, ends here instead of
	// growing its stack through the store and the encoders (copying it
	// each time it doubles).
	h.pool.run(func() { h.openShopper(conn, q) })
	return nil
}

// openShopper stores and sends a new shopper session's opening, then
// reads it (or parks it).
func (h *Hub) openShopper(conn *websocket.Conn, q url.Values) {
	s := newSession(h, conn, uuid.NewString(), RoleShopper)
	s.name = clip(q.Get("name"), 80)
	if s.locale = scripts.MatchLocale(q.Get("locale")); s.locale == "" {
		s.locale = h.cfg.DefaultLocale
	}
	s.topic = clip(q.Get("topic"), 40)
	if page := q.Get("page"); page != "" {
		s.context, _ = marshalContext(contextBody{Page: mustJSON(clip(page, 2000))})
	}
	if err := h.register(s); err != nil {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), closeDeadline())
		_ = s.batch.Flush()
		conn.Close()
		return
	}
	s.holdOpening()
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	if err := h.welcomeShopper(ctx, s, q.Get("visitor_id"), q.Get("visitor_token")); err != nil {
		s.replyError("", "", err)
		reason, code := ClosedStartFailed, websocket.CloseInternalServerErr
		if asFrameError(err).Code == CodeUnauthorized {
			reason, code = ClosedUnauthorized, websocket.ClosePolicyViolation
		}
		s.close(reason, code, asFrameError(err).Message)
	}
	s.sendOpening()
	h.serve(s, nil)
}

// accepting refuses new sessions, with 503 and the reason, while the hub
// stops or the broker is unreachable (sessions already open keep working).
func (h *Hub) accepting(ctx context.Context) error {
	if h.closing.Load() {
		return apiErr(http.StatusServiceUnavailable, "unavailable", "the server is shutting down: reconnect to another instance")
	}
	if err := h.broker.Ping(ctx); err != nil {
		return apiErr(http.StatusServiceUnavailable, "unavailable", "the message broker is unreachable: new chats are paused, try again shortly")
	}
	return nil
}

func (h *Hub) welcomeShopper(ctx context.Context, s *Session, visitorID, token string) error {
	var issued string
	if visitorID != "" || token != "" {
		v, err := h.checkVisitor(ctx, visitorID, token)
		if errors.Is(err, ErrBadToken) {
			return errFrame(CodeUnauthorized, "unknown visitor or wrong visitor_token")
		}
		if err != nil {
			return err
		}
		s.VisitorID = v.ID
		if s.name == "" {
			s.name = v.Name
		}
	} else {
		v, raw := h.newVisitor(s.name)
		s.VisitorID, issued, s.unstored = v.ID, raw, &v
	}
	// A visitor made just now has no conversation yet: no need to look.
	open, err := store.Conversation{}, store.ErrNotFound
	if issued == "" {
		open, err = h.store.OpenConversation(ctx, s.VisitorID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	} else {
		s.newVisitor = true
	}
	welcome := shopperWelcome{SessionID: s.ID, VisitorID: s.VisitorID, VisitorToken: issued, Locale: s.locale}
	if err == nil {
		s.conv = open.ID
		v := h.view(open)
		welcome.Conversation = &v
		if open.AgentID != "" {
			welcome.Agent = ptr(h.agentRef(open.AgentID))
		}
	}
	s.reply(TypeWelcome, "", "", welcome)
	if s.conv != "" {
		s.queue(item{p: packet{kind: pkMark, conv: open.ID, seq: open.LastSeq}})
	}
	s.listen(visitorChannel(s.VisitorID))
	h.stats.touch()
	if s.conv == "" {
		c, err := h.open(ctx, s.openParams())
		if err != nil {
			return err
		}
		s.conv = c.ID
		return nil
	}
	if open.State == store.Queued {
		p := h.place(ctx, open.ID)
		s.reply(TypeQueued, open.ID, "", queuedBody{Position: p.Position, EstimatedWaitS: int(p.Wait.Seconds())})
	}
	return nil
}

type shopperWelcome struct {
	SessionID    string    `json:"session_id"`
	VisitorID    string    `json:"visitor_id"`
	VisitorToken string    `json:"visitor_token,omitempty"`
	Locale       string    `json:"locale"`
	Conversation *convView `json:"conversation,omitempty"`
	Agent        *agentRef `json:"agent,omitempty"`
}

// staffSession authenticates a staff upgrade (401 or 403 before upgrading)
// and registers the new session; nil with a nil error means the upgrade
// itself answered (or the hub is stopping).
func (h *Hub) staffSession(c echo.Context, role Role) (*Session, error) {
	a, err := h.staffAuth(c, role == RoleSupervisor)
	if err != nil {
		return nil, err
	}
	if err := h.accepting(c.Request().Context()); err != nil {
		return nil, err
	}
	conn, err := h.upgrade(c, false)
	if err != nil {
		return nil, nil
	}
	s := newSession(h, conn, uuid.NewString(), role)
	s.Agent = a
	if err := h.register(s); err != nil {
		conn.Close()
		return nil, nil
	}
	return s, nil
}

// ServeAgent is GET /ws/agent: an agent's console.
func (h *Hub) ServeAgent(c echo.Context) error {
	s, err := h.staffSession(c, RoleAgent)
	if s == nil {
		return err
	}
	a := s.Agent
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	s.listen(agentChannel(a.ID))
	h.stopGrace(a.ID)
	// The account may be new to the directory (made by `daogou agent add`
	// or on another instance's store while this one ran): route with it now.
	if err := h.dir.Upsert(ctx, a); err != nil {
		s.logger().Warn("account not in the directory", zap.Error(err))
	}
	cameOnline, err := h.dir.Connect(ctx, a.ID, h.clock.Now())
	if err != nil {
		s.logger().Warn("presence not recorded", zap.Error(err))
	}
	mine, err := h.conversationsOf(ctx, a.ID)
	if err != nil {
		s.close(ClosedSyncFailed, websocket.CloseInternalServerErr, "store unavailable")
		h.serve(s, nil)
		return nil
	}
	views := make([]convView, 0, len(mine))
	for _, conv := range mine {
		views = append(views, h.view(conv))
	}
	me, _ := h.dir.View(ctx, a.ID)
	s.reply(TypeWelcome, "", "", struct {
		SessionID     string     `json:"session_id"`
		Agent         agentView  `json:"agent"`
		Conversations []convView `json:"conversations"`
	}{s.ID, me, views})
	for _, conv := range mine {
		s.queue(item{p: packet{kind: pkMark, conv: conv.ID, seq: conv.LastSeq}})
		h.timersTo(s, conv)
	}
	h.agentChanged(a.ID)
	if cameOnline {
		h.drain(ctx)
	}
	h.serve(s, func() {
		if h.closing.Load() {
			return
		}
		last, err := h.dir.Disconnect(context.Background(), a.ID, h.clock.Now())
		if err != nil {
			s.logger().Warn("presence not recorded", zap.Error(err))
		}
		if last {
			h.startGrace(a.ID)
		}
		h.agentChanged(a.ID)
	})
	return nil
}

// timersTo sends one session the timers running on a conversation.
func (h *Hub) timersTo(s *Session, c store.Conversation) {
	for _, t := range h.view(c).Timers {
		s.reply(TypeTimerStarted, c.ID, "", timerStartedBody{Rule: t.Rule, Deadline: t.Deadline})
	}
}

// conversationsOf lists an agent's open conversations.
func (h *Hub) conversationsOf(ctx context.Context, agentID string) ([]store.Conversation, error) {
	open, err := h.store.OpenConversations(ctx)
	if err != nil {
		return nil, err
	}
	var mine []store.Conversation
	for _, c := range open {
		if c.AgentID == agentID && c.State == store.Assigned {
			mine = append(mine, c)
		}
	}
	return mine, nil
}

// ServeSupervisor is GET /ws/supervisor: the live monitor.
func (h *Hub) ServeSupervisor(c echo.Context) error {
	s, err := h.staffSession(c, RoleSupervisor)
	if s == nil {
		return err
	}
	a := s.Agent
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	s.listen(supervisorChannel)
	me, _ := h.dir.View(ctx, a.ID)
	s.reply(TypeWelcome, "", "", struct {
		SessionID string    `json:"session_id"`
		Agent     agentView `json:"agent"`
	}{s.ID, me})
	snap, err := h.snapshot(ctx)
	if err != nil {
		s.close(ClosedSyncFailed, websocket.CloseInternalServerErr, "store unavailable")
	} else {
		s.reply(TypeSnapshot, "", "", snap)
	}
	h.serve(s, nil)
	return nil
}

type snapshot struct {
	Conversations []convView  `json:"conversations"`
	Agents        []agentView `json:"agents"`
	Stats         Stats       `json:"stats"`
}

func (h *Hub) snapshot(ctx context.Context) (snapshot, error) {
	open, err := h.store.OpenConversations(ctx)
	if err != nil {
		return snapshot{}, err
	}
	views, err := h.dir.Views(ctx)
	if err != nil {
		return snapshot{}, err
	}
	snap := snapshot{Conversations: make([]convView, 0, len(open)), Agents: views}
	for _, c := range open {
		snap.Conversations = append(snap.Conversations, h.view(c))
	}
	for i := range snap.Agents {
		snap.Agents[i].Today = h.stats.agentToday(snap.Agents[i].ID)
	}
	snap.Stats, _ = h.currentStats(ctx)
	return snap, nil
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// mustJSON quotes a string as a JSON value.
func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func closeDeadline() time.Time { return time.Now().Add(closeWait) }
