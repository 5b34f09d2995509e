package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// PoolOptions size the PostgreSQL connection pool; a zero field keeps the
// pgxpool default (or what the DSN's pool_* parameters say).
type PoolOptions struct {
	MaxConns, MinConns               int32
	MaxConnLifetime, MaxConnIdleTime time.Duration
	// Writers is how many transactions of batched writes run at once
	// (postgres_writer.go); 0 is one, whose batches grow with the load
	// (docs/benchmarks.md: one did better than two or four).
	Writers int
}

// Postgres is the Store on PostgreSQL. Update holds the conversation's row
// lock (SELECT … FOR UPDATE) for its transaction, so writers of one
// conversation queue and writers of different ones run in parallel; the
// updates waiting are committed in batches (postgres_writer.go).
type Postgres struct {
	log  *zap.Logger
	pool *pgxpool.Pool
	shut atomic.Bool

	// mu is held shared while a request is handed to the writers and
	// exclusively by Close, which then closes reqs: no send can race it.
	mu      sync.RWMutex
	closed  bool
	reqs    chan *pgWrite
	writers sync.WaitGroup

	// What the writers did (WriterStats); chained counts batches begun in
	// the round trip of the commit before.
	commits, requests, replays, chained atomic.Uint64
	commitNs                            atomic.Int64
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to dsn (a URL or key=value string; search_path and
// other run-time parameters may ride along), checks the server answers and
// applies the migrations. log may be nil.
func OpenPostgres(ctx context.Context, dsn string, opts PoolOptions, log *zap.Logger) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres dsn: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if opts.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opts.MaxConnLifetime
	}
	if opts.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opts.MaxConnIdleTime
	}
	if log == nil {
		log = zap.NewNop()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres pool: %w", err)
	}
	p := &Postgres{log: log, pool: pool, reqs: make(chan *pgWrite, 4*pgBatch)}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	writers := max(1, opts.Writers)
	p.writers.Add(writers)
	for range writers {
		go p.writeLoop()
	}
	p.log.Info("opened", zap.String("host", cfg.ConnConfig.Host), zap.String("database", cfg.ConnConfig.Database),
		zap.Int32("max_conns", cfg.MaxConns), zap.Int("writers", writers))
	return p, nil
}

// migrate applies the steps not yet recorded, in one transaction under an
// advisory lock per schema, so that servers starting together take turns.
func (p *Postgres) migrate(ctx context.Context) error {
	steps, err := loadMigrations("postgres")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('daogou.store.migrate.' || current_schema()))"); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("store: create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("store: read schema version: %w", err)
		}
		for _, m := range steps {
			if m.version <= current {
				continue
			}
			// No arguments: the simple protocol runs every statement of the file.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", m.version); err != nil {
				return fmt.Errorf("store: record migration %s: %w", m.name, err)
			}
			p.log.Info("migrated", zap.String("migration", m.name))
		}
		return nil
	})
}

// Close answers the writes already queued, then releases the pool; later
// calls fail with ErrClosed.
func (p *Postgres) Close() error {
	if p.shut.Swap(true) {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	close(p.reqs)
	p.mu.Unlock()
	p.writers.Wait()
	p.pool.Close()
	p.log.Info("closed")
	return nil
}

// Ping checks the server answers.
func (p *Postgres) Ping(ctx context.Context) error {
	if err := p.open(); err != nil {
		return err
	}
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (p *Postgres) open() error {
	if p.shut.Load() {
		return ErrClosed
	}
	return nil
}

// pgErr maps constraint failures to the sentinels: a unique key taken is
// ErrConflict, a missing referenced row is ErrNotFound.
func pgErr(op string, err error) error {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case "23505": // unique_violation
			return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("store: %s: %w: %w", op, ErrNotFound, err)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// pgTime is t as stored: NULL when zero.
func pgTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// fromPgTime is a nullable timestamptz in UTC, zero for NULL.
func fromPgTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// pgLimit is limit for LIMIT: NULL (all) when limit <= 0.
func pgLimit(limit int) any {
	if limit <= 0 {
		return nil
	}
	return limit
}
