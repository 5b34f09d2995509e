package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/chat/store/storetest"
)

const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func postgresDSN() string {
	if dsn := os.Getenv("DAOGOU_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return defaultPostgres
}

// reachable connects once per test binary.
var reachable = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
})

// shownDSN is the DSN without its password, for messages.
func shownDSN() string {
	if u, err := url.Parse(postgresDSN()); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the DSN in DAOGOU_TEST_POSTGRES"
}

// needPostgres skips t without a server, or fails it on CI.
func needPostgres(t testing.TB) {
	t.Helper()
	if err := reachable(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL not reachable at %s (set DAOGOU_TEST_POSTGRES): %v", shownDSN(), err)
		}
		t.Skipf("PostgreSQL not reachable at %s: set DAOGOU_TEST_POSTGRES or start it (%v)", shownDSN(), err)
	}
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openPostgres opens a store in a new schema of its own, dropped at cleanup.
// It returns the schema's name too.
func openPostgres(t testing.TB, opts store.PoolOptions, log *zap.Logger) (*store.Postgres, string) {
	t.Helper()
	needPostgres(t)
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	s, err := store.OpenPostgres(ctx, withSearchPath(t, postgresDSN(), schema), opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, schema
}

func TestPostgres(t *testing.T) {
	needPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openPostgres(t, store.PoolOptions{MaxConns: 4}, zaptest.NewLogger(t))
		return s
	})
}

// TestPostgresCarriedTimers: the steps of TestSQLiteCarriedTimers (every
// Apply reads the conversation back under its lock).
func TestPostgresCarriedTimers(t *testing.T) {
	s, _ := openPostgres(t, store.PoolOptions{MaxConns: 4}, zaptest.NewLogger(t))
	carriedTimers(t, s, nil)
}

// TestPostgresMigrateOnce opens a second store on the same schema: the
// migrations are recorded and not applied again.
func TestPostgresMigrateOnce(t *testing.T) {
	ctx := context.Background()
	s, schema := openPostgres(t, store.PoolOptions{}, zaptest.NewLogger(t))
	conn, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := s.CreateVisitor(ctx, store.Visitor{ID: "v1", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	again, err := store.OpenPostgres(ctx, withSearchPath(t, postgresDSN(), schema),
		store.PoolOptions{MaxConns: 2, MinConns: 1, MaxConnLifetime: time.Hour, MaxConnIdleTime: time.Minute}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.Visitor(ctx, "v1"); err != nil {
		t.Fatalf("the second store does not see the first's data: %v", err)
	}
	var versions []int
	rows, err := conn.Query(ctx, "SELECT version FROM "+schema+".schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	if versions, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(versions, []int{1, 2, 3}) {
		t.Fatalf("schema_migrations = %v, want [1 2 3], each once", versions)
	}
}

func BenchmarkPostgresAppend(b *testing.B) {
	s, _ := openPostgres(b, store.PoolOptions{MaxConns: 16}, zap.NewNop())
	benchAppend(b, s)
}

func BenchmarkPostgresStart(b *testing.B) {
	s, _ := openPostgres(b, store.PoolOptions{MaxConns: 16}, zap.NewNop())
	benchStart(b, s)
}

// TestPostgresBatch: with one writer held by an Apply, the writes that
// queue behind it run as one transaction. Each fails alone (its fn's
// error, a panic, an unknown conversation, a context that ended while it
// waited); a conversation twice in the batch sees its first edit; a client
// id repeated within the batch fails the transaction, and every request
// then runs on its own: the repeat is answered as a duplicate.
func TestPostgresBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := openPostgres(t, store.PoolOptions{MaxConns: 4, Writers: 1}, zaptest.NewLogger(t))
	for _, id := range []string{"c1", "c2", "c3"} {
		v := store.Visitor{ID: "v" + id, CreatedAt: at}
		if _, err := s.StartConversation(ctx, &v, store.Conversation{ID: id, VisitorID: v.ID, State: store.Queued}, store.Edit{}); err != nil {
			t.Fatal(err)
		}
	}
	text := func(s string) func(*store.Conversation) ([]store.Message, error) {
		return func(*store.Conversation) ([]store.Message, error) {
			return []store.Message{{Author: store.Author{Kind: store.AuthorShopper, ID: "v"}, Text: s}}, nil
		}
	}
	withClient := func(id string) func(*store.Conversation) ([]store.Message, error) {
		return func(*store.Conversation) ([]store.Message, error) {
			return []store.Message{{Author: store.Author{Kind: store.AuthorShopper, ID: "v"}, Text: id, ClientMsgID: id}}, nil
		}
	}
	errFn := errors.New("fn refuses")
	type write struct {
		name    string
		conv    string
		fn      func(*store.Conversation) ([]store.Message, error)
		cancel  bool // its context ends while it waits
		wantErr error
		panics  bool
		wantSeq int64 // of its message; 0: none
		wantDup bool
		sameAs  int // a duplicate: the index of the write whose message it gets
	}
	batches := []struct {
		name    string
		writes  []write
		replays uint64
	}{
		{"each fails alone", []write{
			{name: "c1 appends", conv: "c1", fn: text("a"), wantSeq: 2},
			{name: "c2 appends", conv: "c2", fn: text("b"), wantSeq: 1},
			{name: "fn fails", conv: "c3", fn: func(*store.Conversation) ([]store.Message, error) { return nil, errFn }, wantErr: errFn},
			{name: "c2 again", conv: "c2", fn: text("c"), wantSeq: 2},
			{name: "unknown", conv: "c9", fn: text("d"), wantErr: store.ErrNotFound},
			{name: "fn panics", conv: "c3", fn: func(*store.Conversation) ([]store.Message, error) { panic("fn panics") }, panics: true},
			{name: "context ended", conv: "c3", fn: text("e"), cancel: true, wantErr: context.Canceled},
			{name: "c1 again", conv: "c1", fn: text("f"), wantSeq: 3},
		}, 0},
		{"a client id twice", []write{
			{name: "first", conv: "c1", fn: withClient("k1"), wantSeq: 5},
			{name: "c2 appends", conv: "c2", fn: text("g"), wantSeq: 3},
			{name: "repeat", conv: "c1", fn: withClient("k1"), wantSeq: 5, wantDup: true, sameAs: 0},
		}, 1},
	}
	type result struct {
		ch       store.Change
		err      error
		panicked any
	}
	for _, b := range batches {
		stats := s.WriterStats()
		entered, release := make(chan struct{}), make(chan struct{})
		held := make(chan error, 1)
		go func() {
			_, err := s.Update(ctx, "c1", func(*store.Conversation) ([]store.Message, error) {
				close(entered)
				<-release
				return []store.Message{{Author: store.Author{Kind: store.AuthorSystem}, Text: "held"}}, nil
			})
			held <- err
		}()
		<-entered
		results := make([]chan result, len(b.writes))
		var cancels []context.CancelFunc
		for i, w := range b.writes {
			wctx, cancel := context.WithCancel(ctx)
			if w.cancel {
				cancels = append(cancels, cancel)
			} else {
				defer cancel()
			}
			results[i] = make(chan result, 1)
			go func() {
				var r result
				r.panicked = catchPanic(func() { r.ch, r.err = s.Update(wctx, w.conv, w.fn) })
				results[i] <- r
			}()
			waitFor(func() bool { return store.PGQueueLen(s) == i+1 })
		}
		for _, cancel := range cancels {
			cancel()
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatalf("%s: the held write: %v", b.name, err)
		}
		got := make([]result, len(b.writes))
		for i, w := range b.writes {
			r := <-results[i]
			got[i] = r
			switch {
			case w.panics:
				if r.panicked == nil {
					t.Errorf("%s: %s: no panic in the caller", b.name, w.name)
				}
			case w.wantErr != nil:
				if !errors.Is(r.err, w.wantErr) {
					t.Errorf("%s: %s: err %v, want %v", b.name, w.name, r.err, w.wantErr)
				}
			case r.err != nil || r.panicked != nil:
				t.Errorf("%s: %s: err %v, panic %v", b.name, w.name, r.err, r.panicked)
			case len(r.ch.Messages) != 1 || r.ch.Messages[0].Seq != w.wantSeq || r.ch.Duplicate != w.wantDup:
				t.Errorf("%s: %s: %+v, want one message with seq %d, duplicate %v", b.name, w.name, r.ch, w.wantSeq, w.wantDup)
			case w.wantDup && r.ch.Messages[0].ID != got[w.sameAs].ch.Messages[0].ID:
				t.Errorf("%s: %s: message %s, want the earlier %s", b.name, w.name, r.ch.Messages[0].ID, got[w.sameAs].ch.Messages[0].ID)
			}
		}
		after := s.WriterStats()
		if n := after.Commits - stats.Commits; n != 2 {
			t.Errorf("%s: %d batches, want 2 (the held write, then the rest)", b.name, n)
		}
		if n := after.Replays - stats.Replays; n != b.replays {
			t.Errorf("%s: %d batches run again one by one, want %d", b.name, n, b.replays)
		}
	}
	// Every message stored once, seqs without gaps; nothing of c3.
	for id, want := range map[string][]string{
		"c1": {"held", "a", "f", "held", "k1"},
		"c2": {"b", "c", "g"},
		"c3": nil,
	} {
		msgs, err := s.Messages(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Errorf("%s: message %d has seq %d", id, i, m.Seq)
			}
			texts = append(texts, m.Text)
		}
		if !reflect.DeepEqual(texts, want) {
			t.Errorf("%s: messages %q, want %q", id, texts, want)
		}
	}
}

func catchPanic(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// TestPostgresBatchConnectionLost: when the writer's connection dies in
// the middle of a batch, whether its COMMIT was carried out is not known,
// so the batch is not run again (a message would be stored twice): the
// request gets the error, nothing is stored, and the next write works.
func TestPostgresBatchConnectionLost(t *testing.T) {
	ctx := context.Background()
	s, schema := openPostgres(t, store.PoolOptions{MaxConns: 4, Writers: 1}, zaptest.NewLogger(t))
	v := store.Visitor{ID: "v1", CreatedAt: at}
	if _, err := s.StartConversation(ctx, &v, store.Conversation{ID: "c1", VisitorID: "v1", State: store.Queued}, store.Edit{}); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	calls := 0
	before := s.WriterStats()
	_, err = s.Update(ctx, "c1", func(*store.Conversation) ([]store.Message, error) {
		calls++
		// The writer holds c1's row lock: end its backend, and wait for it.
		var ended bool
		err := admin.QueryRow(ctx, `SELECT pg_terminate_backend(pid, 5000) FROM pg_locks
			WHERE relation = $1::regclass AND mode = 'RowShareLock'`, schema+".conversations").Scan(&ended)
		if err != nil || !ended {
			t.Errorf("end the writer's backend: %v, %v", ended, err)
		}
		return []store.Message{{Author: store.Author{Kind: store.AuthorSystem}, Text: "lost"}}, nil
	})
	if err == nil {
		t.Fatal("the write on a lost connection succeeded")
	}
	if calls != 1 {
		t.Errorf("fn ran %d times, want once (no second run after a lost connection)", calls)
	}
	if n := s.WriterStats().Replays - before.Replays; n != 0 {
		t.Errorf("%d batches run again, want 0", n)
	}
	ch, err := s.Update(ctx, "c1", func(*store.Conversation) ([]store.Message, error) {
		return []store.Message{{Author: store.Author{Kind: store.AuthorSystem}, Text: "after"}}, nil
	})
	if err != nil {
		t.Fatalf("the next write: %v", err)
	}
	if got := ch.Messages[0].Seq; got != 1 {
		t.Errorf("the next write's seq = %d, want 1 (the lost one not stored)", got)
	}
}

// TestPostgresBatchChained: requests that arrive while a batch takes its
// locks begin in the round trip of that batch's COMMIT. The batch after
// sees what the one before wrote; a failure of either leaves the other's
// requests answered as they would be alone.
func TestPostgresBatchChained(t *testing.T) {
	ctx := context.Background()
	s, schema := openPostgres(t, store.PoolOptions{MaxConns: 4, Writers: 1}, zaptest.NewLogger(t))
	for _, id := range []string{"c1", "c2", "c3"} {
		v := store.Visitor{ID: "v" + id, CreatedAt: at}
		if _, err := s.StartConversation(ctx, &v, store.Conversation{ID: id, VisitorID: v.ID, State: store.Queued}, store.Edit{}); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := pgx.Connect(ctx, postgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var adminPID int
	if err := admin.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&adminPID); err != nil {
		t.Fatal(err)
	}
	type write struct {
		conv, text, client string
		wantSeq            int64
		wantDup            bool
	}
	steps := []struct {
		name    string
		first   write   // taken alone; its lock waits for the test's
		then    []write // queued meanwhile: the next batch
		chained uint64
		replays uint64
	}{
		{"the next batch sees the first's writes", write{"c1", "a", "k1", 1, false},
			[]write{{"c1", "b", "", 2, false}, {"c2", "c", "", 1, false}, {"c1", "d", "", 3, false}}, 1, 0},
		{"the first batch fails: the next begins after", write{"c1", "again", "k1", 1, true},
			[]write{{"c1", "e", "", 4, false}, {"c3", "f", "", 1, false}}, 0, 1},
		{"the next batch fails after the first's commit", write{"c2", "g", "", 2, false},
			[]write{{"c3", "h", "", 2, false}, {"c1", "again", "k1", 1, true}, {"c2", "i", "", 3, false}}, 1, 1},
	}
	send := func(w write) <-chan store.Change {
		out := make(chan store.Change, 1)
		go func() {
			ch, err := s.Update(ctx, w.conv, func(*store.Conversation) ([]store.Message, error) {
				return []store.Message{{Author: store.Author{Kind: store.AuthorShopper, ID: "v"}, Text: w.text, ClientMsgID: w.client}}, nil
			})
			if err != nil {
				t.Errorf("%s %q: %v", w.conv, w.text, err)
			}
			out <- ch
		}()
		return out
	}
	for _, st := range steps {
		chained, replays := store.PGChained(s), s.WriterStats().Replays
		tx, err := admin.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT 1 FROM "+schema+".conversations WHERE id = $1 FOR UPDATE", st.first.conv); err != nil {
			t.Fatal(err)
		}
		results := []<-chan store.Change{send(st.first)}
		waitFor(func() bool {
			var n int
			err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", adminPID).Scan(&n)
			return err == nil && n > 0
		})
		for i, w := range st.then {
			results = append(results, send(w))
			waitFor(func() bool { return store.PGQueueLen(s) == i+1 })
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		for i, w := range append([]write{st.first}, st.then...) {
			ch := <-results[i]
			if len(ch.Messages) != 1 || ch.Messages[0].Seq != w.wantSeq || ch.Duplicate != w.wantDup {
				t.Errorf("%s: %s %q: %+v, want seq %d, duplicate %v", st.name, w.conv, w.text, ch, w.wantSeq, w.wantDup)
			}
		}
		if n := store.PGChained(s) - chained; n != st.chained {
			t.Errorf("%s: %d batches begun with the commit before, want %d", st.name, n, st.chained)
		}
		if n := s.WriterStats().Replays - replays; n != st.replays {
			t.Errorf("%s: %d batches run again one by one, want %d", st.name, n, st.replays)
		}
	}
	for id, want := range map[string][]string{"c1": {"a", "b", "d", "e"}, "c2": {"c", "g", "i"}, "c3": {"f", "h"}} {
		msgs, err := s.Messages(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, m := range msgs {
			texts = append(texts, m.Text)
		}
		if !reflect.DeepEqual(texts, want) {
			t.Errorf("%s: messages %q, want %q", id, texts, want)
		}
	}
}
