package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/store"
)

// benchConversations is how many conversations the appends spread over.
const benchConversations = 64

// benchAppend appends one message per Update from many goroutines (16 per
// CPU) to benchConversations conversations.
func benchAppend(b *testing.B, s store.Store) {
	ctx := context.Background()
	opened := time.Now()
	for i := range benchConversations {
		v := fmt.Sprintf("v%d", i)
		if err := s.CreateVisitor(ctx, store.Visitor{ID: v, CreatedAt: opened}); err != nil {
			b.Fatal(err)
		}
		if err := s.CreateConversation(ctx, store.Conversation{ID: "c" + v, VisitorID: v, State: store.Assigned,
			OpenedAt: store.At(opened)}); err != nil {
			b.Fatal(err)
		}
	}
	var next, seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("cv%d", next.Add(1)%benchConversations)
		author := store.Author{Kind: store.AuthorShopper, ID: id[1:]}
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
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
