package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Frames the generator looks at (PROTOCOL.md and the documented extensions).
const (
	typeWelcome     = "welcome"
	typeOpened      = "conversation.opened"
	typeQueued      = "conversation.queued"
	typeAssigned    = "conversation.assigned"
	typeTransferred = "conversation.transferred"
	typeClosed      = "conversation.closed"
	typeMessageNew  = "message.new"
	typeMessageAck  = "message.ack"
	typeBreached    = "rule.breached"
	typeError       = "error"
)

// topField returns the raw JSON value of a top-level key of a JSON object,
// skipping nested values properly: the type, ref and conversation_id of a
// frame are read without decoding its body.
func topField(data []byte, key string) ([]byte, bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return nil, false
		}
		kEnd := skipString(data, i)
		if kEnd < 0 {
			return nil, false
		}
		k := data[i+1 : kEnd-1]
		i = skipSpace(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		vEnd := skipValue(data, i)
		if vEnd < 0 {
			return nil, false
		}
		if string(k) == key {
			return data[i:vEnd], true
		}
		i = skipSpace(data, vEnd)
		if i >= len(data) || data[i] != ',' {
			return nil, false
		}
		i++
	}
}

// topString is a top-level string value without its quotes (escapes are
// left as they are: types, ids and codes have none).
func topString(data []byte, key string) []byte {
	v, ok := topField(data, key)
	if !ok || len(v) < 2 || v[0] != '"' {
		return nil
	}
	return v[1 : len(v)-1]
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// A load message's text starts with a marker: "dgl|<dir>|<n>|<unix ns>|",
// padded with dots to the message size. dir is 's' (a shopper's message),
// 'a' (an agent's answer) or 'g' (an agent's greeting); n counts a
// conversation's messages in that direction from 1.
const markerPrefix = "dgl|"

// Directions of a marked message.
const (
	dirShopper  = 's'
	dirAgent    = 'a'
	dirGreeting = 'g'
)

// appendText appends a marked text of exactly size bytes (at least the
// marker's own length).
func appendText(b []byte, dir byte, n, unixNano int64, size int) []byte {
	start := len(b)
	b = append(b, markerPrefix...)
	b = append(b, dir, '|')
	b = strconv.AppendInt(b, n, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, unixNano, 10)
	b = append(b, '|')
	for len(b)-start < size {
		b = append(b, '.')
	}
	return b
}

// findMarker finds a marked text in a frame and reads its direction,
// number and send time.
func findMarker(data []byte) (dir byte, n, unixNano int64, ok bool) {
	i := bytes.Index(data, []byte(markerPrefix))
	if i < 0 || i+len(markerPrefix)+2 > len(data) {
		return 0, 0, 0, false
	}
	i += len(markerPrefix)
	dir = data[i]
	if data[i+1] != '|' {
		return 0, 0, 0, false
	}
	i += 2
	n, i, ok = readInt(data, i)
	if !ok {
		return 0, 0, 0, false
	}
	unixNano, _, ok = readInt(data, i)
	return dir, n, unixNano, ok
}

// readInt reads decimal digits ending with '|' at b[i:], returning the
// index after the '|'.
func readInt(b []byte, i int) (int64, int, bool) {
	var v int64
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		v = v*10 + int64(b[j]-'0')
	}
	if j == i || j >= len(b) || b[j] != '|' {
		return 0, 0, false
	}
	return v, j + 1, true
}

// appendSend appends a message.send frame. Its client_msg_id is the
// direction letter and the number; its frame id adds the conversation's
// index ("s12.345"), so that an error frame names the message.
func appendSend(b []byte, convID string, idx int, dir byte, n, unixNano int64, size int) []byte {
	b = append(b, `{"type":"message.send","id":"`...)
	b = append(b, dir)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(idx), 10)
	b = append(b, `","conversation_id":"`...)
	b = append(b, convID...)
	b = append(b, `","body":{"client_msg_id":"`...)
	b = append(b, dir)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `","text":"`...)
	b = appendText(b, dir, n, unixNano, size)
	return append(b, `"}}`...)
}

// parseFrameID reads a frame id made by appendSend.
func parseFrameID(id []byte) (dir byte, n int64, idx int, ok bool) {
	if len(id) < 4 {
		return 0, 0, 0, false
	}
	dir = id[0]
	dot := bytes.IndexByte(id, '.')
	if dot < 2 {
		return 0, 0, 0, false
	}
	n, err := strconv.ParseInt(string(id[1:dot]), 10, 64)
	if err != nil || n < 1 {
		return 0, 0, 0, false
	}
	i, err := strconv.Atoi(string(id[dot+1:]))
	if err != nil || i < 0 {
		return 0, 0, 0, false
	}
	return dir, n, i, true
}

// appendClose appends a conversation.close frame.
func appendClose(b []byte, convID string) []byte {
	b = append(b, `{"type":"conversation.close","id":"close","conversation_id":"`...)
	b = append(b, convID...)
	return append(b, `","body":{"outcome":"resolved"}}`...)
}

// wireConversation is the part of a conversation the generator reads.
type wireConversation struct {
	ID       string   `json:"id"`
	State    string   `json:"state"`
	AgentID  string   `json:"agent_id"`
	OpenedAt wireTime `json:"opened_at"`
}

// convFrame is conversation.opened, conversation.assigned and
// conversation.closed.
type convFrame struct {
	Body struct {
		Conversation wireConversation `json:"conversation"`
	} `json:"body"`
}

// messageFrame is message.new.
type messageFrame struct {
	ConversationID string `json:"conversation_id"`
	Body           struct {
		Message wireMessage `json:"message"`
	} `json:"body"`
}

type wireMessage struct {
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	Author         struct {
		Kind string `json:"kind"`
	} `json:"author"`
	Kind      string   `json:"kind"`
	Text      string   `json:"text"`
	Auto      bool     `json:"auto"`
	CreatedAt wireTime `json:"created_at"`
	ScriptID  string   `json:"script_id"`
}

// errorFrame is an error frame.
type errorFrame struct {
	Ref  string `json:"ref"`
	Body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"body"`
}

// breachFrame is rule.breached.
type breachFrame struct {
	Body struct {
		Rule   string `json:"rule"`
		Action string `json:"action"`
	} `json:"body"`
}

// wireTime reads the contract's times (RFC 3339, null when unset).
type wireTime struct{ time.Time }

func (t *wireTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}
