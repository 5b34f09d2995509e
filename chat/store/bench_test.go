package store_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/store"
)

// benchConversations is how many conversations the appends spread over.
const benchConversations = 64

// benchAppend appends one message per Update to benchConversations
// conversations, from 1, 16 and 128 goroutines per CPU: group commit and
// row locks pay off as writers wait together.
func benchAppend(b *testing.B, s store.Store) {
	ctx := context.Background()
	opened := time.Now()
	for _, perCPU := range []int{1, 16, 128} {
		prefix := fmt.Sprintf("w%d-", perCPU)
		for i := range benchConversations {
			v := fmt.Sprintf("%sv%d", prefix, i)
			if err := s.CreateVisitor(ctx, store.Visitor{ID: v, CreatedAt: opened}); err != nil {
				b.Fatal(err)
			}
			if err := s.CreateConversation(ctx, store.Conversation{ID: "c" + v, VisitorID: v, State: store.Assigned,
				OpenedAt: store.At(opened)}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("writers=%d", perCPU*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			benchAppendParallel(b, s, prefix, perCPU)
		})
	}
}

func benchAppendParallel(b *testing.B, s store.Store, prefix string, perCPU int) {
	ctx := context.Background()
	var next, seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(perCPU)
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		v := fmt.Sprintf("%sv%d", prefix, next.Add(1)%benchConversations)
		id, author := "c"+v, store.Author{Kind: store.AuthorShopper, ID: v}
		for pb.Next() {
			n := seq.Add(1)
			_, err := s.Update(ctx, id, func(c *store.Conversation) ([]store.Message, error) {
				return []store.Message{{Author: author, Kind: "text", Text: "where is my order?",
					ClientMsgID: fmt.Sprint(n)}}, nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, cpu, "appends/s")
}

// reportRate stops the timer and reports the process's CPU per operation
// (callers included: operations per core-second is 1e6 / it) and the rate.
func reportRate(b *testing.B, cpu time.Duration, unit string) {
	b.StopTimer()
	if used := cpuTime() - cpu; used > 0 {
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// benchStart stores new shoppers as a connect storm does: a visitor, its
// conversation and the greeting with its rule event, one transaction each,
// from 128 goroutines per CPU.
func benchStart(b *testing.B, s store.Store) {
	ctx := context.Background()
	var n atomic.Int64
	greeting := store.Edit{
		Messages: []store.Message{{Author: store.Author{Kind: store.AuthorSystem, ID: "daogou", Name: "Shop"}, Kind: "system", Auto: true,
			ScriptID: "greeting.queued.en.1", Text: "Hi there, thanks for stopping by! Everyone is helping other shoppers right now: you are number 3 in line, about 1 minute."}},
		Events: []store.Event{{Rule: "greeting", Kind: "breached", Action: "auto_greeting"}},
	}
	b.ReportAllocs()
	b.SetParallelism(128)
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			v := store.Visitor{ID: store.NewID(), TokenHash: fmt.Sprintf("th-%d", n.Add(1)), Name: "Ann", CreatedAt: now}
			c := store.Conversation{ID: store.NewID(), VisitorID: v.ID, VisitorName: v.Name, State: store.Queued, Locale: "en", OpenedAt: store.At(now)}
			if _, err := s.StartConversation(ctx, &v, c, greeting); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, cpu, "starts/s")
}
