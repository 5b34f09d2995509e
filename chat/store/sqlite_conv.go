package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CreateConversation stores a new conversation with LastSeq 0; a zero
// OpenedAt is now. ErrConflict when the id is taken or the visitor already
// has a conversation that is not closed; ErrNotFound for an unknown visitor.
func (s *SQLite) CreateConversation(ctx context.Context, c Conversation) error {
	_, err := s.StartConversation(ctx, nil, c, Edit{})
	return err
}

// StartConversation stores v (when not nil), c and its first edit in one
// request of the writer's group commit.
func (s *SQLite) StartConversation(ctx context.Context, v *Visitor, c Conversation, first Edit) (Change, error) {
	p, err := planStart(c, first)
	if err != nil {
		return Change{}, err
	}
	c = p.conv
	timers, err := encodeTimers(c.Timers)
	if err != nil {
		return Change{}, err
	}
	err = s.write(ctx, func(w *writer) error {
		if v != nil {
			if err := w.insertVisitor(*v); err != nil {
				return err
			}
		}
		_, err := w.execText(context.Background(), "INSERT INTO conversations ("+sqliteConvCols+
			") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			c.ID, c.VisitorID, c.VisitorName, c.State, c.AgentID, c.Locale, c.Topic, nullJSON(c.Context),
			c.OpenedAt.UnixMilli(), millis(c.ClosedAt.Time), c.Outcome, c.LastSeq, millis(c.AssignedAt.Time), timers)
		if err != nil {
			return sqliteErr("create conversation", err)
		}
		for _, m := range p.msgs {
			if err := w.insertMessage(m, nil); err != nil {
				return sqliteErr("append message", err)
			}
		}
		return w.insertEvents(p.events)
	})
	if err != nil {
		return Change{}, err
	}
	return Change{Conversation: c, Messages: p.msgs}, nil
}

func (s *SQLite) Conversation(ctx context.Context, id string) (Conversation, error) {
	return s.oneConversation(ctx, "c.id = ?", id)
}

// OpenConversation is the visitor's conversation that is not closed.
func (s *SQLite) OpenConversation(ctx context.Context, visitorID string) (Conversation, error) {
	return s.oneConversation(ctx, "c.visitor_id = ? AND c.state <> 'closed'", visitorID)
}

func (s *SQLite) oneConversation(ctx context.Context, where string, arg any) (Conversation, error) {
	if err := s.reading(); err != nil {
		return Conversation{}, err
	}
	c, err := scanSQLiteConv(s.queryRow(ctx, sqliteConvRead+" WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Conversation{}, fmt.Errorf("store: conversation %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("store: read conversation: %w", err)
	}
	return c, nil
}

// OpenConversations lists every conversation not closed, oldest first.
func (s *SQLite) OpenConversations(ctx context.Context) ([]Conversation, error) {
	if err := s.reading(); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, sqliteConvRead+" WHERE c.state <> 'closed' ORDER BY c.opened_at, c.rowid")
	if err != nil {
		return nil, fmt.Errorf("store: list open conversations: %w", err)
	}
	return collect(rows, scanSQLiteConv)
}

// VisitorConversations lists a visitor's conversations, newest first, at
// most limit (limit <= 0: all).
func (s *SQLite) VisitorConversations(ctx context.Context, visitorID string, limit int) ([]Conversation, error) {
	if err := s.reading(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.query(ctx, sqliteConvRead+
		" WHERE c.visitor_id = ? ORDER BY c.opened_at DESC, c.rowid DESC LIMIT ?", visitorID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list visitor conversations: %w", err)
	}
	return collect(rows, scanSQLiteConv)
}

// Update locks the conversation (the writer is the only one), calls fn with
// a copy and saves the result and the messages fn returns in one
// transaction. See Store.
func (s *SQLite) Update(ctx context.Context, id string, fn func(c *Conversation) ([]Message, error)) (Change, error) {
	return s.Apply(ctx, id, messagesOnly(fn))
}

// Apply is Update with rule events, inserted in the same savepoint. See
// Store.
func (s *SQLite) Apply(ctx context.Context, id string, fn func(c *Conversation) (Edit, error)) (Change, error) {
	var ch Change
	err := s.write(ctx, func(w *writer) (err error) {
		ch, err = w.update(id, fn)
		return err
	})
	if err != nil {
		return Change{}, err
	}
	return ch, nil
}

// Messages lists a conversation's messages with seq > afterSeq, oldest
// first, at most limit (limit <= 0: all).
func (s *SQLite) Messages(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]Message, error) {
	if err := s.reading(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.query(ctx, "SELECT "+sqliteMsgCols+
		" FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?", conversationID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list messages: %w", err)
	}
	return collect(rows, scanSQLiteMsg)
}
