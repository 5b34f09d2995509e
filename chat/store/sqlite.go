package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite settings.
const (
	// sqliteQueue bounds the write requests waiting for the writer.
	sqliteQueue = 1024
	// sqliteBatch is the most requests committed together.
	sqliteBatch = 256
	// sqliteBusy is how long a connection waits for a lock (ms).
	sqliteBusy = 5000
	// sqliteCheckpointEvery is how often a goroutine of its own copies the
	// WAL's new pages into the database file (a passive checkpoint, beside
	// the writer). A page written many times in that while is copied once.
	sqliteCheckpointEvery = time.Second
	// sqliteWALPages is the WAL length (4 KiB pages) at which the writer
	// checkpoints itself, after a commit: under a steady load the WAL never
	// empties between the passive checkpoints, and the writer's own
	// checkpoint, finding most pages copied already, lets it start over.
	sqliteWALPages = 16384
)

// SQLite is the embedded Store. SQLite has one writer, so every write goes
// through one goroutine that commits what is waiting as one transaction
// (group commit: one fsync for up to sqliteBatch requests), so that one
// failing request fails alone (commitBatch says how). A write is
// answered only after its commit returned. Reads use a separate pool of
// read-only connections, which WAL lets run beside the writer.
type SQLite struct {
	log   *zap.Logger
	rdb   *sql.DB  // read-only pool
	stmts sync.Map // query text → *sql.Stmt on rdb
	wdb   *sql.DB  // the writer's single connection
	w     *writer

	// mu is held shared while a request is handed to the writer and
	// exclusively by Close, which then closes reqs: no send can race it.
	mu     sync.RWMutex
	closed bool
	shut   atomic.Bool // closed, readable without mu
	reqs   chan *writeReq
	done   chan struct{} // the writer has stopped

	cdb    *sql.DB       // the checkpointer's connection
	wrote  atomic.Bool   // committed since the last checkpoint
	ckDone chan struct{} // the checkpointer has stopped (after the writer)

	// What the writer and the checkpointer did (WriterStats).
	commits, requests, ckCount atomic.Uint64
	commitNs, ckNs             atomic.Int64
}

// WriterStats is what a store's group commit has done since the store
// opened (the SQLite writer and its checkpointer; the PostgreSQL writers):
// how many requests each commit carries and how long commits take decide
// what a message costs (docs/benchmarks.md).
type WriterStats struct {
	Commits        uint64        // transactions, each with one fsync
	Requests       uint64        // requests they carried
	CommitTime     time.Duration // spent running them, fsync included
	Checkpoints    uint64        // passive checkpoints beside the writer
	CheckpointTime time.Duration
	// Replays are batches run a second time because a request failed in
	// the first run: with a savepoint per request on SQLite, each request
	// in a transaction of its own on PostgreSQL.
	Replays uint64
}

// WriterStats reads the counters.
func (s *SQLite) WriterStats() WriterStats {
	return WriterStats{
		Commits: s.commits.Load(), Requests: s.requests.Load(), CommitTime: time.Duration(s.commitNs.Load()),
		Checkpoints: s.ckCount.Load(), CheckpointTime: time.Duration(s.ckNs.Load()),
		Replays: s.w.replays.Load(),
	}
}

var _ Store = (*SQLite)(nil)

// writeReq is one write waiting for the writer.
type writeReq struct {
	ctx      context.Context
	run      func(w *writer) error
	err      error
	panicked any
	done     chan struct{}
}

// OpenSQLite opens (creating it and its directory when missing) the database
// at path, applies the migrations and starts the writer. The file belongs to
// this process: the writer remembers conversations it wrote. log may be nil.
func OpenSQLite(ctx context.Context, path string, log *zap.Logger) (*SQLite, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("store: sqlite path %q: empty or holds '?'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", dir, err)
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	// temp_store=MEMORY keeps each request's savepoint journal in memory:
	// on a file it cost a write per page a request touched.
	wdsn := fmt.Sprintf("%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(%d)",
		path, sqliteBusy, sqliteWALPages)
	wdb, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	w, err := newWriter(ctx, wdb)
	var steps []migration
	if err == nil {
		steps, err = loadMigrations("sqlite")
	}
	if err == nil {
		err = migrateSQLite(ctx, w.conn, steps, log)
	}
	if err == nil {
		err = w.prepare(ctx)
	}
	if err != nil {
		w.close()
		_ = wdb.Close()
		return nil, err
	}
	rdsn := fmt.Sprintf("%s?_busy_timeout=%d&_query_only=1", path, sqliteBusy)
	rdb, err := sql.Open("sqlite", rdsn)
	if err != nil {
		w.close()
		_ = wdb.Close()
		return nil, fmt.Errorf("store: open %s for reading: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	cdb, err := sql.Open("sqlite", fmt.Sprintf("%s?_busy_timeout=%d", path, sqliteBusy))
	if err != nil {
		w.close()
		_ = wdb.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("store: open %s for checkpoints: %w", path, err)
	}
	cdb.SetMaxOpenConns(1)
	s := &SQLite{
		log:    log,
		rdb:    rdb,
		wdb:    wdb,
		w:      w,
		reqs:   make(chan *writeReq, sqliteQueue),
		done:   make(chan struct{}),
		cdb:    cdb,
		ckDone: make(chan struct{}),
	}
	go s.loop()
	go s.checkpoints()
	log.Info("opened", zap.String("path", path))
	return s, nil
}

// migrateSQLite applies the steps not yet recorded, in one transaction.
func migrateSQLite(ctx context.Context, conn *sql.Conn, steps []migration, log *zap.Logger) (err error) {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	for _, m := range steps {
		if m.version <= current {
			continue
		}
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.version, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("store: record migration %s: %w", m.name, err)
		}
		log.Info("migrated", zap.String("migration", m.name))
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("store: commit migrations: %w", err)
	}
	return nil
}

// write hands run to the writer and waits for its commit. run executes on
// the writer goroutine, in a transaction with other requests; its error
// undoes its writes alone and comes back as is, and so does a panic. run
// may be called more than once (commitBatch) and must write only what it
// was given.
func (s *SQLite) write(ctx context.Context, run func(w *writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, run: run, done: make(chan struct{}, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the request is answered: run and committed, failed, or
	// skipped because ctx ended before its turn. Waiting here keeps the
	// answer truthful: a write is never reported failed after committing.
	<-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// loop is the writer goroutine. It ends when Close has closed reqs and
// every request queued before was committed and answered.
func (s *SQLite) loop() {
	defer close(s.done)
	batch := make([]*writeReq, 0, sqliteBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
		// Let the goroutines that are ready to ask do so first: a request
		// that joins this commit costs far less than a commit of its own.
		runtime.Gosched()
	fill:
		for len(batch) < sqliteBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		began := time.Now()
		s.w.commitBatch(batch, s.log)
		s.commitNs.Add(int64(time.Since(began)))
		s.commits.Add(1)
		s.requests.Add(uint64(len(batch)))
		s.wrote.Store(true)
		for i, r := range batch {
			r.done <- struct{}{}
			batch[i] = nil
		}
	}
}

// checkpoints copies what was committed into the database file every
// sqliteCheckpointEvery, on its own connection, so that the writer's
// commits do not wait for it, until the writer has stopped.
func (s *SQLite) checkpoints() {
	defer close(s.ckDone)
	tick := time.NewTicker(sqliteCheckpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		if !s.wrote.Swap(false) {
			continue
		}
		if _, _, err := s.checkpoint(); err != nil {
			s.log.Warn("checkpoint failed", zap.Error(err))
		}
	}
}

// checkpoint runs one passive checkpoint: pages in the WAL, and copied.
func (s *SQLite) checkpoint() (logPages, moved int, err error) {
	var busy int
	began := time.Now()
	err = s.cdb.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &moved)
	s.ckNs.Add(int64(time.Since(began)))
	s.ckCount.Add(1)
	return logPages, moved, err
}

// Close stops taking writes, lets the writer commit everything already
// queued, checkpoints the WAL into the database file and closes. A second
// Close does nothing.
func (s *SQLite) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.shut.Store(true)
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	<-s.ckDone

	var errs []error
	s.closeStmts()
	if err := s.cdb.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close checkpointer: %w", err))
	}
	if err := s.rdb.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close readers: %w", err))
	}
	var busy, logPages, moved int
	err := s.w.conn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &moved)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("store: checkpoint: %w", err))
	case busy != 0:
		s.log.Warn("checkpoint incomplete", zap.Int("wal_pages", logPages), zap.Int("moved", moved))
	}
	if err := s.w.close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.wdb.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close writer: %w", err))
	}
	s.log.Info("closed")
	return errors.Join(errs...)
}

// Ping checks that a read connection answers and the store is open.
func (s *SQLite) Ping(ctx context.Context) error {
	if s.shut.Load() {
		return ErrClosed
	}
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// reading guards a read: ErrClosed once the store is closed.
func (s *SQLite) reading() error {
	if s.shut.Load() {
		return ErrClosed
	}
	return nil
}

// sqliteErr maps constraint failures to the sentinels: a unique key taken is
// ErrConflict, a missing referenced row is ErrNotFound.
func sqliteErr(op string, err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("store: %s: %w: %w", op, ErrNotFound, err)
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

func fromMillis(n int64) time.Time { return time.UnixMilli(n).UTC() }

func fromNullMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMillis(n.Int64)
}

// millis is t as stored: unix milliseconds, or NULL when zero.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}
