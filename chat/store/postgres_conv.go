package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	pgConvCols = `id, visitor_id, visitor_name, state, agent_id, locale, topic, context,
		opened_at, closed_at, outcome, last_seq, assigned_at, timers`
	// pgConvRead selects a conversation (as c) with what its newest
	// message says: one stored without a new version of the row carries
	// the conversation's timers, and its seq is the last one. Add a WHERE
	// on c.
	pgConvRead = `SELECT c.id, c.visitor_id, c.visitor_name, c.state, c.agent_id, c.locale, c.topic, c.context,
		c.opened_at, c.closed_at, c.outcome, GREATEST(c.last_seq, COALESCE(m.seq, 0)), c.assigned_at,
		CASE WHEN m.seq > c.last_seq THEN COALESCE(m.conv_timers, c.timers) ELSE c.timers END
		FROM conversations c LEFT JOIN LATERAL (SELECT seq, conv_timers FROM messages
			WHERE conversation_id = c.id ORDER BY seq DESC LIMIT 1) m ON true`
	pgMsgCols = `id, conversation_id, seq, author_kind, author_id, author_name, kind, text,
		auto, created_at, client_msg_id, script_id`
)

// CreateConversation stores a new conversation with LastSeq 0; a zero
// OpenedAt is now. ErrConflict when the id is taken or the visitor already
// has a conversation that is not closed; ErrNotFound for an unknown visitor.
func (p *Postgres) CreateConversation(ctx context.Context, c Conversation) error {
	_, err := p.StartConversation(ctx, nil, c, Edit{})
	return err
}

// StartConversation stores v (when not nil), c and its first edit in one
// transaction, sent in one round trip.
func (p *Postgres) StartConversation(ctx context.Context, v *Visitor, c Conversation, first Edit) (Change, error) {
	if err := p.open(); err != nil {
		return Change{}, err
	}
	pl, err := planStart(c, first)
	if err != nil {
		return Change{}, err
	}
	c = pl.conv
	timers, err := encodeTimers(c.Timers)
	if err != nil {
		return Change{}, err
	}
	b := &pgx.Batch{}
	if v != nil {
		b.Queue("INSERT INTO visitors (id, token_hash, name, created_at) VALUES ($1, $2, $3, $4)",
			v.ID, v.TokenHash, v.Name, msOrNow(v.CreatedAt))
	}
	b.Queue("INSERT INTO conversations ("+pgConvCols+
		") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
		c.ID, c.VisitorID, c.VisitorName, c.State, c.AgentID, c.Locale, c.Topic, nullJSON(c.Context),
		c.OpenedAt.Time, pgTime(c.ClosedAt.Time), c.Outcome, c.LastSeq, pgTime(c.AssignedAt.Time), timers)
	for _, m := range pl.msgs {
		queueMessage(b, m, nil)
	}
	for _, e := range pl.events {
		queueEvent(b, e)
	}
	// One batch is one implicit transaction: every row or none.
	if err := p.pool.SendBatch(ctx, b).Close(); err != nil {
		return Change{}, pgErr("create conversation", err)
	}
	return Change{Conversation: c, Messages: pl.msgs}, nil
}

func (p *Postgres) Conversation(ctx context.Context, id string) (Conversation, error) {
	return p.oneConversation(ctx, "id = $1", id)
}

// OpenConversation is the visitor's conversation that is not closed.
func (p *Postgres) OpenConversation(ctx context.Context, visitorID string) (Conversation, error) {
	return p.oneConversation(ctx, "c.visitor_id = $1 AND c.state <> 'closed'", visitorID)
}

func (p *Postgres) oneConversation(ctx context.Context, where string, arg any) (Conversation, error) {
	if err := p.open(); err != nil {
		return Conversation{}, err
	}
	c, err := scanPgConv(p.pool.QueryRow(ctx, pgConvRead+" WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Conversation{}, fmt.Errorf("store: conversation %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("store: read conversation: %w", err)
	}
	return c, nil
}

// OpenConversations lists every conversation not closed, oldest first.
func (p *Postgres) OpenConversations(ctx context.Context) ([]Conversation, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, pgConvRead+" WHERE c.state <> 'closed' ORDER BY c.opened_at, c.ord")
	if err != nil {
		return nil, fmt.Errorf("store: list open conversations: %w", err)
	}
	return collectPg(rows, scanPgConv)
}

// VisitorConversations lists a visitor's conversations, newest first, at
// most limit (limit <= 0: all).
func (p *Postgres) VisitorConversations(ctx context.Context, visitorID string, limit int) ([]Conversation, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, pgConvRead+
		" WHERE c.visitor_id = $1 ORDER BY c.opened_at DESC, c.ord DESC LIMIT $2", visitorID, pgLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: list visitor conversations: %w", err)
	}
	return collectPg(rows, scanPgConv)
}

// Update locks the conversation's row for one transaction, calls fn with a
// copy and saves the result and the messages fn returns. See Store.
//
// The writers run it in a batch with others (postgres_writer.go). A
// repeated client id is caught by the messages_client unique index, which
// fails the transaction; the request then runs alone (apply), which reads
// the earlier message back.
func (p *Postgres) Update(ctx context.Context, id string, fn func(c *Conversation) ([]Message, error)) (Change, error) {
	return p.Apply(ctx, id, messagesOnly(fn))
}

// Apply is Update with rule events, inserted in the same transaction. See
// Store.
func (p *Postgres) Apply(ctx context.Context, id string, fn func(c *Conversation) (Edit, error)) (Change, error) {
	if err := p.open(); err != nil {
		return Change{}, err
	}
	return p.queueApply(ctx, id, fn)
}

// apply is an Apply in a transaction of its own, in two round trips: BEGIN
// with SELECT … FOR UPDATE, then the inserts, the update and COMMIT.
func (p *Postgres) apply(ctx context.Context, id string, fn func(c *Conversation) (Edit, error)) (Change, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return Change{}, fmt.Errorf("store: acquire: %w", err)
	}
	inTx := false
	defer func() { releaseTx(ctx, conn, inTx) }()

	convs := make(map[string]Conversation, 1)
	inTx, err = lockConvs(ctx, conn, []string{id}, convs)
	if err != nil {
		return Change{}, err
	}
	cur, ok := convs[id]
	if !ok {
		return Change{}, fmt.Errorf("store: conversation %s: %w", id, ErrNotFound)
	}

	b := &pgx.Batch{}
	pl, err := plan(cur, fn)
	if err != nil {
		return Change{}, err
	}
	if err := queuePlan(b, pl); err != nil {
		return Change{}, err
	}
	b.Queue("COMMIT")
	err = conn.SendBatch(ctx, b).Close()
	if err == nil {
		inTx = false
		return Change{Conversation: pl.conv, Messages: pl.msgs}, nil
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.ConstraintName != "messages_client" {
		return Change{}, pgErr("save conversation", err)
	}
	// A client id was used before. The failed transaction saved nothing;
	// the earlier message is committed, so it is read after the rollback.
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		return Change{}, fmt.Errorf("store: rollback: %w", err)
	}
	inTx = false
	for _, m := range pl.msgs {
		if m.ClientMsgID == "" {
			continue
		}
		prev, err := scanPgMsg(conn.QueryRow(ctx, "SELECT "+pgMsgCols+
			" FROM messages WHERE conversation_id = $1 AND author_id = $2 AND client_msg_id = $3",
			id, m.Author.ID, m.ClientMsgID))
		if err == nil {
			return Change{Conversation: cur, Messages: []Message{prev}, Duplicate: true}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Change{}, fmt.Errorf("store: read the earlier message: %w", err)
		}
	}
	return Change{}, pgErr("save conversation", err)
}

// Messages lists a conversation's messages with seq > afterSeq, oldest
// first, at most limit (limit <= 0: all).
func (p *Postgres) Messages(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]Message, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, "SELECT "+pgMsgCols+
		" FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
		conversationID, afterSeq, pgLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: list messages: %w", err)
	}
	return collectPg(rows, scanPgMsg)
}

func scanPgConv(row pgx.Row) (Conversation, error) {
	var (
		c                  Conversation
		ctxJSON, timers    []byte
		opened             time.Time
		closedAt, assigned *time.Time
	)
	err := row.Scan(&c.ID, &c.VisitorID, &c.VisitorName, &c.State, &c.AgentID, &c.Locale, &c.Topic, &ctxJSON,
		&opened, &closedAt, &c.Outcome, &c.LastSeq, &assigned, &timers)
	if err != nil {
		return Conversation{}, err
	}
	if len(ctxJSON) > 0 {
		c.Context = ctxJSON
	}
	c.OpenedAt = At(opened.UTC())
	c.ClosedAt = At(fromPgTime(closedAt))
	c.AssignedAt = At(fromPgTime(assigned))
	if c.Timers, err = decodeTimers(timers); err != nil {
		return Conversation{}, err
	}
	return c, nil
}

func scanPgMsg(row pgx.Row) (Message, error) {
	var (
		m      Message
		client *string
	)
	err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.Author.Kind, &m.Author.ID, &m.Author.Name, &m.Kind,
		&m.Text, &m.Auto, &m.CreatedAt.Time, &client, &m.ScriptID)
	if err != nil {
		return Message{}, err
	}
	m.CreatedAt = At(m.CreatedAt.UTC())
	if client != nil {
		m.ClientMsgID = *client
	}
	return m, nil
}

// queueMessage adds a planned message's insert to a batch; timers, when
// not nil, are its conversation's, whose row is not saved with it.
func queueMessage(b *pgx.Batch, m Message, timers any) {
	b.Queue("INSERT INTO messages ("+pgMsgCols+", conv_timers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		m.ID, m.ConversationID, m.Seq, m.Author.Kind, m.Author.ID, m.Author.Name, m.Kind, m.Text, m.Auto,
		m.CreatedAt.Time, nullString(m.ClientMsgID), m.ScriptID, timers)
}
