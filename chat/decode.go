package chat

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Incoming frames are read without reflection when they are plain: an
// object whose keys are the expected ones, each once, spelled exactly, whose
// values are strings without escapes (and, for a frame's body, an object).
// Anything else (escapes, other keys, other spellings, null, bad JSON) goes
// to encoding/json, so the outcome, errors included, is always what
// encoding/json makes of the frame (a fuzz test holds it so).

// decodeFrame reads a client frame's envelope.
func decodeFrame(data []byte, f *inFrame) error {
	dst := [...]*string{&f.Type, &f.ID, &f.ConversationID}
	if scanPlain(data, frameKeys[:], dst[:], "body", (*[]byte)(&f.Body)) {
		return nil
	}
	*f = inFrame{}
	return json.Unmarshal(data, f)
}

var frameKeys = [...]string{"type", "id", "conversation_id"}

// decodeSend reads a message.send body, as decodeBody does.
func decodeSend(raw json.RawMessage, b *sendBody) error {
	dst := [...]*string{&b.ClientMsgID, &b.Text}
	if scanPlain(raw, sendKeys[:], dst[:], "", nil) {
		return nil
	}
	*b = sendBody{}
	return decodeBody(raw, b)
}

var sendKeys = [...]string{"client_msg_id", "text"}

// scanPlain fills dst[i] with the string value of keys[i], and *raw with a
// copy of the object that is rawKey's value (rawKey "" for none). false
// means the input is not plain; dst and raw may then hold anything.
func scanPlain(data []byte, keys []string, dst []*string, rawKey string, raw *[]byte) bool {
	var seen uint64 // bit i: keys[i]; bit 63: rawKey
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		key, next, ok := plainString(data, i)
		if !ok {
			return false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		k := -1
		for j, name := range keys {
			if string(key) == name {
				k = j
				break
			}
		}
		switch {
		case k >= 0:
			if seen&(1<<k) != 0 {
				return false
			}
			seen |= 1 << k
			v, next, ok := plainString(data, i)
			if !ok {
				return false
			}
			*dst[k] = string(v)
			i = next
		case rawKey != "" && string(key) == rawKey:
			if seen&(1<<63) != 0 {
				return false
			}
			seen |= 1 << 63
			end, ok := objectEnd(data, i)
			if !ok || !json.Valid(data[i:end]) {
				return false
			}
			*raw = bytes.Clone(data[i:end])
			i = end
		default:
			return false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// skipSpace is the index of the first byte from i that is not JSON space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString reads a string starting at data[i] that has no escape, no
// control character and only valid UTF-8; next is the index after it.
func plainString(data []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			s = data[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// objectEnd finds the end of the object starting at data[i] by its
// brackets, skipping strings (json.Valid checks the rest).
func objectEnd(data []byte, i int) (end int, ok bool) {
	if i >= len(data) || data[i] != '{' {
		return 0, false
	}
	depth := 0
	for j := i; j < len(data); j++ {
		switch data[j] {
		case '"':
			for j++; j < len(data) && data[j] != '"'; j++ {
				if data[j] == '\\' {
					j++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, true
			}
		}
	}
	return 0, false
}
