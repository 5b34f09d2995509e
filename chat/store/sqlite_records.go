package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

const sqliteAgentCols = "id, email, name, role, skills, capacity, password_hash, created_at"

// CreateAgent stores a new account; ErrConflict when the e-mail (or id) is
// taken. A zero CreatedAt is now.
func (s *SQLite) CreateAgent(ctx context.Context, a Agent) error {
	skills, err := encodeSkills(a.Skills)
	if err != nil {
		return err
	}
	created := msOrNow(a.CreatedAt).UnixMilli()
	return s.write(ctx, func(w *writer) error {
		_, err := w.execText(context.Background(), "INSERT INTO agents ("+sqliteAgentCols+
			") VALUES (?, ?, ?, ?, ?, ?, ?, ?)", a.ID, a.Email, a.Name, a.Role, skills, a.Capacity, a.PasswordHash, created)
		if err != nil {
			return sqliteErr("create agent", err)
		}
		return nil
	})
}

// UpdateAgent saves name, role, skills, capacity and password hash.
func (s *SQLite) UpdateAgent(ctx context.Context, a Agent) error {
	skills, err := encodeSkills(a.Skills)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *writer) error {
		res, err := w.execText(context.Background(), `UPDATE agents
			SET name = ?, role = ?, skills = ?, capacity = ?, password_hash = ? WHERE id = ?`,
			a.Name, a.Role, skills, a.Capacity, a.PasswordHash, a.ID)
		if err != nil {
			return sqliteErr("update agent", err)
		}
		return mustAffect(res, "agent "+a.ID)
	})
}

// mustAffect is ErrNotFound when res changed no row.
func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

func (s *SQLite) Agent(ctx context.Context, id string) (Agent, error) {
	return s.agentWhere(ctx, "id = ?", id)
}

func (s *SQLite) AgentByEmail(ctx context.Context, email string) (Agent, error) {
	return s.agentWhere(ctx, "email = ?", email)
}

func (s *SQLite) agentWhere(ctx context.Context, where string, arg any) (Agent, error) {
	if err := s.reading(); err != nil {
		return Agent{}, err
	}
	a, err := scanSQLiteAgent(s.queryRow(ctx, "SELECT "+sqliteAgentCols+" FROM agents WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, fmt.Errorf("store: agent %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("store: read agent: %w", err)
	}
	return a, nil
}

// Agents lists every account, oldest first.
func (s *SQLite) Agents(ctx context.Context) ([]Agent, error) {
	if err := s.reading(); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, "SELECT "+sqliteAgentCols+" FROM agents ORDER BY created_at, rowid")
	if err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	return collect(rows, scanSQLiteAgent)
}

// CreateToken stores a login token's hash; ErrNotFound for an unknown agent.
func (s *SQLite) CreateToken(ctx context.Context, hash, agentID string, expires time.Time) error {
	return s.write(ctx, func(w *writer) error {
		_, err := w.conn.ExecContext(context.Background(),
			"INSERT INTO tokens (hash, agent_id, expires_at) VALUES (?, ?, ?)", hash, agentID, ms(expires).UnixMilli())
		if err != nil {
			return sqliteErr("create token", err)
		}
		return nil
	})
}

// TokenAgent finds the account of a token that expires after now.
func (s *SQLite) TokenAgent(ctx context.Context, hash string, now time.Time) (Agent, error) {
	if err := s.reading(); err != nil {
		return Agent{}, err
	}
	a, err := scanSQLiteAgent(s.queryRow(ctx, `SELECT a.id, a.email, a.name, a.role, a.skills,
		a.capacity, a.password_hash, a.created_at FROM tokens t JOIN agents a ON a.id = t.agent_id
		WHERE t.hash = ? AND t.expires_at > ?`, hash, now.UnixMilli()))
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, fmt.Errorf("store: token: %w", ErrNotFound)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("store: read token: %w", err)
	}
	return a, nil
}

// CreateVisitor stores a shopper; a zero CreatedAt is now.
func (s *SQLite) CreateVisitor(ctx context.Context, v Visitor) error {
	return s.write(ctx, func(w *writer) error { return w.insertVisitor(v) })
}

func (w *writer) insertVisitor(v Visitor) error {
	_, err := w.execText(context.Background(),
		"INSERT INTO visitors (id, token_hash, name, created_at) VALUES (?, ?, ?, ?)", v.ID, v.TokenHash, v.Name, msOrNow(v.CreatedAt).UnixMilli())
	if err != nil {
		return sqliteErr("create visitor", err)
	}
	return nil
}

func (s *SQLite) Visitor(ctx context.Context, id string) (Visitor, error) {
	if err := s.reading(); err != nil {
		return Visitor{}, err
	}
	var (
		v       Visitor
		created int64
	)
	err := s.queryRow(ctx, "SELECT id, token_hash, name, created_at FROM visitors WHERE id = ?", id).
		Scan(&v.ID, &v.TokenHash, &v.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Visitor{}, fmt.Errorf("store: visitor %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Visitor{}, fmt.Errorf("store: read visitor: %w", err)
	}
	v.CreatedAt = fromMillis(created)
	return v, nil
}

// AddEvents records timing-rule events in one request of the writer (one
// savepoint of a group commit); a zero At is now.
func (s *SQLite) AddEvents(ctx context.Context, es ...Event) error {
	if len(es) == 0 {
		return nil
	}
	return s.write(ctx, func(w *writer) error { return w.insertEvents(es) })
}

// insertEvents adds event rows (a zero At is now).
func (w *writer) insertEvents(es []Event) error {
	for _, e := range es {
		_, err := w.execText(context.Background(), `INSERT INTO events
			(conversation_id, agent_id, rule, kind, action, elapsed_ms, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			e.ConversationID, e.AgentID, e.Rule, e.Kind, e.Action, e.Elapsed.Milliseconds(), msOrNow(e.At).UnixMilli())
		if err != nil {
			return sqliteErr("add event", err)
		}
	}
	return nil
}

// Events lists the events at or after since, oldest first.
func (s *SQLite) Events(ctx context.Context, since time.Time) ([]Event, error) {
	if err := s.reading(); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT conversation_id, agent_id, rule, kind, action, elapsed_ms, at
		FROM events WHERE at >= ? ORDER BY at, id`, msCeil(since).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	return collect(rows, func(sc scanner) (Event, error) {
		var (
			e           Event
			elapsed, at int64
		)
		if err := sc.Scan(&e.ConversationID, &e.AgentID, &e.Rule, &e.Kind, &e.Action, &elapsed, &at); err != nil {
			return Event{}, err
		}
		e.Elapsed = time.Duration(elapsed) * time.Millisecond
		e.At = fromMillis(at)
		return e, nil
	})
}

func scanSQLiteAgent(sc scanner) (Agent, error) {
	var (
		a       Agent
		skills  []byte
		created int64
	)
	if err := sc.Scan(&a.ID, &a.Email, &a.Name, &a.Role, &skills, &a.Capacity, &a.PasswordHash, &created); err != nil {
		return Agent{}, err
	}
	if err := json.Unmarshal(skills, &a.Skills); err != nil {
		return Agent{}, fmt.Errorf("store: agent %s skills: %w", a.ID, err)
	}
	if a.Skills == nil {
		a.Skills = []string{}
	}
	a.CreatedAt = fromMillis(created)
	return a, nil
}

// encodeSkills is skills as a JSON array, never null.
func encodeSkills(skills []string) (string, error) {
	if skills == nil {
		skills = []string{}
	}
	b, err := json.Marshal(skills)
	if err != nil {
		return "", fmt.Errorf("store: encode skills: %w", err)
	}
	return string(b), nil
}

// collect scans every row and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read rows: %w", err)
	}
	return out, nil
}
