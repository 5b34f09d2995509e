package chat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// TestMemoryDirectoryPoolInStep drives a directory through random changes
// and checks that its pool decides as routing.Assign over the accounts as
// routableLocked sees them.
func TestMemoryDirectoryPoolInStep(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	d := NewMemoryDirectory()
	ids := make([]string, 12)
	for i := range ids {
		ids[i] = fmt.Sprintf("a%d", i)
	}
	for step := range 4000 {
		now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
		id := ids[rng.IntN(len(ids))]
		switch rng.IntN(10) {
		case 0:
			a := store.Agent{ID: id, Role: pick(AccountAgent, AccountAgent, AccountSupervisor), Capacity: rng.IntN(4)}
			for range rng.IntN(3) {
				a.Skills = append(a.Skills, pick("en", "zh-CN", "sales"))
			}
			d.Upsert(ctx, a)
		case 1:
			d.Connect(ctx, id, now)
		case 2:
			d.Disconnect(ctx, id, now)
		case 3:
			d.Expire(ctx, id, now)
		case 4:
			d.SetStatus(ctx, id, routing.Status(pick(string(routing.Online), string(routing.Away), string(routing.Offline))), now)
		case 5:
			d.Take(ctx, id)
		case 6, 7:
			d.Release(ctx, id, now)
		case 8:
			d.Enqueue(ctx, routing.Entry{ConversationID: fmt.Sprint("c", step), Since: now, Req: routing.Request{Locale: pick("", "en")}})
			d.Next(ctx)
		}
		req := routing.Request{Locale: pick("", "en", "zh-CN"), Topic: pick("", "sales"), Exclude: pick("", ids[0], ids[1])}
		d.mu.Lock()
		want := ""
		if agents := d.routableLocked(); len(agents) > 0 {
			if i := routing.Assign(req, agents); i >= 0 {
				want = agents[i].ID
			}
		}
		got, _ := d.pool.Assign(req)
		d.mu.Unlock()
		if got != want {
			t.Fatalf("step %d: pool chose %q for %+v, routing.Assign %q", step, got, req, want)
		}
		if rng.IntN(4) == 0 {
			d.Assign(ctx, req)
		}
		if step%100 == 0 {
			checkViews(t, d, ids)
		}
	}
}

// checkViews: View of each account is its entry in Views, and an unknown
// id has none.
func checkViews(t *testing.T, d *MemoryDirectory, ids []string) {
	t.Helper()
	ctx := context.Background()
	views, _ := d.Views(ctx)
	all := map[string]agentView{}
	for _, v := range views {
		all[v.ID] = v
	}
	for _, id := range append(ids, "nobody") {
		got, ok := d.View(ctx, id)
		want, known := all[id]
		if ok != known || !reflect.DeepEqual(got, want) {
			t.Fatalf("View(%q) = %+v, %v; Views has %+v, %v", id, got, ok, want, known)
		}
	}
}
