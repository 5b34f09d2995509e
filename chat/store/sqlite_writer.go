package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"
)

// writer owns the one write connection and its prepared statements. Only
// the writer goroutine (and OpenSQLite and Close around it) touches it.
//
// Statements run with context.Background(): a caller's cancelled context
// would interrupt SQLite, and an interrupted write inside a transaction
// rolls back the whole transaction, everyone's requests included. A
// request's context is checked before its turn instead.
type writer struct {
	conn *sql.Conn

	begin, commit, rollback           *sql.Stmt
	savepoint, release, rollbackTo    *sql.Stmt
	selectConv, dupCheck, listClients *sql.Stmt
	insertMsg, updateConv, updateKeep *sql.Stmt
	stmts                             []*sql.Stmt
	other                             map[string]*sql.Stmt // the rarer writes, prepared on first use

	convs convCache

	careful int           // batches still to run with savepoints (commitBatch)
	replays atomic.Uint64 // batches run again with savepoints
}

// execText runs a write prepared once per query text (on the writer's
// goroutine only, so the map needs no lock).
func (w *writer) execText(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st := w.other[q]
	if st == nil {
		var err error
		if st, err = w.conn.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		if w.other == nil {
			w.other = map[string]*sql.Stmt{}
		}
		w.other[q] = st
		w.stmts = append(w.stmts, st)
	}
	return st.ExecContext(ctx, args...)
}

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return &writer{}, fmt.Errorf("store: connect: %w", err)
	}
	return &writer{conn: conn, convs: convCache{m: map[string]*cachedConv{}}}, nil
}

const (
	sqliteConvCols = `id, visitor_id, visitor_name, state, agent_id, locale, topic, context,
		opened_at, closed_at, outcome, last_seq, assigned_at, timers`
	// sqliteConvRead selects a conversation (as c) with what its newest
	// message says: one stored without saving the row carries the
	// conversation's timers, and its seq is the last one. Add a WHERE on c.
	sqliteConvRead = `SELECT c.id, c.visitor_id, c.visitor_name, c.state, c.agent_id, c.locale, c.topic, c.context,
		c.opened_at, c.closed_at, c.outcome, MAX(c.last_seq, COALESCE(m.seq, 0)), c.assigned_at,
		CASE WHEN m.seq > c.last_seq THEN COALESCE(m.conv_timers, c.timers) ELSE c.timers END
		FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id
			AND m.seq = (SELECT MAX(seq) FROM messages WHERE conversation_id = c.id)`
	sqliteMsgCols = `id, conversation_id, seq, author_kind, author_id, author_name, kind, text,
		auto, created_at, client_msg_id, script_id`
)

// prepare readies the transaction and hot-path statements.
func (w *writer) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.begin, "BEGIN IMMEDIATE"},
		{&w.commit, "COMMIT"},
		{&w.rollback, "ROLLBACK"},
		{&w.savepoint, "SAVEPOINT req"},
		{&w.release, "RELEASE req"},
		{&w.rollbackTo, "ROLLBACK TO req"},
		{&w.selectConv, sqliteConvRead + " WHERE c.id = ?"},
		{&w.dupCheck, "SELECT " + sqliteMsgCols + ` FROM messages
			WHERE conversation_id = ? AND author_id = ? AND client_msg_id = ?`},
		{&w.listClients, `SELECT author_id, client_msg_id FROM messages
			WHERE conversation_id = ? AND client_msg_id IS NOT NULL`},
		{&w.insertMsg, "INSERT INTO messages (" + sqliteMsgCols + ", conv_timers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
		{&w.updateConv, `UPDATE conversations SET visitor_name = ?, state = ?, agent_id = ?, locale = ?,
			topic = ?, context = ?, closed_at = ?, outcome = ?, last_seq = ?, assigned_at = ?, timers = ?
			WHERE id = ?`},
		// The same without state: SQLite then leaves the indexes on state
		// alone, which is most of an append's update.
		{&w.updateKeep, `UPDATE conversations SET visitor_name = ?, agent_id = ?, locale = ?,
			topic = ?, context = ?, closed_at = ?, outcome = ?, last_seq = ?, assigned_at = ?, timers = ?
			WHERE id = ?`},
	} {
		st, err := w.conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("store: prepare %q: %w", p.sql, err)
		}
		*p.stmt = st
		w.stmts = append(w.stmts, st)
	}
	return nil
}

func (w *writer) close() error {
	var errs []error
	for _, st := range w.stmts {
		if err := st.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	w.stmts = nil
	if w.conn != nil {
		if err := w.conn.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close write connection: %w", err)
	}
	return nil
}

func (w *writer) exec(st *sql.Stmt) error {
	_, err := st.ExecContext(context.Background())
	return err
}

// carefulBatches is how many batches run with a savepoint per request
// after one of them failed: a fault that repeats (a client that keeps
// writing to a closed conversation) then costs savepoints, not a rerun of
// every batch.
const carefulBatches = 16

// commitBatch runs the requests of batch in one transaction and commits
// once. Each request ends with err set to its own failure, or to the
// transaction's when that failed; nil means committed.
//
// A request's writes are undone alone when it fails. Savepoints would do
// that, but each costs two statements and a copy of every page it changes
// first (a fifth of a new conversation's instructions, a sixth of a stored
// message's; docs/benchmarks.md). So the batch first runs without them; if
// a request fails, the transaction is rolled back and the whole batch runs
// again with a savepoint per request (Update's fn may run more than once,
// and the other requests only write what they were given), as do the next
// carefulBatches batches.
func (w *writer) commitBatch(batch []*writeReq, log *zap.Logger) {
	if w.careful > 0 {
		w.careful--
	} else if w.runBatch(batch, false, log) {
		return
	} else {
		w.careful = carefulBatches
		w.replays.Add(1)
		for _, r := range batch {
			r.err, r.panicked = nil, nil
		}
	}
	w.runBatch(batch, true, log)
}

// runBatch runs batch in one transaction and commits, each request in a
// savepoint of its own when savepoints is set. Without them it is false
// when a request failed: the transaction is rolled back and no request has
// its answer yet.
func (w *writer) runBatch(batch []*writeReq, savepoints bool, log *zap.Logger) bool {
	if !w.beginBatch(batch, log) {
		return true
	}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if savepoints {
			if err := w.exec(w.savepoint); err != nil {
				w.abort(batch, fmt.Errorf("store: savepoint: %w", err), log)
				return true
			}
		}
		r.panicked, r.err = w.run(r)
		failed := r.err != nil || r.panicked != nil
		if !savepoints {
			if failed {
				w.convs.rollback()
				if err := w.exec(w.rollback); err != nil {
					// SQLite ends the transaction itself after some errors.
					log.Debug("rollback before the batch runs again", zap.Error(err))
				}
				return false
			}
			continue
		}
		if failed {
			if err := w.exec(w.rollbackTo); err != nil {
				w.abort(batch, fmt.Errorf("store: rollback to savepoint: %w", err), log)
				return true
			}
		}
		if err := w.exec(w.release); err != nil {
			w.abort(batch, fmt.Errorf("store: release savepoint: %w", err), log)
			return true
		}
	}
	if err := w.exec(w.commit); err != nil {
		w.abort(batch, fmt.Errorf("store: commit: %w", err), log)
		return true
	}
	w.convs.committed()
	return true
}

// beginBatch opens the batch's transaction; when it cannot, every request
// fails with that error.
func (w *writer) beginBatch(batch []*writeReq, log *zap.Logger) bool {
	if err := w.exec(w.begin); err != nil {
		err = fmt.Errorf("store: begin: %w", err)
		for _, r := range batch {
			r.err = err
		}
		log.Error("write transaction failed", zap.Error(err))
		return false
	}
	return true
}

// abort rolls the transaction back: err is the answer of every request
// that had none.
func (w *writer) abort(batch []*writeReq, err error, log *zap.Logger) {
	for _, r := range batch {
		if r.err == nil && r.panicked == nil {
			r.err = err
		}
	}
	w.convs.rollback()
	if rbErr := w.exec(w.rollback); rbErr != nil {
		log.Error("rollback failed", zap.Error(rbErr))
	}
	log.Error("write transaction failed", zap.Error(err), zap.Int("requests", len(batch)))
}

// run calls r.run, turning a panic into a value to re-raise in the caller.
func (w *writer) run(r *writeReq) (panicked any, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked = v
		}
	}()
	return nil, r.run(w)
}

// update is Update on the writer: lock (the writer is the only one), call
// fn, append and save. A repeated client id is looked for among the
// conversation's remembered ones (read with it when it was not cached) and
// confirmed by reading the message: the common case costs no query.
func (w *writer) update(id string, fn func(c *Conversation) (Edit, error)) (Change, error) {
	ctx := context.Background()
	cur, ok := w.convs.get(id)
	if !ok {
		var err error
		cur, err = scanSQLiteConv(w.selectConv.QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return Change{}, fmt.Errorf("store: conversation %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return Change{}, fmt.Errorf("store: read conversation: %w", err)
		}
		clients, err := w.readClients(id)
		if err != nil {
			return Change{}, err
		}
		w.convs.load(cur, clients)
	}
	p, err := plan(cur, fn)
	if err != nil {
		return Change{}, err
	}
	known := w.convs.clients(id)
	for _, m := range p.msgs {
		if m.ClientMsgID == "" || !known.has(clientKey(m.Author.ID, m.ClientMsgID)) {
			continue
		}
		prev, err := scanSQLiteMsg(w.dupCheck.QueryRowContext(ctx, id, m.Author.ID, m.ClientMsgID))
		if err == nil {
			return Change{Conversation: cur, Messages: []Message{prev}, Duplicate: true}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Change{}, fmt.Errorf("store: read message: %w", err)
		}
		// Two pairs with one hash: not a repeat.
	}
	c := p.conv
	timers, err := encodeTimers(c.Timers)
	if err != nil {
		return Change{}, err
	}
	for _, m := range p.msgs {
		if err := w.insertMessage(m, p.carried(timers)); err != nil {
			return Change{}, sqliteErr("append message", err)
		}
	}
	if p.saveRow {
		args := []any{c.VisitorName, c.State, c.AgentID, c.Locale, c.Topic, nullJSON(c.Context),
			millis(c.ClosedAt.Time), c.Outcome, c.LastSeq, millis(c.AssignedAt.Time), timers, c.ID}
		st := w.updateConv
		if c.State == cur.State {
			st, args = w.updateKeep, append(args[:1], args[2:]...)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return Change{}, sqliteErr("save conversation", err)
		}
	}
	if err := w.insertEvents(p.events); err != nil {
		return Change{}, err
	}
	w.convs.put(c)
	for _, m := range p.msgs {
		if m.ClientMsgID != "" {
			known.add(clientKey(m.Author.ID, m.ClientMsgID))
		}
	}
	return Change{Conversation: c, Messages: p.msgs}, nil
}

// readClients is the client ids of a conversation's messages.
func (w *writer) readClients(id string) (clientIDs, error) {
	var s clientIDs
	rows, err := w.listClients.QueryContext(context.Background(), id)
	if err != nil {
		return s, fmt.Errorf("store: read client ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var author, client string
		if err := rows.Scan(&author, &client); err != nil {
			return s, fmt.Errorf("store: read client ids: %w", err)
		}
		s.add(clientKey(author, client))
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("store: read client ids: %w", err)
	}
	return s, nil
}

// insertMessage stores a planned message; timers, when not nil, are its
// conversation's, whose row is not saved with it.
func (w *writer) insertMessage(m Message, timers any) error {
	_, err := w.insertMsg.ExecContext(context.Background(), m.ID, m.ConversationID, m.Seq, m.Author.Kind, m.Author.ID,
		m.Author.Name, m.Kind, m.Text, m.Auto, m.CreatedAt.UnixMilli(), nullString(m.ClientMsgID), m.ScriptID, timers)
	return err
}

// nullString is s, or NULL when empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullJSON is b as text, or NULL when empty.
func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

type scanner interface{ Scan(dest ...any) error }

func scanSQLiteConv(sc scanner) (Conversation, error) {
	var (
		c                  Conversation
		ctxJSON, timers    []byte
		opened             int64
		closedAt, assigned sql.NullInt64
	)
	err := sc.Scan(&c.ID, &c.VisitorID, &c.VisitorName, &c.State, &c.AgentID, &c.Locale, &c.Topic, &ctxJSON,
		&opened, &closedAt, &c.Outcome, &c.LastSeq, &assigned, &timers)
	if err != nil {
		return Conversation{}, err
	}
	if len(ctxJSON) > 0 {
		c.Context = ctxJSON
	}
	c.OpenedAt = At(fromMillis(opened))
	c.ClosedAt = At(fromNullMillis(closedAt))
	c.AssignedAt = At(fromNullMillis(assigned))
	if c.Timers, err = decodeTimers(timers); err != nil {
		return Conversation{}, err
	}
	return c, nil
}

func scanSQLiteMsg(sc scanner) (Message, error) {
	var (
		m       Message
		created int64
		client  sql.NullString
	)
	err := sc.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.Author.Kind, &m.Author.ID, &m.Author.Name, &m.Kind,
		&m.Text, &m.Auto, &created, &client, &m.ScriptID)
	if err != nil {
		return Message{}, err
	}
	m.CreatedAt = At(fromMillis(created))
	m.ClientMsgID = client.String
	return m, nil
}
