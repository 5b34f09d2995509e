// Package store keeps Daogou's durable records: agents, login tokens,
// visitors, conversations with their timers, messages and rule events.
//
// Store is the interface; SQLite (embedded, the default) and PostgreSQL
// implement it, and storetest holds the one test suite both must pass.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/daogou/daogou/chat/rules"
)

// Sentinel errors; implementations return them (possibly wrapped).
var (
	// ErrNotFound: no such record (or, for a token, expired).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique key is taken (an agent's e-mail).
	ErrConflict = errors.New("store: conflict")
)

// Conversation states.
const (
	Queued   = "queued"
	Assigned = "assigned"
	Closed   = "closed"
)

// Author kinds of a message.
const (
	AuthorShopper = "shopper"
	AuthorAgent   = "agent"
	AuthorSystem  = "system"
)

// Time marshals as RFC 3339 with milliseconds in UTC, as the wire contract
// asks, and as null when zero.
type Time struct{ time.Time }

// At wraps t.
func At(t time.Time) Time { return Time{t} }

const wireTime = "2006-01-02T15:04:05.000Z07:00"

func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(wireTime) + `"`), nil
}

func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	return json.Unmarshal(b, &t.Time)
}

// Agent is an account: an agent or a supervisor.
type Agent struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         string    `json:"role"` // "agent" or "supervisor"
	Skills       []string  `json:"skills"`
	Capacity     int       `json:"capacity"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"-"`
}

// Visitor is a shopper's identity; the token proves it and is kept hashed.
type Visitor struct {
	ID        string
	TokenHash string
	Name      string
	CreatedAt time.Time
}

// Conversation is one shopper's chat, from opened to closed.
type Conversation struct {
	ID          string          `json:"id"`
	VisitorID   string          `json:"visitor_id"`
	VisitorName string          `json:"visitor_name"`
	State       string          `json:"state"`
	AgentID     string          `json:"agent_id"`
	Locale      string          `json:"locale"`
	Topic       string          `json:"topic"`
	Context     json.RawMessage `json:"context"`
	OpenedAt    Time            `json:"opened_at"`
	ClosedAt    Time            `json:"closed_at"`
	Outcome     string          `json:"outcome"`
	LastSeq     int64           `json:"last_seq"`
	// AssignedAt is when the current agent took it (zero while queued).
	AssignedAt Time `json:"assigned_at"`
	// Timers are the playbook's rules for this conversation, as data.
	Timers rules.State `json:"-"`
}

// Author says who wrote a message.
type Author struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Message is one line of a conversation. Seq counts from 1 with no gaps.
type Message struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	Author         Author `json:"author"`
	Kind           string `json:"kind"` // "text", "script", "system"
	Text           string `json:"text"`
	Auto           bool   `json:"auto"`
	CreatedAt      Time   `json:"created_at"`
	ClientMsgID    string `json:"client_msg_id,omitempty"`
	ScriptID       string `json:"script_id,omitempty"`
}

// Change is what Update did.
type Change struct {
	Conversation Conversation // as it is after the update
	Messages     []Message    // appended, with their seqs, in order
	// Duplicate: a message carried a client_msg_id its author used before in
	// this conversation. Nothing was written; Messages holds the earlier one.
	Duplicate bool
}

// Edit is what an Apply adds to a conversation: messages, and the
// timing-rule events they settle.
type Edit struct {
	Messages []Message
	Events   []Event // ConversationID is filled in by the store
}

// Event is a timing-rule record: a timer met or breached.
type Event struct {
	ConversationID string        `json:"conversation_id"`
	AgentID        string        `json:"agent_id"`
	Rule           string        `json:"rule"`
	Kind           string        `json:"kind"` // "met" or "breached"
	Action         string        `json:"action,omitempty"`
	Elapsed        time.Duration `json:"-"`
	At             time.Time     `json:"-"`
}

// Store is the durable state. Every method is safe for concurrent use.
type Store interface {
	// CreateAgent stores a new account; ErrConflict when the e-mail is taken.
	CreateAgent(ctx context.Context, a Agent) error
	// UpdateAgent saves name, role, skills, capacity and password hash.
	UpdateAgent(ctx context.Context, a Agent) error
	Agent(ctx context.Context, id string) (Agent, error)
	AgentByEmail(ctx context.Context, email string) (Agent, error)
	// Agents lists every account, oldest first.
	Agents(ctx context.Context) ([]Agent, error)

	// CreateToken stores a login token's hash for an agent until expires.
	CreateToken(ctx context.Context, hash, agentID string, expires time.Time) error
	// TokenAgent finds the account of a token hash that has not expired at now.
	TokenAgent(ctx context.Context, hash string, now time.Time) (Agent, error)

	CreateVisitor(ctx context.Context, v Visitor) error
	Visitor(ctx context.Context, id string) (Visitor, error)

	// CreateConversation stores a new conversation (LastSeq 0).
	CreateConversation(ctx context.Context, c Conversation) error
	// StartConversation stores a new visitor (when v is not nil), its new
	// conversation and first, a first edit of it (messages get seqs from 1,
	// as Apply gives them), in one transaction: a new shopper costs one
	// commit, greeting included. The change is the conversation as stored.
	StartConversation(ctx context.Context, v *Visitor, c Conversation, first Edit) (Change, error)
	Conversation(ctx context.Context, id string) (Conversation, error)
	// OpenConversation is the visitor's conversation that is not closed.
	OpenConversation(ctx context.Context, visitorID string) (Conversation, error)
	// OpenConversations lists every conversation not closed, oldest first.
	OpenConversations(ctx context.Context) ([]Conversation, error)
	// VisitorConversations lists a visitor's conversations, newest first.
	VisitorConversations(ctx context.Context, visitorID string, limit int) ([]Conversation, error)
	// Update locks the conversation and calls fn with a copy; fn changes it
	// and returns the messages to append. The store gives each message the
	// next seq (and an id and time when empty) and saves the conversation and
	// the messages in one transaction. fn may run more than once and must not
	// do I/O. An error from fn rolls back and is returned as is.
	Update(ctx context.Context, id string, fn func(c *Conversation) ([]Message, error)) (Change, error)
	// Apply is Update whose fn also returns timing-rule events, stored in
	// the same transaction as the conversation and its messages (so a rule
	// event costs no commit of its own, and is undone with a duplicate).
	Apply(ctx context.Context, id string, fn func(c *Conversation) (Edit, error)) (Change, error)
	// Messages lists a conversation's messages with seq > afterSeq, oldest
	// first, at most limit (limit <= 0: all).
	Messages(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]Message, error)

	// AddEvents records timing-rule events in one transaction: all or
	// none (an event of an unknown conversation is ErrNotFound).
	AddEvents(ctx context.Context, es ...Event) error
	// Events lists the events at or after since, oldest first.
	Events(ctx context.Context, since time.Time) ([]Event, error)

	// Ping checks the store answers.
	Ping(ctx context.Context) error
	// Close flushes and releases the store.
	Close() error
}
