package chat

import (
	"context"
	"time"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// Directory is who can take shoppers, shared by every instance that uses
// it: each account's presence, status and load, and the one queue of
// waiting conversations. Choosing an agent and counting the conversation on
// it is one atomic step, so capacity holds across instances. The routing
// decisions are routing's (pure); a Directory only keeps the state.
//
// MemoryDirectory serves one instance; RedisDirectory makes a cluster.
type Directory interface {
	// Upsert adds an account or refreshes its profile (skills, capacity).
	Upsert(ctx context.Context, a store.Agent) error
	// Connect counts a console session of an agent on this instance; the
	// agent comes online unless it chose another status.
	Connect(ctx context.Context, agentID string, now time.Time) (cameOnline bool, err error)
	// Disconnect uncounts a session; last says the agent has none left on
	// any instance.
	Disconnect(ctx context.Context, agentID string, now time.Time) (last bool, err error)
	// Expire takes an agent offline when it still has no session anywhere;
	// it reports whether it did.
	Expire(ctx context.Context, agentID string, now time.Time) (bool, error)
	// SetStatus applies an agent's own status choice.
	SetStatus(ctx context.Context, agentID string, st routing.Status, now time.Time) error

	// Assign picks an agent for req and counts the conversation on it.
	Assign(ctx context.Context, req routing.Request) (agentID string, ok bool, err error)
	// Take counts a conversation on a named agent if it is online with room.
	Take(ctx context.Context, agentID string) (bool, error)
	// Release uncounts a conversation from an agent.
	Release(ctx context.Context, agentID string, now time.Time) error
	// Handled records how long a closed conversation took.
	Handled(ctx context.Context, d time.Duration) error

	// Enqueue adds a waiting conversation (no-op if queued already).
	Enqueue(ctx context.Context, e routing.Entry) error
	// Dequeue removes a conversation from the queue.
	Dequeue(ctx context.Context, convID string) error
	// Next takes the oldest waiting conversation some agent can serve now
	// off the queue and counts it on that agent.
	Next(ctx context.Context) (routing.Entry, string, bool, error)
	// Place is a conversation's place in the queue (Position 0: not queued).
	Place(ctx context.Context, convID string) (queuePlace, error)
	// Back is the place a conversation joining the back of the queue now
	// would take (told before it is stored, and so before it is queued).
	Back(ctx context.Context) (queuePlace, error)
	// Moved lists waiting conversations whose position changed since they
	// were last told, and remembers the new positions as told.
	Moved(ctx context.Context) ([]queuePlace, error)
	// QueueInfo is the queue's length and its oldest entry's time.
	QueueInfo(ctx context.Context) (int, time.Time, error)

	// Views lists every account with its live state, in creation order.
	Views(ctx context.Context) ([]agentView, error)
	// View is one account's view; false when the account is unknown or the
	// directory cannot answer.
	View(ctx context.Context, id string) (agentView, bool)
}

// Rebuilder is a Directory whose shared state can be lost (a Redis
// restart): Rebuild restores accounts, loads and the queue from the store.
type Rebuilder interface {
	Rebuild(ctx context.Context, agents []store.Agent, open []store.Conversation) error
}

// queuePlace is a waiting conversation's position and estimated wait.
type queuePlace struct {
	ConversationID string
	VisitorID      string // filled by Moved, for telling the shopper
	Position       int
	Wait           time.Duration
	// Version orders the answers of Moved: a shopper keeps the newest.
	Version int64
}

// agentView is an account as the wire shows it.
type agentView struct {
	store.Agent
	Status      routing.Status `json:"status"`
	Load        int            `json:"load"`
	Sessions    int            `json:"sessions"` // connected consoles (0: reconnecting or gone)
	OnlineSince store.Time     `json:"online_since"`
	Today       *dayCounts     `json:"today,omitempty"`
}

// waitFor estimates the wait of a queue position from the online capacity.
func waitFor(pos int, mean time.Duration, agents []routing.Agent) time.Duration {
	slots := 0
	for _, a := range agents {
		if a.Status == routing.Online {
			slots += a.Capacity
		}
	}
	return routing.EstimateWait(pos, mean, max(slots, 1))
}

// Cluster is a Directory shared by instances. Start joins: onGone is called
// with the agents whose consoles went with a dead instance, onBack when the
// shared state answers again after a failure. Close leaves.
type Cluster interface {
	Start(ctx context.Context, onGone func(orphans []string), onBack func()) error
	Close() error
}
