package chat_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// testDirectory runs the same assertions against every Directory.
func testDirectory(t *testing.T, newDir func(t *testing.T) chat.Directory) {
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	agent := func(id string, capacity int) store.Agent {
		return store.Agent{ID: id, Name: id, Role: chat.AccountAgent, Skills: []string{"en"}, Capacity: capacity, CreatedAt: now}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, d chat.Directory)
	}{
		{"capacity holds and release frees", func(t *testing.T, d chat.Directory) {
			must(t, d.Upsert(ctx, agent("a1", 2)))
			_, err := d.Connect(ctx, "a1", now)
			must(t, err)
			var got []bool
			for range 3 {
				_, ok, err := d.Assign(ctx, routing.Request{Locale: "en"})
				must(t, err)
				got = append(got, ok)
			}
			if !got[0] || !got[1] || got[2] {
				t.Fatalf("assignments %v, want two then none", got)
			}
			must(t, d.Release(ctx, "a1", now))
			if _, ok, _ := d.Assign(ctx, routing.Request{Locale: "en"}); !ok {
				t.Fatal("no assignment after a release")
			}
		}},
		{"no console, away or wrong skill: no shoppers", func(t *testing.T, d chat.Directory) {
			must(t, d.Upsert(ctx, agent("a1", 5)))
			if _, ok, _ := d.Assign(ctx, routing.Request{Locale: "en"}); ok {
				t.Fatal("assigned to an agent with no console")
			}
			_, err := d.Connect(ctx, "a1", now)
			must(t, err)
			if _, ok, _ := d.Assign(ctx, routing.Request{Locale: "zh-CN"}); ok {
				t.Fatal("assigned a locale the agent lacks")
			}
			must(t, d.SetStatus(ctx, "a1", routing.Away, now))
			if _, ok, _ := d.Assign(ctx, routing.Request{Locale: "en"}); ok {
				t.Fatal("assigned to an away agent")
			}
			if ok, _ := d.Take(ctx, "a1"); ok {
				t.Fatal("an away agent took a transfer")
			}
		}},
		{"fair queue with places", func(t *testing.T, d chat.Directory) {
			must(t, d.Upsert(ctx, agent("a1", 1)))
			for i, id := range []string{"c1", "c2", "c3"} {
				back, err := d.Back(ctx)
				must(t, err)
				must(t, d.Enqueue(ctx, routing.Entry{ConversationID: id, Since: now.Add(time.Duration(i) * time.Second), Req: routing.Request{Locale: "en"}}))
				p, err := d.Place(ctx, id)
				must(t, err)
				if back.Position != i+1 || back.Position != p.Position || back.Wait != p.Wait {
					t.Fatalf("back of the queue before %s = %+v, its place after = %+v", id, back, p)
				}
			}
			must(t, d.Enqueue(ctx, routing.Entry{ConversationID: "c1", Since: now.Add(time.Hour)}))
			p, err := d.Place(ctx, "c2")
			must(t, err)
			if p.Position != 2 || p.Wait <= 0 {
				t.Fatalf("place of c2 = %+v", p)
			}
			if moved, _ := d.Moved(ctx); len(moved) != 3 {
				t.Fatalf("first Moved = %+v, want all three", moved)
			}
			if moved, _ := d.Moved(ctx); len(moved) != 0 {
				t.Fatalf("second Moved = %+v, want none", moved)
			}
			if _, _, ok, _ := d.Next(ctx); ok {
				t.Fatal("Next with nobody online")
			}
			_, err = d.Connect(ctx, "a1", now)
			must(t, err)
			e, id, ok, err := d.Next(ctx)
			must(t, err)
			if !ok || e.ConversationID != "c1" || id != "a1" {
				t.Fatalf("Next = %+v %s %v", e, id, ok)
			}
			if _, _, ok, _ := d.Next(ctx); ok {
				t.Fatal("Next past the agent's capacity")
			}
			must(t, d.Dequeue(ctx, "c2"))
			if p, _ := d.Place(ctx, "c3"); p.Position != 1 {
				t.Fatalf("place of c3 = %+v", p)
			}
			if n, oldest, _ := d.QueueInfo(ctx); n != 1 || !oldest.Equal(now.Add(2*time.Second)) {
				t.Fatalf("queue info %d %v", n, oldest)
			}
		}},
		{"moved places: only those behind a change, each told once", func(t *testing.T, d chat.Directory) {
			places := func() map[string]int {
				t.Helper()
				moved, err := d.Moved(ctx)
				must(t, err)
				out := map[string]int{}
				for _, q := range moved {
					out[q.ConversationID] = q.Position
				}
				return out
			}
			for i := range 6 {
				must(t, d.Enqueue(ctx, routing.Entry{ConversationID: fmt.Sprint("c", i), VisitorID: fmt.Sprint("v", i), Since: now.Add(time.Duration(i) * time.Second)}))
			}
			if got := places(); len(got) != 6 || got["c0"] != 1 || got["c5"] != 6 {
				t.Fatalf("first places = %v", got)
			}
			// Joining the back tells the newcomer only.
			must(t, d.Enqueue(ctx, routing.Entry{ConversationID: "c6", Since: now.Add(time.Minute)}))
			if got := places(); len(got) != 1 || got["c6"] != 7 {
				t.Fatalf("after joining the back = %v", got)
			}
			// Leaving from the middle moves everyone behind, no one before.
			must(t, d.Dequeue(ctx, "c3"))
			if got := places(); len(got) != 3 || got["c4"] != 4 || got["c5"] != 5 || got["c6"] != 6 {
				t.Fatalf("after c3 left = %v", got)
			}
			// An older entry (a requeue keeps its original time) goes ahead.
			must(t, d.Enqueue(ctx, routing.Entry{ConversationID: "old", Since: now.Add(-time.Hour)}))
			if got := places(); len(got) != 7 || got["old"] != 1 || got["c0"] != 2 || got["c6"] != 7 {
				t.Fatalf("after an older entry = %v", got)
			}
			if got := places(); len(got) != 0 {
				t.Fatalf("nothing changed, yet moved = %v", got)
			}
			// A new conversation joins the back even when its clock read
			// a little earlier than the newest entry's (a slower commit).
			must(t, d.Enqueue(ctx, routing.Entry{ConversationID: "slow", Since: now.Add(30 * time.Second), Back: true}))
			must(t, d.Enqueue(ctx, routing.Entry{ConversationID: "tie", Since: now.Add(time.Minute), Back: true}))
			if got := places(); len(got) != 2 || got["slow"] != 8 || got["tie"] != 9 {
				t.Fatalf("after joining the back late = %v", got)
			}
			moved, _ := d.Moved(ctx)
			if len(moved) != 0 {
				t.Fatalf("moved = %+v", moved)
			}
		}},
		{"drain past a long queue nobody can take", func(t *testing.T, d chat.Directory) {
			must(t, d.Upsert(ctx, agent("a1", 1))) // speaks en only
			for i := range 600 {
				must(t, d.Enqueue(ctx, routing.Entry{ConversationID: fmt.Sprintf("zh%03d", i), Since: now.Add(time.Duration(i) * time.Millisecond), Req: routing.Request{Locale: "zh-CN"}}))
			}
			must(t, d.Enqueue(ctx, routing.Entry{ConversationID: "en-late", VisitorID: "v-en", Since: now.Add(time.Hour), Req: routing.Request{Locale: "en"}}))
			_, err := d.Connect(ctx, "a1", now)
			must(t, err)
			e, id, ok, err := d.Next(ctx)
			must(t, err)
			if !ok || e.ConversationID != "en-late" || e.VisitorID != "v-en" || id != "a1" {
				t.Fatalf("Next = %+v %s %v, want en-late behind 600 others", e, id, ok)
			}
			if n, _, _ := d.QueueInfo(ctx); n != 600 {
				t.Fatalf("queue length %d, want 600", n)
			}
		}},
		{"presence: online, disconnect, expire once", func(t *testing.T, d chat.Directory) {
			must(t, d.Upsert(ctx, agent("a1", 5)))
			came, err := d.Connect(ctx, "a1", now)
			must(t, err)
			if !came {
				t.Fatal("first console did not bring the agent online")
			}
			if came, _ := d.Connect(ctx, "a1", now); came {
				t.Fatal("a second console counted as coming online")
			}
			if last, _ := d.Disconnect(ctx, "a1", now); last {
				t.Fatal("one console left, reported as last")
			}
			if gone, _ := d.Expire(ctx, "a1", now); gone {
				t.Fatal("expired with a console connected")
			}
			if last, _ := d.Disconnect(ctx, "a1", now); !last {
				t.Fatal("last console not reported")
			}
			if gone, _ := d.Expire(ctx, "a1", now); !gone {
				t.Fatal("not expired without consoles")
			}
			if gone, _ := d.Expire(ctx, "a1", now); gone {
				t.Fatal("expired twice")
			}
			views, err := d.Views(ctx)
			must(t, err)
			if len(views) != 1 || views[0].Status != routing.Offline || views[0].Sessions != 0 {
				t.Fatalf("views = %+v", views)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newDir(t)) })
	}
}

func TestMemoryDirectory(t *testing.T) {
	testDirectory(t, func(*testing.T) chat.Directory { return chat.NewMemoryDirectory() })
}

func newRedisDirectory(t *testing.T, prefix, instance string) *chat.RedisDirectory {
	t.Helper()
	rdb := newRedisClient(t, redisOptions(t), instance)
	d := chat.NewRedisDirectory(rdb, prefix, instance, zaptest.NewLogger(t))
	if err := d.Start(context.Background(), func([]string) {}, func() {}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestRedisDirectory(t *testing.T) {
	testDirectory(t, func(t *testing.T) chat.Directory { return newRedisDirectory(t, unique(t)+":", "i1") })
}

// Two instances assigning at once never put an agent over capacity.
func TestRedisDirectoryCapacityAcrossInstances(t *testing.T) {
	prefix := unique(t) + ":"
	a, b := newRedisDirectory(t, prefix, "a"), newRedisDirectory(t, prefix, "b")
	ctx := context.Background()
	if err := a.Upsert(ctx, store.Agent{ID: "mei", Role: chat.AccountAgent, Capacity: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Connect(ctx, "mei", time.Now()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var won atomic.Int32
	for i := range 40 {
		d := a
		if i%2 == 1 {
			d = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok, err := d.Assign(ctx, routing.Request{}); err == nil && ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 5 {
		t.Fatalf("%d assignments, want exactly the capacity 5", won.Load())
	}
	views, _ := b.Views(ctx)
	if views[0].Load != 5 || views[0].Sessions != 1 {
		t.Fatalf("seen from b: %+v", views[0])
	}
}

// The lease is renewed while every connection of the shared pool is busy
// (each held by a blocking read here, as a burst of traffic holds them):
// its renewal has connections of its own.
func TestRedisDirectoryLeaseWithPoolBusy(t *testing.T) {
	opts := redisOptions(t)
	o := *opts
	o.PoolSize, o.PoolTimeout = 2, 10*time.Second
	rdb := newRedisClient(t, &o, "busy")
	prefix := unique(t) + ":"
	d := chat.NewRedisDirectory(rdb, prefix, "i1", zaptest.NewLogger(t))
	t.Cleanup(func() { d.Close() })
	admin := newRedisClient(t, opts, "admin")
	ctx := context.Background()

	var held sync.WaitGroup
	for range o.PoolSize {
		held.Add(1)
		go func() {
			defer held.Done()
			rdb.BLPop(ctx, 0, prefix+"release")
		}()
	}
	defer func() {
		admin.RPush(ctx, prefix+"release", make([]any, o.PoolSize)...)
		held.Wait()
	}()
	waitFor(t, "the pool held", func() bool { return rdb.PoolStats().TotalConns == uint32(o.PoolSize) && rdb.PoolStats().IdleConns == 0 })

	hb, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := d.Heartbeat(hb); err != nil {
		t.Fatalf("renewing the lease with the shared pool busy: %v", err)
	}
	score, err := admin.ZScore(ctx, prefix+"instances", "i1").Result()
	if err != nil || time.UnixMilli(int64(score)).Before(time.Now()) {
		t.Fatalf("lease %v, %v: want one that runs out later", time.UnixMilli(int64(score)), err)
	}
}
