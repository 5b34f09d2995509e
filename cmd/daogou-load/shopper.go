package main

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// shopper is one /ws/shopper session. Its reader goroutine handles every
// frame; only the relay pacer (or, in rules mode, the reader) writes.
type shopper struct {
	r       *run
	idx     int
	start   time.Time
	ws      atomic.Pointer[websocket.Conn]
	conv    atomic.Pointer[conv]
	done    func() // the handshake is over: lets the next one start
	settled atomic.Bool
}

// openShoppers starts n shopper sessions at --connect-rate. Each counts as
// opened once its conversation.opened arrives.
func (r *run) openShoppers(ctx context.Context, n int) {
	r.connectPaced(ctx, n, func(i int, done func()) {
		s := &shopper{r: r, idx: i, done: done, start: time.Now()}
		r.mu.Lock()
		r.shoppers = append(r.shoppers, s)
		r.mu.Unlock()
		r.readers.Add(1)
		go s.run(ctx)
	})
}

// failUnsettled counts every shopper still without a conversation as
// failed.
func (r *run) failUnsettled() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.shoppers {
		s.fail(errNotReady)
	}
}

func (s *shopper) run(ctx context.Context) {
	defer s.r.readers.Done()
	r := s.r
	r.st.dialed.Add(1)
	q := url.Values{"name": {"Load shopper " + strconv.Itoa(s.idx+1)}, "locale": {"en"}}
	ws, err := r.ep.dial(ctx, "/ws/shopper", q)
	if err != nil {
		s.fail(err)
		return
	}
	r.st.connected.Add(1)
	s.ws.Store(ws)
	if r.stopping.Load() {
		closeConn(ws)
	}
	err = readFrames(ws, s.onFrame)
	if !s.settled.Load() {
		s.fail(err)
		return
	}
	if !r.stopping.Load() {
		if c := s.conv.Load(); c != nil {
			c.dropped.Store(true)
		}
		r.st.dropped.Add(1)
		r.st.count(r.st.failures, "dropped during the run: "+failReason(err))
	}
}

// fail counts a session that did not get its conversation.
func (s *shopper) fail(err error) {
	if s.settled.Swap(true) {
		return
	}
	s.r.st.failed.Add(1)
	s.r.st.count(s.r.st.failures, failReason(err))
	s.done()
}

func (s *shopper) onFrame(data []byte, at time.Time) {
	r := s.r
	switch string(topString(data, "type")) {
	case typeMessageNew:
		s.onMessage(data, at)
	case typeMessageAck:
		r.onAck(data, &r.st.s2a, shopperSide, dirShopper)
	case typeOpened:
		s.onOpened(data, at)
	case typeAssigned:
		var f convFrame
		if json.Unmarshal(data, &f) == nil {
			if c := s.conv.Load(); c != nil {
				s.setAgent(c, f.Body.Conversation.AgentID)
			}
		}
	case typeQueued:
		r.st.queued.Add(1)
	case typeClosed:
		r.st.closedSeen.Add(1)
	case typeError:
		r.onError(data, "shopper")
	}
}

func (s *shopper) onOpened(data []byte, at time.Time) {
	r := s.r
	var f convFrame
	if err := json.Unmarshal(data, &f); err != nil || f.Body.Conversation.ID == "" {
		r.st.count(r.st.errors, "shopper:unreadable conversation.opened")
		return
	}
	wc := f.Body.Conversation
	c := r.reg.add(wc.ID)
	c.shopper.Store(s)
	c.mu.Lock()
	c.openedAt = wc.OpenedAt.Time
	c.mu.Unlock()
	s.setAgent(c, wc.AgentID)
	s.conv.Store(c)
	r.st.opened.Add(1)
	storeMax(&r.st.lastOpened, at.UnixNano())
	r.st.connectLat.Record(at.Sub(s.start))
	if !s.settled.Swap(true) {
		s.done()
	}
	if r.rules != nil {
		// The one shopper turn of a rules run starts now.
		n := r.sending(&r.st.s2a, &c.s)
		if err := writeFrame(s.ws.Load(), appendSend(nil, c.id, c.idx, dirShopper, n, time.Now().UnixNano(), r.cfg.MsgBytes)); err != nil {
			r.sendFailed(&r.st.s2a, &c.s)
		}
	}
}

// setAgent notes who has the conversation; a change of agent is a
// reassignment.
func (s *shopper) setAgent(c *conv, agentID string) {
	if agentID == "" {
		return
	}
	if prev := c.agentID.Swap(&agentID); prev != nil && *prev != agentID {
		s.r.st.reassigned.Add(1)
	}
}

func (s *shopper) onMessage(data []byte, at time.Time) {
	r := s.r
	c := s.conv.Load()
	if c == nil {
		return
	}
	if dir, n, sentAt, ok := findMarker(data); ok {
		switch dir {
		case dirAgent:
			r.delivered(&r.st.a2s, &c.a, n, sentAt, at)
		case dirGreeting:
			if !c.greeted.Swap(true) {
				r.st.ready.Add(1)
			}
		case dirShopper:
			if r.rules != nil {
				s.onOwnMessage(c, data)
			}
		}
		return
	}
	var f messageFrame
	if err := json.Unmarshal(data, &f); err != nil {
		r.st.count(r.st.errors, "shopper:unreadable message.new")
		return
	}
	m := f.Body.Message
	if !m.Auto {
		return // someone else writing in a load conversation
	}
	cat := r.category(m.ScriptID)
	r.st.count(r.st.autos, cat)
	if r.rules == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := arrival{created: m.CreatedAt.Time, received: at}
	switch cat {
	case "greeting":
		c.greets = append(c.greets, a)
	case "holding":
		c.holds = append(c.holds, a)
	default:
		c.otherAutos++
	}
}

// onOwnMessage reads the server's time of the shopper's message: the start
// of its turn.
func (s *shopper) onOwnMessage(c *conv, data []byte) {
	var f messageFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return
	}
	c.mu.Lock()
	if c.turnStart.IsZero() {
		c.turnStart = f.Body.Message.CreatedAt.Time
	}
	c.mu.Unlock()
}

// category is the script category of an automatic message: from the
// server's script list, or else the second part of ids such as
// "en.greeting.welcome.1".
func (r *run) category(scriptID string) string {
	if cat, ok := r.categories[scriptID]; ok {
		return cat
	}
	parts := strings.Split(scriptID, ".")
	if len(parts) >= 3 && (parts[1] == "greeting" || parts[1] == "holding") {
		return parts[1]
	}
	return "other"
}
