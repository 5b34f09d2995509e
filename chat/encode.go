package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/daogou/daogou/chat/store"
)

// appendMessageNew writes the message.new frame of m without reflection:
// every delivered message is encoded once, on the hot path. The output is
// the same JSON that encoding/json makes of the frame (a test holds it so).
func appendMessageNew(b []byte, m store.Message) []byte {
	b = appendFrameHead(b, TypeMessageNew, "", m.ConversationID)
	b = append(b, `{"message":{"id":`...)
	b = appendJSONString(b, m.ID)
	b = append(b, `,"conversation_id":`...)
	b = appendJSONString(b, m.ConversationID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"author":{"kind":`...)
	b = appendJSONString(b, m.Author.Kind)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, m.Author.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, m.Author.Name)
	b = append(b, `},"kind":`...)
	b = appendJSONString(b, m.Kind)
	b = append(b, `,"text":`...)
	b = appendJSONString(b, m.Text)
	b = append(b, `,"auto":`...)
	b = strconv.AppendBool(b, m.Auto)
	b = append(b, `,"created_at":`...)
	b = appendWireTime(b, m.CreatedAt)
	if m.ClientMsgID != "" {
		b = append(b, `,"client_msg_id":`...)
		b = appendJSONString(b, m.ClientMsgID)
	}
	if m.ScriptID != "" {
		b = append(b, `,"script_id":`...)
		b = appendJSONString(b, m.ScriptID)
	}
	return append(b, "}}}"...)
}

// appendFrameHead writes an outFrame up to its body, as encoding/json does.
func appendFrameHead(b []byte, typ, ref, convID string) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, typ)
	if ref != "" {
		b = append(b, `,"ref":`...)
		b = appendJSONString(b, ref)
	}
	if convID != "" {
		b = append(b, `,"conversation_id":`...)
		b = appendJSONString(b, convID)
	}
	return append(b, `,"body":`...)
}

// encodeByHand encodes the frames sent for every message and every new
// shopper without reflection; ok is false for any other body, or one
// encoding/json would refuse.
func encodeByHand(typ, convID, ref string, body any) (b []byte, ok bool) {
	head := func(size int) []byte { return appendFrameHead(make([]byte, 0, size), typ, ref, convID) }
	ok = true
	switch v := body.(type) {
	case ackBody:
		b = appendAck(head(192), v)
	case timerStartedBody:
		b = appendTimerStarted(head(160), v)
	case timerMetBody:
		b = appendTimerMet(head(128), v)
	case shopperWelcome:
		b, ok = appendShopperWelcome(head(256), v)
	case convBody:
		b, ok = appendConvView(append(head(640), `{"conversation":`...), v.Conversation)
		b = append(b, '}')
	default:
		return nil, false
	}
	return append(b, '}'), ok
}

// appendAck writes a message.ack body.
func appendAck(b []byte, v ackBody) []byte {
	b = append(b, `{"client_msg_id":`...)
	b = appendJSONString(b, v.ClientMsgID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, v.Seq, 10)
	b = append(b, `,"message_id":`...)
	b = appendJSONString(b, v.MessageID)
	return append(b, '}')
}

// appendTimerStarted writes a timer.started body.
func appendTimerStarted(b []byte, v timerStartedBody) []byte {
	b = append(b, `{"rule":`...)
	b = appendJSONString(b, v.Rule)
	b = append(b, `,"deadline":`...)
	b = appendWireTime(b, v.Deadline)
	return append(b, '}')
}

// appendTimerMet writes a timer.met body.
func appendTimerMet(b []byte, v timerMetBody) []byte {
	b = append(b, `{"rule":`...)
	b = appendJSONString(b, v.Rule)
	b = append(b, `,"elapsed_ms":`...)
	b = strconv.AppendInt(b, v.ElapsedMs, 10)
	return append(b, '}')
}

// appendConvView writes a conversation's view as encoding/json does; ok is
// false when its context is not valid JSON (encoding/json fails there).
func appendConvView(b []byte, v convView) (_ []byte, ok bool) {
	c := v.Conversation
	b = append(b, `{"id":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"visitor_id":`...)
	b = appendJSONString(b, c.VisitorID)
	b = append(b, `,"visitor_name":`...)
	b = appendJSONString(b, c.VisitorName)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, c.State)
	b = append(b, `,"agent_id":`...)
	b = appendJSONString(b, c.AgentID)
	b = append(b, `,"locale":`...)
	b = appendJSONString(b, c.Locale)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, c.Topic)
	b = append(b, `,"context":`...)
	if b, ok = appendRawJSON(b, c.Context); !ok {
		return b, false
	}
	b = append(b, `,"opened_at":`...)
	b = appendWireTime(b, c.OpenedAt)
	b = append(b, `,"closed_at":`...)
	b = appendWireTime(b, c.ClosedAt)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, c.Outcome)
	b = append(b, `,"last_seq":`...)
	b = strconv.AppendInt(b, c.LastSeq, 10)
	b = append(b, `,"assigned_at":`...)
	b = appendWireTime(b, c.AssignedAt)
	b = append(b, `,"timers":`...)
	if v.Timers == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range v.Timers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = appendJSONString(b, t.Rule)
			b = append(b, `,"started":`...)
			b = appendWireTime(b, t.Started)
			b = append(b, `,"deadline":`...)
			b = appendWireTime(b, t.Deadline)
			b = append(b, `,"held":`...)
			b = strconv.AppendBool(b, t.Held)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"waiting_since":`...)
	b = appendWireTime(b, v.WaitingSince)
	b = append(b, `,"queue_position":`...)
	b = strconv.AppendInt(b, int64(v.QueuePosition), 10)
	b = append(b, `,"breaches":`...)
	b = strconv.AppendInt(b, int64(v.Breaches), 10)
	return append(b, '}'), true
}

// appendRawJSON writes raw as encoding/json writes a json.RawMessage:
// null when empty, else compacted with <, > and & escaped in strings.
func appendRawJSON(b []byte, raw json.RawMessage) (_ []byte, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return append(b, "null"...), true
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		return b, false
	}
	out := bytes.NewBuffer(b)
	json.HTMLEscape(out, compact.Bytes())
	return out.Bytes(), true
}

// appendShopperWelcome writes a shopper's welcome body.
func appendShopperWelcome(b []byte, w shopperWelcome) (_ []byte, ok bool) {
	b = append(b, `{"session_id":`...)
	b = appendJSONString(b, w.SessionID)
	b = append(b, `,"visitor_id":`...)
	b = appendJSONString(b, w.VisitorID)
	if w.VisitorToken != "" {
		b = append(b, `,"visitor_token":`...)
		b = appendJSONString(b, w.VisitorToken)
	}
	b = append(b, `,"locale":`...)
	b = appendJSONString(b, w.Locale)
	if w.Conversation != nil {
		b = append(b, `,"conversation":`...)
		if b, ok = appendConvView(b, *w.Conversation); !ok {
			return b, false
		}
	}
	if w.Agent != nil {
		b = append(b, `,"agent":{"id":`...)
		b = appendJSONString(b, w.Agent.ID)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, w.Agent.Name)
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// appendWireTime writes t as store.Time's MarshalJSON does.
func appendWireTime(b []byte, t store.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, wireTimeLayout)
	return append(b, '"')
}

// wireTimeLayout is store.Time's format: RFC 3339 with milliseconds, UTC.
const wireTimeLayout = "2006-01-02T15:04:05.000Z07:00"

const hexDigits = "0123456789abcdef"

// jsonPlain marks the bytes appendJSONString copies as they are: printable
// ASCII but '"', '\\', '<', '>' and '&'. One lookup a byte instead of six
// comparisons: the text of every message and greeting goes through it.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json does: HTML-safe, invalid UTF-8
// replaced, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && jsonPlain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
