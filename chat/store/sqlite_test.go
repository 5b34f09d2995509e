package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/daogou/daogou/chat/rules"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/chat/store/storetest"
)

func openSQLite(t testing.TB, path string, log *zap.Logger) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// A directory that does not exist yet: OpenSQLite creates it.
		return openSQLite(t, filepath.Join(t.TempDir(), "data", "daogou.db"), zaptest.NewLogger(t))
	})
}

func TestSQLitePragmas(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "daogou.db"), zaptest.NewLogger(t))
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL: a commit is on disk before the write is answered
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"temp_store", "2"},             // MEMORY: savepoint journals stay off the disk
		{"wal_autocheckpoint", "16384"}, // the checkpointer copies pages; the writer only restarts a long WAL
	} {
		t.Run(tc.pragma, func(t *testing.T) {
			got, err := store.WriterPragma(s, tc.pragma)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
			}
		})
	}
}

// TestSQLiteCheckpoint: the checkpointer's passive checkpoint copies what
// the writer committed, beside it.
func TestSQLiteCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "daogou.db"), zaptest.NewLogger(t))
	for i := range 20 {
		if err := s.CreateVisitor(ctx, store.Visitor{ID: fmt.Sprint("v", i), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	logPages, moved, err := store.Checkpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	if logPages == 0 || moved != logPages {
		t.Fatalf("checkpoint: %d pages in the WAL, %d copied; want all of at least one", logPages, moved)
	}
}

var at = time.Date(2025, 3, 1, 9, 30, 0, 123_000_000, time.UTC)

func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "daogou.db")
	log := zaptest.NewLogger(t)
	s, err := store.OpenSQLite(ctx, path, log)
	if err != nil {
		t.Fatal(err)
	}
	a := store.Agent{ID: "a1", Email: "li@example.com", Name: "Li", Role: "agent", Skills: []string{"vip"},
		Capacity: 2, PasswordHash: "h", CreatedAt: at}
	v := store.Visitor{ID: "v1", TokenHash: "th", Name: "Mei", CreatedAt: at}
	timers := rules.State{GreetingStarted: at, GreetingDeadline: at.Add(15 * time.Second)}
	ev := store.Event{ConversationID: "c1", AgentID: "a1", Rule: "greeting", Kind: "met", Elapsed: time.Second, At: at}
	steps := []error{
		s.CreateAgent(ctx, a),
		s.CreateToken(ctx, "tok", "a1", at.Add(time.Hour)),
		s.CreateVisitor(ctx, v),
		s.CreateConversation(ctx, store.Conversation{ID: "c1", VisitorID: "v1", State: store.Queued,
			OpenedAt: store.At(at), Timers: timers}),
		s.AddEvents(ctx, ev),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Update(ctx, "c1", func(c *store.Conversation) ([]store.Message, error) {
		c.State, c.AgentID = store.Assigned, "a1"
		return []store.Message{{Author: store.Author{Kind: store.AuthorShopper, ID: "v1"}, Kind: "text", Text: "hi",
			ClientMsgID: "m1"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close checkpointed: the write-ahead log is gone or empty.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("after Close the WAL holds %d bytes", fi.Size())
	}

	// Opening again applies no migration twice and finds everything.
	s = openSQLite(t, path, log)
	for _, tc := range []struct {
		name string
		got  result
		want any
	}{
		{"agent", val(s.Agent(ctx, "a1")), a},
		{"token", val(s.TokenAgent(ctx, "tok", at)), a},
		{"visitor", val(s.Visitor(ctx, "v1")), v},
		{"conversation", val(s.Conversation(ctx, "c1")), ch.Conversation},
		{"messages", val(s.Messages(ctx, "c1", 0, 0)), ch.Messages},
		{"events", val(s.Events(ctx, at)), []store.Event{ev}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.err != nil {
				t.Fatal(tc.got.err)
			}
			if !reflect.DeepEqual(tc.got.v, tc.want) {
				t.Fatalf("after reopening:\n got  %+v\n want %+v", tc.got.v, tc.want)
			}
		})
	}
	dup, err := s.Update(ctx, "c1", func(*store.Conversation) ([]store.Message, error) {
		return []store.Message{{Author: store.Author{Kind: store.AuthorShopper, ID: "v1"}, Text: "hi", ClientMsgID: "m1"}}, nil
	})
	if err != nil || !dup.Duplicate {
		t.Fatalf("retry after reopening: %+v, %v; want a duplicate", dup, err)
	}
}

// result is what a read returned.
type result struct {
	v   any
	err error
}

func val[T any](v T, err error) result { return result{v, err} }

// blockWriter starts an Update whose fn holds the writer until release is
// closed; it returns once the writer is inside fn.
func blockWriter(s *store.SQLite, release <-chan struct{}) <-chan error {
	entered := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.Update(context.Background(), "c1", func(*store.Conversation) ([]store.Message, error) {
			close(entered)
			<-release
			return []store.Message{{ID: "taken", Author: store.Author{Kind: store.AuthorSystem}, Kind: "system", Text: "first"}}, nil
		})
		done <- err
	}()
	<-entered
	return done
}

// waitFor yields until cond holds: the writer is blocked, so whatever cond
// waits for happens without it.
func waitFor(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

func conversation(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := errors.Join(
		s.CreateVisitor(ctx, store.Visitor{ID: "v1", CreatedAt: at}),
		s.CreateConversation(ctx, store.Conversation{ID: "c1", VisitorID: "v1", State: store.Queued, OpenedAt: store.At(at)}),
	); err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteCloseDrains(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "daogou.db")
	log := zaptest.NewLogger(t)
	s, err := store.OpenSQLite(ctx, path, log)
	if err != nil {
		t.Fatal(err)
	}
	conversation(t, s)

	release := make(chan struct{})
	firstDone := blockWriter(s, release)
	const queued = 20
	results := make(chan error, queued)
	for i := range queued {
		go func() {
			_, err := s.Update(ctx, "c1", func(*store.Conversation) ([]store.Message, error) {
				return []store.Message{{Author: store.Author{Kind: store.AuthorShopper, ID: "v1"}, Text: fmt.Sprint(i)}}, nil
			})
			results <- err
		}()
	}
	waitFor(func() bool { return store.QueueLen(s) == queued })

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitFor(func() bool { return store.Closing(s) })
	if _, err := s.Update(ctx, "c1", func(*store.Conversation) ([]store.Message, error) { return nil, nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Update after Close began: %v, want ErrClosed", err)
	}
	close(release)

	if err := <-firstDone; err != nil {
		t.Fatalf("the write in progress: %v", err)
	}
	for range queued {
		if err := <-results; err != nil {
			t.Fatalf("a queued write: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}

	s = openSQLite(t, path, log)
	msgs, err := s.Messages(ctx, "c1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != queued+1 || msgs[len(msgs)-1].Seq != queued+1 {
		t.Fatalf("after Close drained: %d messages, want %d", len(msgs), queued+1)
	}
}

// TestSQLiteGroupCommit queues writes behind a blocked one so that they
// commit together, and checks that a failing one fails alone.
func TestSQLiteGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "daogou.db"), zaptest.NewLogger(t))
	conversation(t, s)
	errFail := errors.New("fail")
	cancelled, cancel := context.WithCancel(ctx)

	release := make(chan struct{})
	firstDone := blockWriter(s, release)
	type result struct {
		i   int
		err error
	}
	results := make(chan result, 6)
	for i := range 6 {
		go func() {
			ctx := ctx
			if i == 4 {
				ctx = cancelled
			}
			_, err := s.Update(ctx, "c1", func(c *store.Conversation) ([]store.Message, error) {
				switch {
				case i%3 == 1:
					c.Topic = "lost"
					return nil, errFail
				case i == 5: // fails after its first insert
					c.Topic = "lost"
					return []store.Message{
						{Author: store.Author{Kind: store.AuthorShopper, ID: "v1"}, Text: "lost"},
						{ID: "taken", Author: store.Author{Kind: store.AuthorShopper, ID: "v1"}, Text: "lost"},
					}, nil
				}
				return []store.Message{{ID: fmt.Sprintf("id%d", i), Author: store.Author{Kind: store.AuthorShopper, ID: "v1"},
					Text: fmt.Sprint(i)}}, nil
			})
			results <- result{i, err}
		}()
	}
	waitFor(func() bool { return store.QueueLen(s) == 6 })
	cancel() // request 4 waits in the queue with a context that ended
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	ok := 0
	for range 6 {
		r := <-results
		var want error
		switch {
		case r.i == 4:
			want = context.Canceled
		case r.i%3 == 1:
			want = errFail
		case r.i == 5:
			want = store.ErrConflict
		}
		if !errors.Is(r.err, want) {
			t.Fatalf("request %d: %v, want %v", r.i, r.err, want)
		}
		if r.err == nil {
			ok++
		}
	}
	msgs, err := s.Messages(ctx, "c1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Conversation(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != ok+1 || c.LastSeq != int64(ok+1) || c.Topic != "" {
		t.Fatalf("%d messages, last seq %d, topic %q; want %d, %d, empty", len(msgs), c.LastSeq, c.Topic, ok+1, ok+1)
	}
}

func BenchmarkSQLiteAppend(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "daogou.db"), zap.NewNop())
	benchAppend(b, s)
}

func BenchmarkSQLiteStart(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "daogou.db"), zap.NewNop())
	benchStart(b, s)
}

// TestSQLiteRepeatAfterReopen: a repeated client id is found by a writer
// that has not seen the conversation since it started (the ids are read
// with the conversation), and one author's id is not another's.
func TestSQLiteRepeatAfterReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "daogou.db")
	shopper := store.Author{Kind: store.AuthorShopper, ID: "v1", Name: "Mei"}
	agent := store.Author{Kind: store.AuthorAgent, ID: "a1", Name: "Li"}
	msg := func(a store.Author, client, text string) func(*store.Conversation) ([]store.Message, error) {
		return func(*store.Conversation) ([]store.Message, error) {
			return []store.Message{{Author: a, Kind: "text", Text: text, ClientMsgID: client}}, nil
		}
	}
	s, err := store.OpenSQLite(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(s.CreateVisitor(ctx, store.Visitor{ID: "v1", CreatedAt: at}),
		s.CreateConversation(ctx, store.Conversation{ID: "c1", VisitorID: "v1", State: store.Assigned, OpenedAt: store.At(at)})); err != nil {
		t.Fatal(err)
	}
	first, err := s.Update(ctx, "c1", msg(shopper, "m1", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "c1", msg(agent, "m1", "hi")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSQLite(t, path, zaptest.NewLogger(t))
	for _, tc := range []struct {
		name string
		fn   func(*store.Conversation) ([]store.Message, error)
		dup  bool
		seq  int64
	}{
		{"the shopper's m1 again", msg(shopper, "m1", "hello"), true, 1},
		{"the agent's m1 again", msg(agent, "m1", "hi"), true, 2},
		{"a new id", msg(shopper, "m2", "more"), false, 3},
		{"that one again", msg(shopper, "m2", "more"), true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := s.Update(ctx, "c1", tc.fn)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Duplicate != tc.dup || len(ch.Messages) != 1 || ch.Messages[0].Seq != tc.seq {
				t.Fatalf("Duplicate = %v, messages %+v; want %v with seq %d", ch.Duplicate, ch.Messages, tc.dup, tc.seq)
			}
		})
	}
	if tc := first.Messages[0]; tc.Seq != 1 {
		t.Fatalf("first message seq %d", tc.Seq)
	}
}

// TestSQLiteWriterStats: writes one after the other are a commit each, and
// the checkpointer's runs are counted.
func TestSQLiteWriterStats(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "daogou.db"), zaptest.NewLogger(t))
	before := s.WriterStats()
	const n = 5
	for i := range n {
		if err := s.CreateVisitor(ctx, store.Visitor{ID: fmt.Sprint("v", i), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.Checkpoint(s); err != nil {
		t.Fatal(err)
	}
	got := s.WriterStats()
	if c, r := got.Commits-before.Commits, got.Requests-before.Requests; c != n || r != n {
		t.Errorf("%d writes in turn: %d commits carrying %d requests, want %d and %d", n, c, r, n, n)
	}
	if got.CommitTime <= before.CommitTime {
		t.Errorf("commit time %v did not grow from %v", got.CommitTime, before.CommitTime)
	}
	if got.Checkpoints <= before.Checkpoints { // the ticker may have run one too
		t.Errorf("checkpoints %d, want more than %d", got.Checkpoints, before.Checkpoints)
	}
}

// TestSQLiteReplays: a batch runs without savepoints; when a request fails
// after writing, the batch runs again with them and its writes are undone
// alone, and the next CarefulBatches batches keep them (a failure among
// them is not replayed).
func TestSQLiteReplays(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t, filepath.Join(t.TempDir(), "daogou.db"), zaptest.NewLogger(t))
	conversation(t, s) // v1 with its conversation c1
	n := 0
	ok := func() error {
		n++
		return s.CreateVisitor(ctx, store.Visitor{ID: fmt.Sprint("ok", n), CreatedAt: at})
	}
	// The visitor is inserted, then the conversation's id is taken.
	failLate := func() error {
		n++
		v := store.Visitor{ID: fmt.Sprint("lost", n), CreatedAt: at}
		_, err := s.StartConversation(ctx, &v, store.Conversation{ID: "c1", VisitorID: v.ID, State: store.Queued}, store.Edit{})
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("start with a taken id: %v, want ErrConflict", err)
		}
		if _, err := s.Visitor(ctx, v.ID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("visitor of the failed start: %v, want ErrNotFound", err)
		}
		return nil
	}
	steps := []struct {
		name    string
		times   int
		write   func() error
		replays uint64
	}{
		{"writes that succeed", 3, ok, 0},
		{"a failure after a write", 1, failLate, 1},
		{"successes with savepoints", store.CarefulBatches - 1, ok, 1},
		{"a failure, the last batch with savepoints", 1, failLate, 1},
		{"a success without them", 1, ok, 1},
		{"a failure replayed", 1, failLate, 2},
	}
	before := s.WriterStats().Replays
	for _, st := range steps {
		for range st.times {
			if err := st.write(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		if got := s.WriterStats().Replays - before; got != st.replays {
			t.Fatalf("after %s: %d replays, want %d", st.name, got, st.replays)
		}
	}
	stored := 0
	for i := 1; i <= n; i++ {
		if _, err := s.Visitor(ctx, fmt.Sprint("ok", i)); err == nil {
			stored++
		}
	}
	if want := 3 + store.CarefulBatches - 1 + 1; stored != want {
		t.Fatalf("%d visitors of the writes that succeeded stored, want %d", stored, want)
	}
}

// TestSQLiteCarriedTimers: a message that changes only the timers leaves
// the conversation's row as it was and carries them; every read (the read
// pool's four, and the writer's after a reopen, through the next seq)
// sees the newest of the row and the last message.
func TestSQLiteCarriedTimers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "daogou.db")
	s, err := store.OpenSQLite(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	carriedTimers(t, s, func() store.Store {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = store.OpenSQLite(ctx, path, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// carriedTimers runs the steps of the carried timers on s, checking every
// read after each, and again after reopen (when not nil) gives a new store
// on the same data.
func carriedTimers(t *testing.T, s store.Store, reopen func() store.Store) {
	ctx := context.Background()
	conversation(t, s)
	turn := func(d time.Duration) rules.State {
		return rules.State{TurnStarted: at.Add(d), TurnDeadline: at.Add(d + 3*time.Second)}
	}
	msg := func(text string) store.Message {
		return store.Message{Author: store.Author{Kind: store.AuthorShopper, ID: "v1"}, Kind: "text", Text: text}
	}
	steps := []struct {
		name  string
		edit  func(c *store.Conversation) []store.Message
		seq   int64
		topic string
		state rules.State
	}{
		{"a message starts a turn", func(c *store.Conversation) []store.Message {
			c.Timers = turn(0)
			return []store.Message{msg("hello")}
		}, 1, "", turn(0)},
		{"another moves it", func(c *store.Conversation) []store.Message {
			c.Timers = turn(time.Second)
			return []store.Message{msg("anyone?")}
		}, 2, "", turn(time.Second)},
		{"a message with a new topic saves the row", func(c *store.Conversation) []store.Message {
			c.Topic, c.Timers = "shoes", turn(2*time.Second)
			return []store.Message{msg("shoes")}
		}, 3, "shoes", turn(2 * time.Second)},
		{"timers alone save the row", func(c *store.Conversation) []store.Message {
			c.Timers.TurnHeld = true
			return nil
		}, 3, "shoes", rules.State{TurnStarted: at.Add(2 * time.Second), TurnDeadline: at.Add(5 * time.Second), TurnHeld: true}},
		{"two messages stop them", func(c *store.Conversation) []store.Message {
			c.Timers = rules.State{}
			return []store.Message{msg("one"), msg("two")}
		}, 5, "shoes", rules.State{}},
		{"a message starts them again", func(c *store.Conversation) []store.Message {
			c.Timers = turn(9 * time.Second)
			return []store.Message{msg("three")}
		}, 6, "shoes", turn(9 * time.Second)},
	}
	check := func(when string, seq int64, topic string, state rules.State) {
		t.Helper()
		one, err1 := s.Conversation(ctx, "c1")
		open, err2 := s.OpenConversation(ctx, "v1")
		all, err3 := s.OpenConversations(ctx)
		mine, err4 := s.VisitorConversations(ctx, "v1", 0)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if len(all) != 1 || len(mine) != 1 {
			t.Fatalf("%s: %d open, %d of the visitor; want 1 each", when, len(all), len(mine))
		}
		for i, c := range []store.Conversation{one, open, all[0], mine[0]} {
			if c.ID != "c1" || c.LastSeq != seq || c.Topic != topic || !reflect.DeepEqual(c.Timers, state) {
				t.Fatalf("%s, read %d: %s seq %d topic %q timers %+v; want seq %d topic %q timers %+v",
					when, i, c.ID, c.LastSeq, c.Topic, c.Timers, seq, topic, state)
			}
		}
	}
	for _, st := range steps {
		ch, err := s.Update(ctx, "c1", func(c *store.Conversation) ([]store.Message, error) { return st.edit(c), nil })
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if ch.Conversation.LastSeq != st.seq {
			t.Fatalf("%s: change says seq %d, want %d", st.name, ch.Conversation.LastSeq, st.seq)
		}
		check(st.name, st.seq, st.topic, st.state)
		if reopen != nil { // a new writer reads the conversation
			s = reopen()
			check(st.name+", reopened", st.seq, st.topic, st.state)
		}
	}
	ch, err := s.Update(ctx, "c1", func(c *store.Conversation) ([]store.Message, error) {
		if !reflect.DeepEqual(c.Timers, turn(9*time.Second)) {
			return nil, fmt.Errorf("writer read timers %+v", c.Timers)
		}
		return []store.Message{msg("after a reopen")}, nil
	})
	if err != nil || ch.Messages[0].Seq != 7 {
		t.Fatalf("a message after the steps: %v, %+v; want seq 7", err, ch.Messages)
	}
}
