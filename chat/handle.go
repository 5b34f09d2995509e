package chat

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
	"github.com/daogou/daogou/scripts"
)

const frameTimeout = 10 * time.Second

// handle carries out one client frame. An error becomes an error frame for
// the sender; the connection stays open.
func (h *Hub) handle(s *Session, f inFrame) error {
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	handler, known := handlers[f.Type]
	if !known {
		h.metrics.frames.WithLabelValues(CodeBadRequest).Inc()
		return errFrame(CodeBadRequest, "unknown frame type "+quote(f.Type))
	}
	fn := handler[s.Role]
	if fn == nil {
		h.metrics.frames.WithLabelValues(CodeForbidden).Inc()
		return errFrame(CodeForbidden, f.Type+" is not for a "+string(s.Role))
	}
	err := fn(h, ctx, s, f)
	if err != nil {
		h.metrics.frames.WithLabelValues(asFrameError(err).Code).Inc()
	}
	return err
}

type frameHandler func(h *Hub, ctx context.Context, s *Session, f inFrame) error

// handlers says which role may send which frame, and what it does (set in
// init: the handlers lead back to the reader that looks them up).
var handlers map[string]map[Role]frameHandler

func init() {
	handlers = map[string]map[Role]frameHandler{
		TypePing:        {RoleShopper: onPing, RoleAgent: onPing, RoleSupervisor: onPing},
		TypeHello:       {RoleShopper: onHello, RoleAgent: onHello, RoleSupervisor: onHello},
		TypeMessageSend: {RoleShopper: onShopperSend, RoleAgent: onAgentSend},
		TypeScriptSend:  {RoleAgent: onScriptSend},
		TypeContextSet:  {RoleShopper: onContextSet},
		TypeTyping:      {RoleShopper: onTyping, RoleAgent: onTyping},
		TypeRead:        {RoleShopper: onRead, RoleAgent: onRead},
		TypeStatusSet:   {RoleAgent: onStatusSet},
		TypeTransfer:    {RoleAgent: onTransfer, RoleSupervisor: onTransfer},
		TypeClose:       {RoleAgent: onClose, RoleSupervisor: onClose},
		TypeWatch:       {RoleSupervisor: onWatch},
		TypeUnwatch:     {RoleSupervisor: onUnwatch},
		TypeWhisper:     {RoleSupervisor: onWhisper},
	}
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

func onPing(h *Hub, _ context.Context, s *Session, f inFrame) error {
	s.reply(TypePong, f.ConversationID, f.ID, nil)
	return nil
}

// onHello replays what a client missed of each conversation it names.
func onHello(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b helloBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	if len(b.Resume) > 100 {
		return errFrame(CodeBadRequest, "resume at most 100 conversations at a time")
	}
	for _, r := range b.Resume {
		if r.ConversationID == "" || r.LastSeq < 0 {
			return errFrame(CodeBadRequest, "resume entries need conversation_id and last_seq >= 0")
		}
		c, err := h.store.Conversation(ctx, r.ConversationID)
		if err != nil || !s.mayRead(c) {
			s.replyError(f.ID, r.ConversationID, errFrame(CodeNotFound, "no such conversation"))
			continue
		}
		s.queue(item{sync: true, p: packet{conv: c.ID, seq: r.LastSeq}})
	}
	return nil
}

// mayRead says whether a session may see a conversation's messages.
func (s *Session) mayRead(c store.Conversation) bool {
	switch s.Role {
	case RoleShopper:
		return c.VisitorID == s.VisitorID
	case RoleAgent:
		return c.AgentID == s.Agent.ID
	default:
		return true
	}
}

// text checks a message text against the contract's limits.
func checkText(t string) (string, error) {
	if !utf8.ValidString(t) {
		return "", errFrame(CodeBadRequest, "text is not valid UTF-8")
	}
	if strings.TrimSpace(t) == "" {
		return "", errFrame(CodeBadRequest, "missing text")
	}
	if utf8.RuneCountInString(t) > maxTextChars {
		return "", errFrame(CodeTooLarge, "text over 4000 characters")
	}
	return t, nil
}

func checkClientMsgID(id string) error {
	if id == "" {
		return errFrame(CodeBadRequest, "missing client_msg_id")
	}
	if len(id) > 128 {
		return errFrame(CodeBadRequest, "client_msg_id over 128 bytes")
	}
	return nil
}

var errConversationClosed = errFrame(CodeConflict, "the conversation is closed")

// readSend reads and checks a message.send body.
func readSend(f inFrame) (sendBody, error) {
	var b sendBody
	if err := decodeSend(f.Body, &b); err != nil {
		return b, err
	}
	if err := checkClientMsgID(b.ClientMsgID); err != nil {
		return b, err
	}
	_, err := checkText(b.Text)
	return b, err
}

func onShopperSend(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	b, err := readSend(f)
	if err != nil {
		return err
	}
	text := b.Text
	convID := f.ConversationID
	if convID == "" {
		convID = s.conv
	}
	send := func(convID string) error {
		_, _, err := h.change(ctx, convID, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
			if c.VisitorID != s.VisitorID {
				return nil, nil, errFrame(CodeNotFound, "no such conversation")
			}
			if c.State == store.Closed {
				return nil, nil, errConversationClosed
			}
			m := store.Message{
				Author: store.Author{Kind: store.AuthorShopper, ID: s.VisitorID, Name: c.VisitorName},
				Kind:   "text", Text: text, ClientMsgID: b.ClientMsgID,
			}
			return []store.Message{m}, c.Timers.On(h.cfg.Rules, rules.Event{Kind: rules.ShopperMessage, At: now}), nil
		}, func(ch store.Change) { s.ack(f.ID, ch) })
		if errors.Is(err, store.ErrNotFound) {
			err = errFrame(CodeNotFound, "no such conversation")
		}
		return err
	}
	if convID != "" {
		err = send(convID)
	}
	if convID == "" || (errors.Is(err, errConversationClosed) && f.ConversationID == "") {
		// The shopper writes again after the last conversation closed: a new one opens.
		c, oerr := h.open(ctx, s.openParams())
		if oerr != nil {
			return oerr
		}
		s.conv = c.ID
		err = send(c.ID)
	}
	return err
}

// ack answers a message.send or script.send with the stored message.
func (s *Session) ack(ref string, ch store.Change) {
	m := ch.Messages[0]
	s.reply(TypeMessageAck, m.ConversationID, ref, ackBody{m.ClientMsgID, m.Seq, m.ID})
}

// agentConversation is the conversation named by an agent's frame, which
// must be the agent's own (a supervisor may act on any).
func (h *Hub) agentConversation(ctx context.Context, s *Session, f inFrame) (store.Conversation, error) {
	if f.ConversationID == "" {
		return store.Conversation{}, errFrame(CodeBadRequest, "missing conversation_id")
	}
	c, err := h.store.Conversation(ctx, f.ConversationID)
	if errors.Is(err, store.ErrNotFound) {
		return c, errFrame(CodeNotFound, "no such conversation")
	}
	if err != nil {
		return c, err
	}
	return c, s.mayAct(&c)
}

// mayAct checks that an agent acts on its own open conversation.
func (s *Session) mayAct(c *store.Conversation) error {
	if s.Role == RoleSupervisor {
		return nil
	}
	if c.AgentID != s.Agent.ID {
		if c.State == store.Closed {
			return errConversationClosed
		}
		return errFrame(CodeForbidden, "the conversation is not assigned to you")
	}
	return nil
}

// agentWrite stores a message of the agent's and stops the timers.
func (h *Hub) agentWrite(ctx context.Context, s *Session, ref, convID string, build func(c *store.Conversation) (store.Message, error)) error {
	if convID == "" {
		return errFrame(CodeBadRequest, "missing conversation_id")
	}
	_, _, err := h.change(ctx, convID, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
		if err := s.mayAct(c); err != nil {
			return nil, nil, err
		}
		if c.State == store.Closed {
			return nil, nil, errConversationClosed
		}
		m, err := build(c)
		if err != nil {
			return nil, nil, err
		}
		m.Author = store.Author{Kind: store.AuthorAgent, ID: s.Agent.ID, Name: s.Agent.Name}
		return []store.Message{m}, c.Timers.On(h.cfg.Rules, rules.Event{Kind: rules.AgentMessage, At: now}), nil
	}, func(ch store.Change) { s.ack(ref, ch) })
	if errors.Is(err, store.ErrNotFound) {
		return errFrame(CodeNotFound, "no such conversation")
	}
	return err
}

func onAgentSend(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	b, err := readSend(f)
	if err != nil {
		return err
	}
	return h.agentWrite(ctx, s, f.ID, f.ConversationID, func(*store.Conversation) (store.Message, error) {
		return store.Message{Kind: "text", Text: b.Text, ClientMsgID: b.ClientMsgID}, nil
	})
}

func onScriptSend(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b scriptBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	if b.ScriptID == "" {
		return errFrame(CodeBadRequest, "missing script_id")
	}
	if len(b.ClientMsgID) > 128 {
		return errFrame(CodeBadRequest, "client_msg_id over 128 bytes")
	}
	if _, ok := h.scripts.Get(b.ScriptID); !ok {
		return errFrame(CodeNotFound, "no script "+quote(b.ScriptID))
	}
	known := scripts.Placeholders()
	for k, v := range b.Vars {
		if !containsString(known, k) {
			return errFrame(CodeBadRequest, "unknown placeholder "+quote(k))
		}
		if utf8.RuneCountInString(v) > 200 {
			return errFrame(CodeTooLarge, "placeholder value over 200 characters")
		}
	}
	var place queuePlace
	if sc, _ := h.scripts.Get(b.ScriptID); containsString(sc.Vars, "queue_position") || containsString(sc.Vars, "wait_minutes") {
		place = h.place(ctx, f.ConversationID)
	}
	return h.agentWrite(ctx, s, f.ID, f.ConversationID, func(c *store.Conversation) (store.Message, error) {
		text, err := h.scripts.Render(b.ScriptID, h.scriptVars(*c, s.Agent.Name, b.Vars, place))
		if err != nil {
			return store.Message{}, errFrame(CodeBadRequest, err.Error())
		}
		if _, err := checkText(text); err != nil {
			return store.Message{}, err
		}
		return store.Message{Kind: "script", Text: text, ScriptID: b.ScriptID, ClientMsgID: b.ClientMsgID}, nil
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func onContextSet(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b contextBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	raw, err := marshalContext(b)
	if err != nil {
		return err
	}
	s.context = raw
	if s.conv == "" {
		return nil // kept for the conversation the shopper opens next
	}
	ch, _, err := h.change(ctx, s.conv, func(c *store.Conversation, now time.Time) ([]store.Message, []rules.Effect, error) {
		if c.VisitorID != s.VisitorID {
			return nil, nil, errFrame(CodeNotFound, "no such conversation")
		}
		c.Context = raw
		return nil, nil, nil
	}, nil)
	if err != nil {
		return err
	}
	c := ch.Conversation
	if c.State == store.Closed {
		return nil
	}
	chans := []string{supervisorChannel}
	if c.AgentID != "" {
		chans = append(chans, agentChannel(c.AgentID))
	}
	h.publishFrame(TypeConvUpdated, c.ID, convBody{h.view(c)}, chans...)
	return nil
}

// onTyping and onRead relay to the other side of the conversation.
func onTyping(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b typingBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	return h.relay(ctx, s, f, TypeTyping, struct {
		On     bool         `json:"on"`
		Author store.Author `json:"author"`
	}{b.On, s.author()})
}

func onRead(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b readBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	if b.Seq < 0 {
		return errFrame(CodeBadRequest, "seq must be >= 0")
	}
	return h.relay(ctx, s, f, TypeRead, struct {
		Seq    int64        `json:"seq"`
		Author store.Author `json:"author"`
	}{b.Seq, s.author()})
}

func (h *Hub) relay(ctx context.Context, s *Session, f inFrame, typ string, body any) error {
	convID := f.ConversationID
	if s.Role == RoleShopper && convID == "" {
		convID = s.conv
	}
	if convID == "" {
		return errFrame(CodeBadRequest, "missing conversation_id")
	}
	c, err := h.store.Conversation(ctx, convID)
	if err != nil || !s.mayRead(c) {
		return errFrame(CodeNotFound, "no such conversation")
	}
	to := []string{watchChannel(c.ID)}
	if s.Role == RoleShopper {
		if c.AgentID != "" {
			to = append(to, agentChannel(c.AgentID))
		}
	} else {
		to = append(to, visitorChannel(c.VisitorID))
	}
	h.publishFrame(typ, c.ID, body, to...)
	return nil
}

func (s *Session) author() store.Author {
	if s.Role == RoleShopper {
		return store.Author{Kind: store.AuthorShopper, ID: s.VisitorID, Name: s.name}
	}
	return store.Author{Kind: store.AuthorAgent, ID: s.Agent.ID, Name: s.Agent.Name}
}

func onStatusSet(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b statusBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	st := routing.Status(b.Status)
	if st != routing.Online && st != routing.Away && st != routing.Offline {
		return errFrame(CodeBadRequest, `status is "online", "away" or "offline"`)
	}
	if err := h.dir.SetStatus(ctx, s.Agent.ID, st, h.clock.Now()); err != nil {
		return err
	}
	h.agentChanged(s.Agent.ID)
	switch st {
	case routing.Online:
		h.drain(ctx)
	case routing.Offline:
		h.handOver(s.Agent.ID)
	}
	return nil
}

func onTransfer(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b transferBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	if (b.ToAgentID == "") == (b.Skill == "") {
		return errFrame(CodeBadRequest, "name either to_agent_id or skill")
	}
	c, err := h.agentConversation(ctx, s, f)
	if err != nil {
		return err
	}
	if c.State == store.Closed {
		return errConversationClosed
	}
	if b.ToAgentID != "" {
		if b.ToAgentID == c.AgentID {
			return errFrame(CodeConflict, "the conversation is already with that agent")
		}
		if _, ok := h.dir.View(ctx, b.ToAgentID); !ok {
			return errFrame(CodeNotFound, "no such agent")
		}
		took, err := h.dir.Take(ctx, b.ToAgentID)
		if err != nil {
			return err
		}
		if !took {
			return errFrame(CodeConflict, "that agent is not online or has no room")
		}
		if _, err := h.handTo(ctx, c.ID, b.ToAgentID, ""); err != nil {
			h.release(ctx, b.ToAgentID)
			return err
		}
		return nil
	}
	req := routing.Request{Locale: c.Locale, Topic: c.Topic, Skill: b.Skill, Exclude: c.AgentID}
	id, ok, err := h.dir.Assign(ctx, req)
	if err != nil {
		return err
	}
	if ok {
		if _, err := h.handTo(ctx, c.ID, id, ""); err != nil {
			h.release(ctx, id)
			return err
		}
		return nil
	}
	// Nobody with the skill is free: the conversation waits for one.
	return h.requeue(ctx, c.ID, &req)
}

func onClose(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b closeBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	if !outcomes[b.Outcome] {
		return errFrame(CodeBadRequest, `outcome is "purchased", "not_purchased", "resolved" or "abandoned"`)
	}
	if f.ConversationID == "" {
		return errFrame(CodeBadRequest, "missing conversation_id")
	}
	_, err := h.closeConversation(ctx, f.ConversationID, b.Outcome, s.mayAct)
	if errors.Is(err, store.ErrNotFound) {
		return errFrame(CodeNotFound, "no such conversation")
	}
	return err
}

func onWatch(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	if f.ConversationID == "" {
		return errFrame(CodeBadRequest, "missing conversation_id")
	}
	c, err := h.store.Conversation(ctx, f.ConversationID)
	if errors.Is(err, store.ErrNotFound) {
		return errFrame(CodeNotFound, "no such conversation")
	}
	if err != nil {
		return err
	}
	s.listen(watchChannel(c.ID))
	msgs, err := h.store.Messages(ctx, c.ID, 0, 0)
	if err != nil {
		return err
	}
	var last int64
	if len(msgs) > 0 {
		last = msgs[len(msgs)-1].Seq
	}
	frame := encode(TypeWatching, c.ID, f.ID, struct {
		Conversation convView        `json:"conversation"`
		Messages     []store.Message `json:"messages"`
	}{h.view(c), nonNil(msgs)})
	s.queue(item{p: packet{kind: pkMark, conv: c.ID, seq: last, frame: frame}, at: h.clock.Now()})
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func onUnwatch(h *Hub, _ context.Context, s *Session, f inFrame) error {
	if f.ConversationID == "" {
		return errFrame(CodeBadRequest, "missing conversation_id")
	}
	s.unlisten(watchChannel(f.ConversationID))
	s.queue(item{forget: true, p: packet{conv: f.ConversationID}})
	return nil
}

func onWhisper(h *Hub, ctx context.Context, s *Session, f inFrame) error {
	var b whisperBody
	if err := decodeBody(f.Body, &b); err != nil {
		return err
	}
	text, err := checkText(b.Text)
	if err != nil {
		return err
	}
	c, err := h.agentConversation(ctx, s, f)
	if err != nil {
		return err
	}
	if c.AgentID == "" || c.State != store.Assigned {
		return errFrame(CodeConflict, "no agent has this conversation")
	}
	h.publishFrame(TypeWhisper, c.ID, struct {
		Text string     `json:"text"`
		From agentRef   `json:"from"`
		At   store.Time `json:"at"`
	}{text, agentRef{ID: s.Agent.ID, Name: s.Agent.Name}, store.At(h.clock.Now())}, agentChannel(c.AgentID), watchChannel(c.ID))
	return nil
}
