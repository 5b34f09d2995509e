package chat

import (
	"encoding/json"
	"errors"
)

// Frame types, as named by the wire contract (PROTOCOL.md). Extensions are
// marked.
const (
	// client → server
	TypeHello       = "hello"
	TypeMessageSend = "message.send"
	TypeScriptSend  = "script.send"
	TypeContextSet  = "context.set"
	TypeTyping      = "typing"
	TypeRead        = "read"
	TypeStatusSet   = "status.set"
	TypeTransfer    = "conversation.transfer"
	TypeClose       = "conversation.close"
	TypeWatch       = "conversation.watch"
	TypeUnwatch     = "conversation.unwatch" // extension
	TypeWhisper     = "whisper"
	TypePing        = "ping"

	// server → client
	TypeWelcome      = "welcome"
	TypeOpened       = "conversation.opened"
	TypeQueued       = "conversation.queued"
	TypeAssigned     = "conversation.assigned"
	TypeTransferred  = "conversation.transferred" // extension: to the agent who lost it
	TypeClosed       = "conversation.closed"
	TypeWatching     = "conversation.watching" // extension: reply to watch
	TypeMessageNew   = "message.new"
	TypeMessageAck   = "message.ack"
	TypeTimerStarted = "timer.started"
	TypeTimerMet     = "timer.met"
	TypeRuleBreached = "rule.breached"
	TypeSnapshot     = "snapshot"
	TypeAgentUpdated = "agent.updated"
	TypeConvUpdated  = "conversation.updated"
	TypeStatsUpdated = "stats.updated"
	TypeError        = "error"
	TypePong         = "pong"
)

// Error codes of error frames.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeTooLarge     = "too_large"
	CodeRateLimited  = "rate_limited"
	CodeConflict     = "conflict"
	CodeInternal     = "internal"
)

// Limits of the contract.
const (
	maxFrameBytes = 64 << 10 // a bigger frame closes the socket with 1009
	maxTextChars  = 4000     // a longer message text is refused with too_large
)

// inFrame is a frame as a client sends it.
type inFrame struct {
	Type           string          `json:"type"`
	ID             string          `json:"id,omitempty"`
	ConversationID string          `json:"conversation_id,omitempty"`
	Body           json.RawMessage `json:"body,omitempty"`
}

// outFrame is a frame as the server sends it.
type outFrame struct {
	Type           string `json:"type"`
	Ref            string `json:"ref,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	Body           any    `json:"body"`
}

// encode marshals a frame; the bodies are the server's own values, so an
// error means a programming mistake and is reported as an internal error.
func encode(typ, convID, ref string, body any) []byte {
	if b, ok := encodeByHand(typ, convID, ref, body); ok {
		return b
	}
	if body == nil {
		body = struct{}{}
	}
	b, err := json.Marshal(outFrame{Type: typ, Ref: ref, ConversationID: convID, Body: body})
	if err != nil {
		b, _ = json.Marshal(outFrame{Type: TypeError, Ref: ref, Body: errorBody{Code: CodeInternal, Message: "could not encode a reply"}})
	}
	return b
}

// ackBody is message.ack's body.
type ackBody struct {
	ClientMsgID string `json:"client_msg_id"`
	Seq         int64  `json:"seq"`
	MessageID   string `json:"message_id"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// frameError is an error that becomes an error frame; the connection stays.
type frameError struct {
	Code    string
	Message string
}

func (e *frameError) Error() string { return e.Code + ": " + e.Message }

func errFrame(code, msg string) error { return &frameError{Code: code, Message: msg} }

// asFrameError turns any error into the error frame to send.
func asFrameError(err error) *frameError {
	var fe *frameError
	if errors.As(err, &fe) {
		return fe
	}
	return &frameError{Code: CodeInternal, Message: "internal error"}
}

// Bodies of client frames.
type (
	helloBody struct {
		Resume []struct {
			ConversationID string `json:"conversation_id"`
			LastSeq        int64  `json:"last_seq"`
		} `json:"resume"`
	}
	sendBody struct {
		ClientMsgID string `json:"client_msg_id"`
		Text        string `json:"text"`
	}
	scriptBody struct {
		ScriptID    string            `json:"script_id"`
		Vars        map[string]string `json:"vars"`
		ClientMsgID string            `json:"client_msg_id"`
	}
	contextBody struct {
		Page    json.RawMessage `json:"page"`
		Product json.RawMessage `json:"product"`
		Cart    json.RawMessage `json:"cart"`
	}
	typingBody struct {
		On bool `json:"on"`
	}
	readBody struct {
		Seq int64 `json:"seq"`
	}
	statusBody struct {
		Status string `json:"status"`
	}
	transferBody struct {
		ToAgentID string `json:"to_agent_id"`
		Skill     string `json:"skill"`
	}
	closeBody struct {
		Outcome string `json:"outcome"`
	}
	whisperBody struct {
		Text string `json:"text"`
	}
)

// Outcomes a conversation can close with.
var outcomes = map[string]bool{"purchased": true, "not_purchased": true, "resolved": true, "abandoned": true}

// decodeBody reads a frame body into v; a missing body reads as {}.
func decodeBody(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errFrame(CodeBadRequest, "body: "+err.Error())
	}
	return nil
}

// marshalContext keeps the three fields of a context.set, each a JSON value
// of the shopper's choosing (at most 8 KiB in all).
func marshalContext(b contextBody) (json.RawMessage, error) {
	or := func(r json.RawMessage) json.RawMessage {
		if len(r) == 0 {
			return json.RawMessage("null")
		}
		return r
	}
	raw, err := json.Marshal(map[string]json.RawMessage{"page": or(b.Page), "product": or(b.Product), "cart": or(b.Cart)})
	if err != nil {
		return nil, errFrame(CodeBadRequest, "context: "+err.Error())
	}
	if len(raw) > 8<<10 {
		return nil, errFrame(CodeTooLarge, "context over 8 KiB")
	}
	return raw, nil
}
