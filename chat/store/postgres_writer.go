package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Group commit on PostgreSQL. Every Apply is handed to one of a few writer
// goroutines; a writer takes what is waiting (up to pgBatch requests) and
// runs it as one transaction in two round trips:
//
//  1. BEGIN, lock every conversation of the batch (one statement, in id
//     order, so that two batches never wait for each other in a cycle),
//     read them;
//  2. each request's fn in order (a conversation twice in a batch sees its
//     first edit), then every insert and update, and COMMIT.
//
// One commit (one WAL flush) and two round trips then carry a whole batch
// instead of one message: with one transaction per message, PostgreSQL
// spent a core on two instances' 1,000 messages a second, its sessions
// waiting on the WAL at commit (docs/benchmarks.md, seventh round).
//
// A request whose fn fails writes nothing, so it fails alone. When the
// server fails the transaction (a client id used before), it is rolled back
// and each of its requests runs again on its own (apply), as Update's fn
// may: the failure is then the failing request's alone. When the
// connection fails instead, whether the COMMIT was carried out is not
// known, so nothing runs again: the batch's requests get the error. A
// request is answered only after its commit returned.

const (
	// pgBatch is the most requests one transaction carries.
	pgBatch = 128
	// pgBatchTimeout bounds a batch's statements: they run for every
	// request in it, so no one caller's context may cancel them.
	pgBatchTimeout = 30 * time.Second
)

// pgWrite is one Apply waiting for a writer.
type pgWrite struct {
	ctx      context.Context
	id       string
	fn       func(c *Conversation) (Edit, error)
	ch       Change
	err      error
	panicked any
	done     chan struct{}
}

// queueApply hands an Apply to the writers and waits for its answer.
func (p *Postgres) queueApply(ctx context.Context, id string, fn func(c *Conversation) (Edit, error)) (Change, error) {
	if err := ctx.Err(); err != nil {
		return Change{}, err
	}
	r := &pgWrite{ctx: ctx, id: id, fn: fn, done: make(chan struct{}, 1)}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return Change{}, ErrClosed
	}
	select {
	case p.reqs <- r:
		p.mu.RUnlock()
	case <-ctx.Done():
		p.mu.RUnlock()
		return Change{}, ctx.Err()
	}
	// Once queued, the request is answered: committed, failed, or skipped
	// because ctx ended before its turn; never reported failed after it
	// committed.
	<-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	if r.err != nil {
		return Change{}, r.err
	}
	return r.ch, nil
}

// writeLoop is a writer goroutine. It ends when Close has closed reqs and
// every request queued before was answered.
func (p *Postgres) writeLoop() {
	defer p.writers.Done()
	batch := make([]*pgWrite, 0, pgBatch)
	for r := range p.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < pgBatch {
			select {
			case r, ok := <-p.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		began := time.Now()
		p.commitBatch(batch)
		p.commitNs.Add(int64(time.Since(began)))
		p.commits.Add(1)
		p.requests.Add(uint64(len(batch)))
		for i, r := range batch {
			r.done <- struct{}{}
			batch[i] = nil
		}
	}
}

// commitBatch answers every request of batch: run in one transaction, or,
// when that failed, each on its own.
func (p *Postgres) commitBatch(batch []*pgWrite) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgBatchTimeout)
	defer cancel()
	err := p.runBatch(ctx, live)
	if err == nil {
		return
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Severity != "ERROR" {
		// Not a statement the server refused, with the session alive (a
		// lost connection, a timeout, a FATAL): the COMMIT may have been
		// carried out, and a request run again would then be stored twice.
		// Each request not failed by itself gets the error, as it would
		// alone; a client's resend finds its client id.
		p.log.Warn("batch failed", zap.Int("requests", len(live)), zap.Error(err))
		for _, r := range live {
			if r.err == nil && r.panicked == nil {
				r.ch, r.err = Change{}, err
			}
		}
		return
	}
	p.replays.Add(1)
	p.log.Debug("batch failed; its requests run one by one", zap.Int("requests", len(live)), zap.Error(err))
	for _, r := range live {
		r.ch, r.err, r.panicked = Change{}, nil, nil
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		r.panicked = catch(func() { r.ch, r.err = p.apply(r.ctx, r.id, r.fn) })
	}
}

// catch runs f and returns what it panicked with, if anything, for the
// caller's goroutine to panic with again.
func catch(f func()) (panicked any) {
	defer func() { panicked = recover() }()
	f()
	return nil
}

// runBatch runs batch as one transaction. On an error, nothing was
// committed and no request has its answer yet.
func (p *Postgres) runBatch(ctx context.Context, batch []*pgWrite) (err error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: acquire: %w", err)
	}
	inTx := false
	defer func() { releaseTx(ctx, conn, inTx) }()

	ids := make([]string, 0, len(batch))
	for _, r := range batch {
		ids = append(ids, r.id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	convs := make(map[string]Conversation, len(ids))
	if inTx, err = lockConvs(ctx, conn, ids, convs); err != nil {
		return err
	}

	b := &pgx.Batch{}
	for _, r := range batch {
		cur, ok := convs[r.id]
		if !ok {
			r.err = fmt.Errorf("store: conversation %s: %w", r.id, ErrNotFound)
			continue
		}
		var pl updatePlan
		if r.panicked = catch(func() { pl, r.err = plan(cur, r.fn) }); r.panicked != nil || r.err != nil {
			continue
		}
		if r.err = queuePlan(b, pl); r.err != nil {
			continue
		}
		convs[r.id] = pl.conv
		r.ch = Change{Conversation: pl.conv, Messages: pl.msgs}
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return pgErr("save conversations", err)
	}
	inTx = false
	return nil
}

// lockConvs begins a transaction on conn, locks the conversations of ids
// (sorted, no repeats: locked in that order) and reads them into convs, in
// one round trip. An id not found is left out. inTx says the transaction
// is open, to be rolled back after an error.
func lockConvs(ctx context.Context, conn *pgxpool.Conn, ids []string, convs map[string]Conversation) (inTx bool, err error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// Lock, then read in a statement of its own: its snapshot, taken once
	// the locks are held, sees the messages of the transactions that held
	// them before (a locking read re-reads only the locked row after a
	// wait, not the newest message joined to it). ORDER BY makes the locks
	// be taken in id order.
	b.Queue("SELECT 1 FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids)
	b.Queue(pgConvRead+" WHERE c.id = ANY($1)", ids)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	inTx = err == nil
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = readConvs(br, convs)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return inTx, fmt.Errorf("store: lock conversations: %w", err)
	}
	return inTx, nil
}

// readConvs scans the batch's next result, conversations, into convs.
func readConvs(br pgx.BatchResults, convs map[string]Conversation) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanPgConv(rows)
		if err != nil {
			return err
		}
		convs[c.ID] = c
	}
	return rows.Err()
}

// queuePlan adds what a planned edit saves to b: its messages, the row
// when it changed, its events.
func queuePlan(b *pgx.Batch, pl updatePlan) error {
	c := pl.conv
	timers, err := encodeTimers(c.Timers)
	if err != nil {
		return err
	}
	for _, m := range pl.msgs {
		queueMessage(b, m, pl.carried(timers))
	}
	if pl.saveRow {
		b.Queue(`UPDATE conversations SET visitor_name = $1, state = $2, agent_id = $3, locale = $4, topic = $5,
			context = $6, closed_at = $7, outcome = $8, last_seq = $9, assigned_at = $10, timers = $11 WHERE id = $12`,
			c.VisitorName, c.State, c.AgentID, c.Locale, c.Topic, nullJSON(c.Context), pgTime(c.ClosedAt.Time),
			c.Outcome, c.LastSeq, pgTime(c.AssignedAt.Time), timers, c.ID)
	}
	for _, e := range pl.events {
		queueEvent(b, e)
	}
	return nil
}

// releaseTx gives conn back to the pool, rolling back first when it is
// still inside a transaction (Release would drop such a connection).
func releaseTx(ctx context.Context, conn *pgxpool.Conn, inTx bool) {
	if inTx {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = conn.Exec(rctx, "ROLLBACK")
		cancel()
	}
	conn.Release()
}

// WriterStats reads the writers' counters (no checkpoints on PostgreSQL).
func (p *Postgres) WriterStats() WriterStats {
	return WriterStats{
		Commits: p.commits.Load(), Requests: p.requests.Load(), CommitTime: time.Duration(p.commitNs.Load()),
		Replays: p.replays.Load(),
	}
}
