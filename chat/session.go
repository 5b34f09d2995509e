package chat

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/store"
)

// Connection settings.
const (
	writeWait  = 10 * time.Second  // a write that takes longer fails
	pongWait   = 60 * time.Second  // a peer silent this long is gone
	pingPeriod = pongWait * 9 / 10 // how often the writer pings
	closeWait  = 1 * time.Second   // time given to a close frame
	syncLimit  = 500               // messages fetched per store read when catching up
	syncWait   = 5 * time.Second   // a catch-up read that takes longer fails
)

// Role is who is at the other end of a session.
type Role string

const (
	RoleShopper    Role = "shopper"
	RoleAgent      Role = "agent"
	RoleSupervisor Role = "supervisor"
)

// CloseReason says why a session ended, in logs and metrics.
type CloseReason string

const (
	ClosedByPeer       CloseReason = "peer_closed"
	ClosedReadError    CloseReason = "read_error"
	ClosedWriteError   CloseReason = "write_error"
	ClosedSlowConsumer CloseReason = "slow_consumer"
	ClosedTooLarge     CloseReason = "frame_too_large"
	ClosedRateLimit    CloseReason = "rate_limit"
	ClosedUnauthorized CloseReason = "unauthorized"
	ClosedShutdown     CloseReason = "shutdown"
	ClosedSyncFailed   CloseReason = "sync_failed"
	ClosedLoggedOut    CloseReason = "logged_out"
	ClosedStartFailed  CloseReason = "start_failed"   // the welcome could not be made (store or broker trouble)
	ClosedProtocol     CloseReason = "protocol_error" // a frame broke RFC 6455 (unmasked, reserved bits, bad opcode)
	ClosedTimeout      CloseReason = "timeout"        // nothing heard, not even a pong, for pongWait
)

// item is one entry of a session's send queue.
type item struct {
	p      packet
	at     time.Time // when the frame was made, for the delivery latency
	sync   bool      // a catch-up request: send p.conv's messages after p.seq
	forget bool      // stop tracking p.conv (unwatched or handed over)
	ping   bool      // a WebSocket ping (from the hub's pinger)
	final  bool      // the close: the last item a writer handles
}

// track is what a session writer knows a client has seen of a conversation:
// every seq up to base is the client's own business, every seq from base to
// seen went out on this session.
type track struct{ base, seen, queued int64 }

// Session is one WebSocket connection. At most one goroutine reads
// (readLoop; none while the session is parked) and at most one writes
// (writeLoop; none while nothing is queued); everything else reaches the
// peer by queueing an item, never by writing.
type Session struct {
	ID        string
	Role      Role
	VisitorID string      // shoppers
	Agent     store.Agent // agents and supervisors

	// A shopper's current conversation and what it told on connecting;
	// used only by the reader goroutine once the session runs.
	conv, name, locale, topic string
	context                   json.RawMessage
	newVisitor                bool           // made on this connection: no earlier conversations
	unstored                  *store.Visitor // made on this connection, stored with its first conversation

	hub   *Hub
	conn  *websocket.Conn
	batch *batchConn // conn's socket, when writes can be held (nil in some tests)
	out   outbox

	done       chan struct{}
	readDone   chan struct{} // closed when reading has ended for good
	writerDone chan struct{} // closed when the final item has been handled
	broken     bool          // a write failed: the writer only drains (writer-owned)
	nextPing   atomic.Int64  // unix nanoseconds; the hub's pinger reads it
	heard      atomic.Int64  // unix nanoseconds of the last frame read; the pinger reads it
	onEnd      func()        // run once the session is removed
	closeOnce  sync.Once
	reason     CloseReason
	closeCode  int
	closeText  string

	mu       sync.Mutex
	channels map[string]bool // broker channels this session listens on

	limiter rateLimiter
	tracks  map[string]*track // owned by writeLoop

	// The read side (owned by whichever goroutine runs readLoop).
	fr     frameReader
	raw    syscall.RawConn // the socket, for parking; nil when it cannot park
	parkID uint64          // the parker's name for the session; 0 until it first parks
	rstate atomic.Int32    // reading or parked
	woke   atomic.Int64    // unix nanoseconds when a parked socket was found readable
}

func newSession(h *Hub, conn *websocket.Conn, id string, role Role) *Session {
	bc, _ := conn.NetConn().(*batchConn)
	s := &Session{
		ID: id, Role: role, hub: h, conn: conn, batch: bc,
		out:        newOutbox(h.cfg.SendQueue),
		done:       make(chan struct{}),
		readDone:   make(chan struct{}),
		writerDone: make(chan struct{}),
		channels:   make(map[string]bool),
		limiter:    newRateLimiter(),
		tracks:     make(map[string]*track),
		fr:         frameReader{conn: conn.NetConn(), limit: maxFrameBytes},
	}
	if bc != nil {
		if sc, ok := bc.Conn.(syscall.Conn); ok {
			s.raw, _ = sc.SyscallConn()
		}
	}
	return s
}

// queue hands an item to the writer without waiting: a session whose queue
// is full is a slow consumer and is closed.
func (s *Session) queue(it item) {
	select {
	case <-s.done:
		return
	default:
	}
	ok, start := s.out.push(it, false)
	if !ok {
		s.close(ClosedSlowConsumer, websocket.ClosePolicyViolation, "slow consumer")
		return
	}
	if start {
		s.startWriter()
	}
}

// startWriter runs a writer until the queue is empty.
func (s *Session) startWriter() { s.hub.pool.run(s.writeLoop) }

// reply sends a frame to this session only.
func (s *Session) reply(typ, convID, ref string, body any) {
	s.queue(item{p: packet{frame: encode(typ, convID, ref, body)}, at: s.hub.clock.Now()})
}

func (s *Session) replyError(ref, convID string, err error) {
	fe := asFrameError(err)
	if fe.Code == CodeInternal {
		s.logger().Error("frame failed", zap.String("conversation_id", convID), zap.Error(err))
	}
	s.reply(TypeError, convID, ref, errorBody{Code: fe.Code, Message: fe.Message})
}

// close ends the session once: what is queued goes out, then a close frame
// carrying code and text, then the socket closes.
func (s *Session) close(reason CloseReason, code int, text string) {
	s.closeOnce.Do(func() {
		s.reason, s.closeCode, s.closeText = reason, code, text
		close(s.done)
		if reason == ClosedSlowConsumer {
			// The writer is stuck on this peer: cut the connection under it.
			s.conn.Close()
		}
		if _, start := s.out.push(item{final: true}, true); start {
			s.startWriter()
		}
		s.resume() // a parked reader waits for the peer's close answer
	})
}

// readLoop reads and handles the peer's frames, in order, until the socket
// has nothing more to read: then the session parks (no goroutine, no
// buffer; a readable socket runs readLoop again in a new goroutine) or, where
// it cannot park, waits in a read. It also ends the session when reading
// fails. At most one readLoop runs at a time; readable says the socket has
// something to read (it woke the session), so the first read does not wait.
func (s *Session) readLoop(readable bool) {
	for {
		if !readable && s.fr.buffered() == 0 && !s.fr.partial() && s.park() {
			return
		}
		readable = false
		op, data, err := s.fr.next()
		if err != nil {
			s.readFailed(err)
			s.end()
			return
		}
		s.heard.Store(time.Now().UnixNano())
		switch op {
		case opPing:
			s.conn.WriteControl(websocket.PongMessage, data, time.Now().Add(writeWait))
			continue
		case opPong:
			continue
		}
		switch s.limiter.take(s.hub.clock.Now()) {
		case rateRefused:
			s.reply(TypeError, "", refOf(data), errorBody{Code: CodeRateLimited, Message: "more than 10 frames a second: slow down"})
			continue
		case rateAbusive:
			s.close(ClosedRateLimit, websocket.ClosePolicyViolation, "rate limit exceeded")
			s.drain()
			s.end()
			return
		}
		if op != opText {
			s.reply(TypeError, "", "", errorBody{Code: CodeBadRequest, Message: "frames are JSON text, not binary"})
			continue
		}
		var f inFrame
		if err := decodeFrame(data, &f); err != nil {
			s.reply(TypeError, "", "", errorBody{Code: CodeBadRequest, Message: "not a JSON object: " + err.Error()})
			continue
		}
		if f.Type == "" {
			s.reply(TypeError, "", f.ID, errorBody{Code: CodeBadRequest, Message: "missing type"})
			continue
		}
		began := time.Now()
		if err := s.hub.handle(s, f); err != nil {
			s.replyError(f.ID, f.ConversationID, err)
		}
		s.limiter.served(time.Since(began))
	}
}

// Reader states: at most one goroutine reads a session, and none while it
// is parked.
const (
	reading int32 = iota
	parked
)

// park hands the idle socket to the hub's parker and tells the reader to
// end; false means read on (no parker, not a plain socket, or the session
// is closing: its reader waits for the peer's close answer).
func (s *Session) park() bool {
	p := s.hub.park
	if p == nil || s.raw == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
	}
	s.fr.release()
	s.rstate.Store(parked)
	if err := p.arm(s); err != nil {
		if s.rstate.CompareAndSwap(parked, reading) {
			s.raw = nil // read in this goroutine from now on
			return false
		}
		return true // resumed already, by close
	}
	// A close between the check above and the store must still find a
	// reader: close resumes a parked session, or this one reads on.
	select {
	case <-s.done:
		return !s.rstate.CompareAndSwap(parked, reading)
	default:
		return true
	}
}

// resume starts a reader for a parked session (the socket is readable, or
// the session is closing).
func (s *Session) resume() {
	if s.rstate.CompareAndSwap(parked, reading) {
		s.woke.Store(time.Now().UnixNano())
		s.hub.pool.run(s.resumed)
	}
}

// resumed is the reader of a session woken by a readable socket. The time
// its frames waited for a reader to start is the server's delay, as is the
// time spent handling frames: frames that piled up meanwhile are not a
// flood (a saturated server would otherwise close its own agents).
func (s *Session) resumed() {
	if w := s.woke.Swap(0); w != 0 {
		s.limiter.served(time.Duration(time.Now().UnixNano() - w))
	}
	s.readLoop(true)
}

// end runs once the reader has failed or the peer closed: it waits for the
// writer's close and removes the session.
func (s *Session) end() {
	close(s.readDone)
	s.hub.remove(s)
}

// drain reads and drops what the peer still sends after the server closed,
// until the peer's close answer (or the writer closes the socket a moment
// later), so the close frame is not lost to a reset.
func (s *Session) drain() {
	for {
		if _, _, err := s.fr.next(); err != nil {
			return
		}
	}
}

func (s *Session) readFailed(err error) {
	var pe protocolError
	var pc *peerClosed
	switch {
	case errors.Is(err, errTooLarge):
		s.close(ClosedTooLarge, websocket.CloseMessageTooBig, "frame over 64 KiB")
	case errors.As(err, &pe):
		s.close(ClosedProtocol, websocket.CloseProtocolError, string(pe))
	case errors.As(err, &pc):
		s.close(ClosedByPeer, websocket.CloseNormalClosure, "")
	default:
		s.close(ClosedReadError, websocket.CloseNormalClosure, "")
	}
}

// refOf digs the id out of a frame that will not be handled, so that the
// client learns which of its frames was refused.
func refOf(data []byte) string {
	var f struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &f) != nil {
		return ""
	}
	return f.ID
}

// writeLoop owns every write while it runs (at most one runs at a time):
// queued frames, pings and the final close. It ends when the queue is empty.
func (s *Session) writeLoop() {
	for {
		batch := s.out.take()
		if len(batch) == 0 {
			return
		}
		if s.writeBatch(batch, len(batch) > 1) {
			return
		}
		recycle(batch)
	}
}

// writeBatch writes a batch taken from the queue, in one write call when
// hold is set. It reports whether the close went out: the writer's work is
// over.
func (s *Session) writeBatch(batch []item, hold bool) (closed bool) {
	held := s.batch != nil && hold
	if held {
		s.batch.Hold() // one write call for the whole batch
	}
	for i, it := range batch {
		batch[i] = item{} // let the frame go once written
		switch {
		case it.final:
			if held {
				s.flush()
			}
			if !s.broken {
				s.writeClose()
			}
			s.conn.Close()
			close(s.writerDone)
			return true // nothing is queued after the close
		case s.broken:
			// A write failed: the socket is closing, drop the rest.
		case it.ping:
			s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := s.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				s.fail(err)
			}
		default:
			if err := s.write(it); err != nil {
				s.fail(err)
			}
		}
	}
	if held {
		s.flush()
	}
	return false
}

// holdOpening makes the caller (the worker running the opening) the
// session's writer until sendOpening: the socket already holds the
// handshake (upgraded with hold), and what the opening queues (a welcome,
// the conversation, a greeting) joins it, to go out in one write call from
// the caller's goroutine. Only for openings that queue a few frames:
// nothing is written until sendOpening.
func (s *Session) holdOpening() {
	s.out.claim() // queue() starts no writer: the caller is it
}

// sendOpening ends holdOpening: the handshake and every frame queued since
// go out together, then the outbox starts writers again as usual.
func (s *Session) sendOpening() {
	select {
	case <-s.done:
		// Closing already: the close waits for the peer's answer while the
		// reader runs, so a writer of its own sends it, after the handshake.
		s.flush()
		s.startWriter()
		return
	default:
	}
	batch := s.out.takeAll()
	if s.writeBatch(batch, true) {
		return
	}
	recycle(batch)
	s.writeLoop()
}

// flush sends the frames the writer held.
func (s *Session) flush() {
	if err := s.batch.Flush(); err != nil && !s.broken {
		s.fail(err)
	}
}

// fail ends the session after a write error.
func (s *Session) fail(err error) {
	s.broken = true
	if errors.Is(err, errSyncFailed) {
		// The peer can still hear why: tell it, then close.
		s.close(ClosedSyncFailed, websocket.CloseInternalServerErr, "could not catch up, reconnect")
		s.broken = false
		return
	}
	s.close(ClosedWriteError, websocket.CloseNormalClosure, "")
	s.conn.Close()
}

func (s *Session) writeClose() {
	if s.reason == ClosedSlowConsumer {
		return
	}
	msg := websocket.FormatCloseMessage(s.closeCode, s.closeText)
	if s.closeCode == websocket.CloseNoStatusReceived {
		msg = nil
	}
	if s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait)) != nil {
		return
	}
	// Give the peer a moment to answer the close before the socket goes.
	select {
	case <-s.readDone:
	case <-time.After(closeWait):
	}
}

var errSyncFailed = errors.New("chat: catch-up from the store failed")

// write sends one queued item, keeping each conversation's messages in seq
// order, once each, filling any gap from the store.
func (s *Session) write(it item) error {
	p := it.p
	switch {
	case it.forget:
		delete(s.tracks, p.conv)
		return nil
	case it.sync:
		return s.catchUp(p.conv, p.seq)
	case p.kind == pkMark:
		t := s.tracks[p.conv]
		if t == nil {
			t = &track{base: p.seq, seen: p.seq}
			s.tracks[p.conv] = t
		}
		t.seen, t.base = max(t.seen, p.seq), max(t.base, p.seq)
	case p.kind == pkQueued:
		t := s.tracks[p.conv]
		if t == nil {
			t = &track{}
			s.tracks[p.conv] = t
		}
		if p.seq <= t.queued {
			return nil // an older place than the one told already
		}
		t.queued = p.seq
	case p.kind == pkMessage:
		t := s.tracks[p.conv]
		if t == nil {
			t = &track{base: p.seq - 1, seen: p.seq - 1}
			s.tracks[p.conv] = t
		}
		if p.seq <= t.seen {
			return nil // sent already
		}
		if p.seq > t.seen+1 {
			if err := s.sendStored(p.conv, t.seen, p.seq-1); err != nil {
				return err
			}
		}
		t.seen = p.seq
	}
	if len(p.frame) == 0 {
		return nil
	}
	if err := s.writeFrame(p.frame); err != nil {
		return err
	}
	if p.kind == pkMessage {
		s.hub.metrics.observeDelivery(s.hub.clock.Now().Sub(it.at))
	}
	return nil
}

// catchUp answers a hello: the messages after `after` that this session did
// not send itself.
// With no conversation named (the broker resubscribed) every tracked
// conversation is brought up to date.
func (s *Session) catchUp(conv string, after int64) error {
	if conv == "" {
		for id, t := range s.tracks {
			if err := s.sendStored(id, t.seen, 0); err != nil {
				return err
			}
		}
		return nil
	}
	t := s.tracks[conv]
	if after < 0 { // catch up from what this session has seen, if it follows conv
		if t == nil {
			return nil
		}
		return s.sendStored(conv, t.seen, 0)
	}
	if t == nil {
		t = &track{base: after, seen: after}
		s.tracks[conv] = t
		if err := s.sendStored(conv, after, 0); err != nil {
			return err
		}
		return nil
	}
	if after >= t.base {
		t.seen = max(t.seen, after)
		return nil
	}
	if err := s.sendStored(conv, after, t.base); err != nil {
		return err
	}
	t.base = after
	return nil
}

// sendStored writes the stored messages with after < seq <= upTo (upTo 0:
// all there are) and moves the track's seen on when it goes past it.
func (s *Session) sendStored(conv string, after, upTo int64) error {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), syncWait)
		msgs, err := s.hub.store.Messages(ctx, conv, after, syncLimit)
		cancel()
		if err != nil {
			s.logger().Warn("catch-up read failed", zap.String("conversation_id", conv), zap.Error(err))
			return errSyncFailed
		}
		for _, m := range msgs {
			if upTo > 0 && m.Seq > upTo {
				return nil
			}
			if err := s.writeFrame(encodeMessageNew(m)); err != nil {
				return err
			}
			after = m.Seq
			if t := s.tracks[conv]; t != nil && m.Seq > t.seen {
				t.seen = m.Seq
			}
		}
		if len(msgs) < syncLimit {
			return nil
		}
	}
}

func (s *Session) writeFrame(b []byte) error {
	s.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return s.conn.WriteMessage(websocket.TextMessage, b)
}

// encodeMessageNew is the one encoding of a message.new frame, live or
// replayed.
func encodeMessageNew(m store.Message) []byte {
	// The keys, the seq, the kind and the time take about 260 bytes; an
	// eighth of the text more leaves room for escapes: one allocation.
	size := 288 + len(m.ID) + 2*len(m.ConversationID) + len(m.Author.ID) + len(m.Author.Name) +
		len(m.Text) + len(m.Text)/8 + len(m.ClientMsgID) + len(m.ScriptID)
	return appendMessageNew(make([]byte, 0, size), m)
}

// listen adds broker channels to this session.
func (s *Session) listen(channels ...string) {
	s.mu.Lock()
	var added []string
	for _, c := range channels {
		if !s.channels[c] {
			s.channels[c] = true
			added = append(added, c)
		}
	}
	s.mu.Unlock()
	s.hub.subscribe(s, added...)
}

// unlisten removes broker channels from this session.
func (s *Session) unlisten(channels ...string) {
	s.mu.Lock()
	var removed []string
	for _, c := range channels {
		if s.channels[c] {
			delete(s.channels, c)
			removed = append(removed, c)
		}
	}
	s.mu.Unlock()
	s.hub.unsubscribe(s, removed...)
}

// listening lists the session's channels.
func (s *Session) listening() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.channels))
	for c := range s.channels {
		out = append(out, c)
	}
	return out
}

// logger names the session in a log line. It is made when something is
// logged, not kept: a logger with fields costs a few KiB per session.
func (s *Session) logger() *zap.Logger {
	l := s.hub.log.Named(string(s.Role)).With(zap.String("session_id", s.ID))
	if s.VisitorID != "" {
		return l.With(zap.String("visitor_id", s.VisitorID))
	}
	return l.With(zap.String("agent_id", s.Agent.ID))
}

// openParams is what a shopper's new conversation starts with. The id is
// chosen here and the session marked as having seen nothing of it yet, before
// any of its messages can arrive, so that the first ones are never mistaken
// for ones sent already (a gap is filled from the store instead).
func (s *Session) openParams() openParams {
	id := store.NewID()
	s.queue(item{p: packet{kind: pkMark, conv: id, seq: 0}})
	v := s.unstored
	s.unstored = nil // stored with this conversation, or the session ends
	return openParams{ID: id, VisitorID: s.VisitorID, VisitorName: s.name, Locale: s.locale, Topic: s.topic, Context: s.context,
		First: s.newVisitor && s.conv == "", Visitor: v}
}
