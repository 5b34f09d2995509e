package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgAgentCols = "id, email, name, role, skills, capacity, password_hash, created_at"

// CreateAgent stores a new account; ErrConflict when the e-mail (or id) is
// taken. A zero CreatedAt is now.
func (p *Postgres) CreateAgent(ctx context.Context, a Agent) error {
	if err := p.open(); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, "INSERT INTO agents ("+pgAgentCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		a.ID, a.Email, a.Name, a.Role, pgSkills(a.Skills), a.Capacity, a.PasswordHash, msOrNow(a.CreatedAt))
	if err != nil {
		return pgErr("create agent", err)
	}
	return nil
}

// UpdateAgent saves name, role, skills, capacity and password hash.
func (p *Postgres) UpdateAgent(ctx context.Context, a Agent) error {
	if err := p.open(); err != nil {
		return err
	}
	tag, err := p.pool.Exec(ctx, `UPDATE agents SET name = $1, role = $2, skills = $3, capacity = $4,
		password_hash = $5 WHERE id = $6`, a.Name, a.Role, pgSkills(a.Skills), a.Capacity, a.PasswordHash, a.ID)
	if err != nil {
		return pgErr("update agent", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: agent %s: %w", a.ID, ErrNotFound)
	}
	return nil
}

func (p *Postgres) Agent(ctx context.Context, id string) (Agent, error) {
	return p.agentWhere(ctx, "id = $1", id)
}

func (p *Postgres) AgentByEmail(ctx context.Context, email string) (Agent, error) {
	return p.agentWhere(ctx, "email = $1", email)
}

func (p *Postgres) agentWhere(ctx context.Context, where string, arg any) (Agent, error) {
	if err := p.open(); err != nil {
		return Agent{}, err
	}
	a, err := scanPgAgent(p.pool.QueryRow(ctx, "SELECT "+pgAgentCols+" FROM agents WHERE "+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return Agent{}, fmt.Errorf("store: agent %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("store: read agent: %w", err)
	}
	return a, nil
}

// Agents lists every account, oldest first.
func (p *Postgres) Agents(ctx context.Context) ([]Agent, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, "SELECT "+pgAgentCols+" FROM agents ORDER BY created_at, ord")
	if err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	return collectPg(rows, scanPgAgent)
}

// CreateToken stores a login token's hash; ErrNotFound for an unknown agent.
func (p *Postgres) CreateToken(ctx context.Context, hash, agentID string, expires time.Time) error {
	if err := p.open(); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, "INSERT INTO tokens (hash, agent_id, expires_at) VALUES ($1, $2, $3)",
		hash, agentID, ms(expires))
	if err != nil {
		return pgErr("create token", err)
	}
	return nil
}

// TokenAgent finds the account of a token that expires after now.
func (p *Postgres) TokenAgent(ctx context.Context, hash string, now time.Time) (Agent, error) {
	if err := p.open(); err != nil {
		return Agent{}, err
	}
	a, err := scanPgAgent(p.pool.QueryRow(ctx, `SELECT a.id, a.email, a.name, a.role, a.skills, a.capacity,
		a.password_hash, a.created_at FROM tokens t JOIN agents a ON a.id = t.agent_id
		WHERE t.hash = $1 AND t.expires_at > $2`, hash, ms(now)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Agent{}, fmt.Errorf("store: token: %w", ErrNotFound)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("store: read token: %w", err)
	}
	return a, nil
}

// CreateVisitor stores a shopper; a zero CreatedAt is now.
func (p *Postgres) CreateVisitor(ctx context.Context, v Visitor) error {
	if err := p.open(); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, "INSERT INTO visitors (id, token_hash, name, created_at) VALUES ($1, $2, $3, $4)",
		v.ID, v.TokenHash, v.Name, msOrNow(v.CreatedAt))
	if err != nil {
		return pgErr("create visitor", err)
	}
	return nil
}

func (p *Postgres) Visitor(ctx context.Context, id string) (Visitor, error) {
	if err := p.open(); err != nil {
		return Visitor{}, err
	}
	var v Visitor
	err := p.pool.QueryRow(ctx, "SELECT id, token_hash, name, created_at FROM visitors WHERE id = $1", id).
		Scan(&v.ID, &v.TokenHash, &v.Name, &v.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Visitor{}, fmt.Errorf("store: visitor %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Visitor{}, fmt.Errorf("store: read visitor: %w", err)
	}
	v.CreatedAt = v.CreatedAt.UTC()
	return v, nil
}

// queueEvent adds an event's insert to a batch (a zero At is now).
func queueEvent(b *pgx.Batch, e Event) {
	b.Queue(`INSERT INTO events (conversation_id, agent_id, rule, kind, action, elapsed_ms, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.ConversationID, e.AgentID, e.Rule, e.Kind, e.Action, e.Elapsed.Milliseconds(), msOrNow(e.At))
}

// AddEvents records timing-rule events in one transaction and one round
// trip (a batch); a zero At is now.
func (p *Postgres) AddEvents(ctx context.Context, es ...Event) error {
	if len(es) == 0 {
		return nil
	}
	if err := p.open(); err != nil {
		return err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return pgErr("add events", err)
	}
	defer tx.Rollback(context.Background())
	var b pgx.Batch
	for _, e := range es {
		queueEvent(&b, e)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return pgErr("add event", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return pgErr("add events", err)
	}
	return nil
}

// Events lists the events at or after since, oldest first.
func (p *Postgres) Events(ctx context.Context, since time.Time) ([]Event, error) {
	if err := p.open(); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT conversation_id, agent_id, rule, kind, action, elapsed_ms, at
		FROM events WHERE at >= $1 ORDER BY at, id`, msCeil(since))
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", err)
	}
	return collectPg(rows, func(row pgx.Row) (Event, error) {
		var (
			e       Event
			elapsed int64
		)
		if err := row.Scan(&e.ConversationID, &e.AgentID, &e.Rule, &e.Kind, &e.Action, &elapsed, &e.At); err != nil {
			return Event{}, err
		}
		e.Elapsed = time.Duration(elapsed) * time.Millisecond
		e.At = e.At.UTC()
		return e, nil
	})
}

func scanPgAgent(row pgx.Row) (Agent, error) {
	var a Agent
	if err := row.Scan(&a.ID, &a.Email, &a.Name, &a.Role, &a.Skills, &a.Capacity, &a.PasswordHash, &a.CreatedAt); err != nil {
		return Agent{}, err
	}
	if a.Skills == nil {
		a.Skills = []string{}
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// pgSkills is skills for a NOT NULL text[].
func pgSkills(skills []string) []string {
	if skills == nil {
		return []string{}
	}
	return skills
}

// collectPg scans every row and closes rows.
func collectPg[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
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
