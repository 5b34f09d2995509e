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

// Group commit on PostgreSQL. Every Apply is handed to a writer goroutine
// (one by default); a writer takes what is waiting (up to pgBatch requests)
// and runs it as one transaction:
//
//  1. BEGIN, lock every conversation of the batch (one statement, in id
//     order, so that two batches never wait for each other in a cycle),
//     read them;
//  2. each request's fn in order (a conversation twice in a batch sees its
//     first edit), then every insert and update, and COMMIT.
//
// What arrived while a batch was open begins in the round trip of its
// COMMIT (step 2 of one batch and step 1 of the next go together), so
// that under load a batch costs one round trip, not two.
//
// One commit (one WAL flush) then carries a whole batch instead of one
// message: with one transaction per message, PostgreSQL spent a core on
// two instances' 1,000 messages a second, its sessions waiting on the WAL
// at commit (docs/benchmarks.md, seventh round).
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
	w := &pgWriter{p: p, convs: map[string]Conversation{}}
	var pending []*pgWrite
	for {
		if len(pending) == 0 {
			r, ok := <-p.reqs
			if !ok {
				return
			}
			if pending = p.take([]*pgWrite{r}); len(pending) == 0 {
				continue
			}
		}
		w.begin(pending)
		pending = nil
		for len(w.locked) > 0 {
			pending = w.finish(p.take(nil))
		}
	}
}

// take adds to batch what waits in the queue, without waiting, up to
// pgBatch requests; a request whose context ended is answered at once.
func (p *Postgres) take(batch []*pgWrite) []*pgWrite {
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
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			p.answer(r)
			continue
		}
		live = append(live, r)
	}
	return live
}

// answer hands r its result.
func (p *Postgres) answer(r *pgWrite) {
	p.requests.Add(1)
	r.done <- struct{}{}
}

// pgWriter is a writer's open transaction: the batch whose conversations
// it locked and read, to run and commit next.
type pgWriter struct {
	p      *Postgres
	conn   *pgxpool.Conn
	locked []*pgWrite
	convs  map[string]Conversation // the locked batch's, as its requests change them
}

// begin takes batch's locks and reads its conversations in a transaction
// of its own (one round trip); when that fails, the batch is settled.
func (w *pgWriter) begin(batch []*pgWrite) {
	ctx, cancel := context.WithTimeout(context.Background(), pgBatchTimeout)
	defer cancel()
	began := time.Now()
	defer func() { w.p.commitNs.Add(int64(time.Since(began))) }()
	conn, err := w.p.pool.Acquire(ctx)
	if err != nil {
		w.settle(batch, fmt.Errorf("store: acquire: %w", err))
		return
	}
	clear(w.convs)
	inTx, err := lockConvs(ctx, conn, batchIDs(batch), w.convs)
	if err != nil {
		releaseTx(ctx, conn, inTx)
		w.settle(batch, err)
		return
	}
	w.conn, w.locked = conn, batch
}

// finish runs the locked batch's requests and commits them; next, when
// not empty, begins in the same round trip (its locks taken and its
// conversations read after the COMMIT), so that under load a batch costs
// one round trip. finish returns the requests of next still to begin: all
// of them when the COMMIT failed, none when next began (it is then the
// locked batch) or was answered.
func (w *pgWriter) finish(next []*pgWrite) []*pgWrite {
	ctx, cancel := context.WithTimeout(context.Background(), pgBatchTimeout)
	defer cancel()
	began := time.Now()
	defer func() { w.p.commitNs.Add(int64(time.Since(began))) }()
	batch := w.locked
	b := &pgx.Batch{}
	for _, r := range batch {
		cur, ok := w.convs[r.id]
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
		w.convs[r.id] = pl.conv
		r.ch = Change{Conversation: pl.conv, Messages: pl.msgs}
	}
	b.Queue("COMMIT")
	through := b.Len() // statements up to the COMMIT
	if len(next) > 0 {
		b.Queue("BEGIN")
		queueLock(b, batchIDs(next))
	}
	br := w.conn.SendBatch(ctx, b)
	var err error
	for range through {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	nextInTx, nextErr := false, error(nil)
	if err == nil && len(next) > 0 {
		clear(w.convs)
		nextInTx, nextErr = readLock(br, w.convs)
	}
	if cerr := br.Close(); err == nil && nextErr == nil {
		nextErr = cerr
	}
	w.p.commits.Add(1)
	if err != nil {
		// Nothing committed; next did not begin.
		w.release(ctx, true)
		w.settle(batch, pgErr("save conversations", err))
		return next
	}
	for _, r := range batch {
		w.p.answer(r)
	}
	if len(next) == 0 {
		w.release(ctx, false)
		return nil
	}
	if nextErr != nil {
		w.release(ctx, nextInTx)
		w.settle(next, fmt.Errorf("store: lock conversations: %w", nextErr))
		return nil
	}
	w.p.chained.Add(1)
	w.locked = next
	return nil
}

// release gives the connection back, rolling back first when inTx.
func (w *pgWriter) release(ctx context.Context, inTx bool) {
	releaseTx(ctx, w.conn, inTx)
	w.conn, w.locked = nil, nil
}

// settle answers a batch whose transaction failed with err, or did not
// begin, nothing committed. When the server refused a statement, with the session alive
// (a client id used before), each request runs again in a transaction of
// its own, as Update's fn may. Otherwise (a lost connection, a timeout, a
// FATAL) the COMMIT may have been carried out, and a request run again
// would then be stored twice: each request not failed by itself gets err,
// as it would alone; a client's resend finds its client id.
func (w *pgWriter) settle(batch []*pgWrite, err error) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Severity != "ERROR" {
		w.p.log.Warn("batch failed", zap.Int("requests", len(batch)), zap.Error(err))
		for _, r := range batch {
			if r.err == nil && r.panicked == nil {
				r.ch, r.err = Change{}, err
			}
			w.p.answer(r)
		}
		return
	}
	w.p.replays.Add(1)
	w.p.log.Debug("batch failed; its requests run one by one", zap.Int("requests", len(batch)), zap.Error(err))
	for _, r := range batch {
		r.ch, r.err, r.panicked = Change{}, nil, nil
		if err := r.ctx.Err(); err != nil {
			r.err = err
		} else {
			r.panicked = catch(func() { r.ch, r.err = w.p.apply(r.ctx, r.id, r.fn) })
		}
		w.p.answer(r)
	}
}

// catch runs f and returns what it panicked with, if anything, for the
// caller's goroutine to panic with again.
func catch(f func()) (panicked any) {
	defer func() { panicked = recover() }()
	f()
	return nil
}

// batchIDs is the batch's conversations, sorted, each once.
func batchIDs(batch []*pgWrite) []string {
	ids := make([]string, 0, len(batch))
	for _, r := range batch {
		ids = append(ids, r.id)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// lockConvs begins a transaction on conn, locks the conversations of ids
// (sorted, no repeats: locked in that order) and reads them into convs, in
// one round trip. An id not found is left out. inTx says the transaction
// is open, to be rolled back after an error.
func lockConvs(ctx context.Context, conn *pgxpool.Conn, ids []string, convs map[string]Conversation) (inTx bool, err error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	queueLock(b, ids)
	br := conn.SendBatch(ctx, b)
	inTx, err = readLock(br, convs)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return inTx, fmt.Errorf("store: lock conversations: %w", err)
	}
	return inTx, nil
}

// queueLock adds to b, after a BEGIN, the locks on the conversations of
// ids and their read.
func queueLock(b *pgx.Batch, ids []string) {
	// Lock, then read in a statement of its own: its snapshot, taken once
	// the locks are held, sees the messages of the transactions that held
	// them before (a locking read re-reads only the locked row after a
	// wait, not the newest message joined to it). ORDER BY makes the locks
	// be taken in id order.
	b.Queue("SELECT 1 FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids)
	b.Queue(pgConvRead+" WHERE c.id = ANY($1)", ids)
}

// readLock reads the results of a BEGIN and queueLock's statements into
// convs; inTx says the BEGIN ran.
func readLock(br pgx.BatchResults, convs map[string]Conversation) (inTx bool, err error) {
	if _, err = br.Exec(); err != nil {
		return false, err
	}
	if _, err = br.Exec(); err != nil {
		return true, err
	}
	return true, readConvs(br, convs)
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
