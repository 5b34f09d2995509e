package chat

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/daogou/daogou/chat/store"
)

// eventStore stores events all or none, as the real stores do, and fails a
// batch holding an event of conversation "gone".
type eventStore struct {
	store.Store
	calls  [][]string
	stored []string
}

func (s *eventStore) AddEvents(_ context.Context, es ...store.Event) error {
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ConversationID)
	}
	s.calls = append(s.calls, ids)
	if slices.Contains(ids, "gone") {
		return store.ErrNotFound
	}
	s.stored = append(s.stored, ids...)
	return nil
}

func TestStoreEventsBatchFallsBackOneByOne(t *testing.T) {
	for _, tc := range []struct {
		name       string
		batch      []string
		wantStored []string
		wantCalls  int
	}{
		{"one batch, one transaction", []string{"c1", "c2", "c3"}, []string{"c1", "c2", "c3"}, 1},
		{"a bad event does not lose the others", []string{"c1", "gone", "c3"}, []string{"c1", "c3"}, 4},
		{"a bad event alone is logged, not retried", []string{"gone"}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &eventStore{}
			h := &Hub{store: s, log: zaptest.NewLogger(t)}
			var evs []store.Event
			for _, id := range tc.batch {
				evs = append(evs, store.Event{ConversationID: id, Rule: "greeting", Kind: "met"})
			}
			h.storeEvents(context.Background(), evs)
			if !slices.Equal(s.stored, tc.wantStored) || len(s.calls) != tc.wantCalls {
				t.Fatalf("stored %v in %d calls %v; want %v in %d", s.stored, len(s.calls), s.calls, tc.wantStored, tc.wantCalls)
			}
		})
	}
}
