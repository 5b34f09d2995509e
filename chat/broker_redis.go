package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Redis broker settings.
const (
	// DefaultRedisPrefix is put before every channel name by NewRedisBroker,
	// so that Daogou's channels do not meet another application's.
	DefaultRedisPrefix = "daogou:"

	// publishBatch is the most PUBLISH commands sent in one pipeline.
	publishBatch = 512
	// subscribeChunk is the most channels named in one SUBSCRIBE.
	subscribeChunk = 512
	// changeBatch is the most Subscribe/Unsubscribe calls coalesced at once.
	changeBatch = 1024

	// healthInterval is how often the pub/sub connection is pinged; a ping
	// unanswered by the next one counts as a lost connection.
	healthInterval = 15 * time.Second
	// redisPingTimeout bounds Ping, which serves /readyz.
	redisPingTimeout = 2 * time.Second
	// Reconnect backoff: doubled after each failed attempt, with jitter.
	reconnectMin = 50 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// ErrBrokerUnavailable is returned by Subscribe and Ping while the broker
// cannot reach Redis. Channels passed to a failed Subscribe stay wanted: they
// are subscribed when the connection returns and reported to the
// resubscribed handler.
var ErrBrokerUnavailable = errors.New("chat: message broker unavailable")

// ErrBrokerNotStarted is returned by a Redis broker used before Start.
var ErrBrokerNotStarted = errors.New("chat: broker not started")

// ErrBrokerStarted is returned by a second call to Start.
var ErrBrokerStarted = errors.New("chat: broker already started")

// RedisBroker is a Broker on Redis pub/sub: every instance on the same Redis
// and prefix sees what any of them publishes.
//
// All of an instance's subscriptions share one pub/sub connection. Subscribe
// and Unsubscribe calls made at the same time are sent as one command and
// return once Redis has confirmed them, so a publish made after Subscribe
// returns is delivered. When the connection breaks the broker reconnects with
// backoff, subscribes every channel still wanted and then calls the
// resubscribed handler with them. Publish calls made at the same time are sent
// in one pipeline.
//
// The deliver handler runs on the goroutine that reads the connection, one
// payload at a time in the order Redis sent them; it must not block for long
// nor wait on Subscribe or Unsubscribe. The resubscribed handler runs on a
// goroutine of its own.
type RedisBroker struct {
	client redis.UniversalClient
	owned  bool // Close closes client
	prefix string
	log    *zap.Logger

	started atomic.Bool
	down    atomic.Bool // the last connection attempt failed
	changes chan *subChange
	pubs    chan *pubReq
	done    chan struct{}
	ctx     context.Context // cancelled by Close; bounds dialling
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// NewRedisBroker connects to the Redis at url (redis://host:port/db, or
// rediss:// for TLS) with the channel prefix DefaultRedisPrefix. Nothing is
// dialled before Start. Close closes the client it opens.
func NewRedisBroker(url string, log *zap.Logger) (*RedisBroker, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("chat: redis broker url: %w", err)
	}
	b := NewRedisBrokerClient(redis.NewClient(opts), DefaultRedisPrefix, log)
	b.owned = true
	return b, nil
}

// NewRedisBrokerClient makes a broker on a client the caller owns: Close
// leaves the client open. prefix is put before every channel name in Redis
// and taken off again before delivery. A nil log logs nothing.
func NewRedisBrokerClient(client redis.UniversalClient, prefix string, log *zap.Logger) *RedisBroker {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &RedisBroker{
		client:  client,
		prefix:  prefix,
		log:     log,
		changes: make(chan *subChange),
		pubs:    make(chan *pubReq),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
}

// Start connects the pub/sub connection in the background and starts the
// publisher. A nil handler is treated as one that does nothing.
func (b *RedisBroker) Start(deliver func(channel string, payload []byte), resubscribed func(channels []string)) error {
	if b.closed() {
		return ErrBrokerClosed
	}
	if !b.started.CompareAndSwap(false, true) {
		return ErrBrokerStarted
	}
	if deliver == nil {
		deliver = func(string, []byte) {}
	}
	if resubscribed == nil {
		resubscribed = func([]string) {}
	}
	s := &subscriber{
		b: b, deliver: deliver, resubscribed: resubscribed,
		events:   make(chan subEvent, 256),
		wanted:   make(map[string]struct{}),
		sent:     make(map[string]bool),
		inflight: make(map[string]int),
		waiters:  make(map[string][]*subChange),
	}
	b.wg.Add(2)
	go func() { defer b.wg.Done(); s.run() }()
	go func() { defer b.wg.Done(); b.writeLoop() }()
	return nil
}

func (b *RedisBroker) closed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// Close stops every goroutine of the broker and closes its pub/sub
// connection, and the client too when NewRedisBroker opened it. A publish
// already handed to Redis is finished first. Close may be called again.
func (b *RedisBroker) Close() error {
	var err error
	b.once.Do(func() {
		close(b.done)
		b.cancel()
		b.wg.Wait()
		if b.owned {
			if cerr := b.client.Close(); cerr != nil {
				err = fmt.Errorf("chat: close redis client: %w", cerr)
			}
		}
		b.log.Info("redis broker closed")
	})
	return err
}

// errDown is returned while the last attempt to connect to Redis failed.
var errDown = fmt.Errorf("%w: cannot connect to Redis", ErrBrokerUnavailable)

// Ping checks that the pub/sub connection is not down and that Redis
// answers within a short time.
func (b *RedisBroker) Ping(ctx context.Context) error {
	if b.closed() {
		return ErrBrokerClosed
	}
	if b.down.Load() {
		return errDown
	}
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: ping: %w", ErrBrokerUnavailable, err)
	}
	return nil
}

// A pubReq is one Publish call waiting for its pipeline.
type pubReq struct {
	channel string
	payload []byte
	res     chan error
}

var pubReqs = sync.Pool{New: func() any { return &pubReq{res: make(chan error, 1)} }}

// Publish sends payload on channel. Calls made at the same time share one
// pipeline. ctx is respected until the payload is handed to the publisher;
// from then on the call waits for Redis's answer, which the client's read
// and write timeouts bound. The payload is not kept after Publish returns.
// While the broker cannot connect to Redis, Publish fails at once with
// ErrBrokerUnavailable.
func (b *RedisBroker) Publish(ctx context.Context, channel string, payload []byte) error {
	if b.closed() {
		return ErrBrokerClosed
	}
	if !b.started.Load() {
		return ErrBrokerNotStarted
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("chat: redis publish: %w", err)
	}
	if b.down.Load() {
		return errDown
	}
	r := pubReqs.Get().(*pubReq)
	r.channel, r.payload = channel, payload
	var err error
	select {
	case b.pubs <- r:
		err = <-r.res
	case <-ctx.Done():
		err = fmt.Errorf("chat: redis publish: %w", ctx.Err())
	case <-b.done:
		err = ErrBrokerClosed
	}
	r.channel, r.payload = "", nil
	pubReqs.Put(r)
	return err
}

// writeLoop is the only publisher: it takes every Publish call waiting at
// the moment, up to publishBatch, and sends them in one pipeline.
func (b *RedisBroker) writeLoop() {
	batch := make([]*pubReq, 0, publishBatch)
	for {
		select {
		case r := <-b.pubs:
			batch = append(batch[:0], r)
		case <-b.done:
			return
		}
	more:
		for len(batch) < publishBatch {
			select {
			case r := <-b.pubs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		b.flush(batch)
	}
}

func (b *RedisBroker) flush(batch []*pubReq) {
	// Not b.ctx: a batch already taken is finished even while closing.
	ctx := context.Background()
	pipe := b.client.Pipeline()
	for _, r := range batch {
		pipe.Publish(ctx, b.prefix+r.channel, r.payload)
	}
	cmds, err := pipe.Exec(ctx)
	for i, r := range batch {
		e := err
		if i < len(cmds) {
			e = cmds[i].Err()
		}
		if e != nil {
			e = fmt.Errorf("chat: redis publish: %w", e)
		}
		r.res <- e
	}
}

// A subChange is one Subscribe or Unsubscribe call. The subscriber owns it
// once received; pending counts its channels not yet confirmed.
type subChange struct {
	subscribe bool
	channels  []string
	pending   int
	settled   bool
	res       chan error
}

// Subscribe adds channels and returns once Redis has confirmed them. While
// Redis is unreachable it returns ErrBrokerUnavailable at once and keeps the
// channels for when the connection returns.
func (b *RedisBroker) Subscribe(ctx context.Context, channels ...string) error {
	return b.change(ctx, true, channels)
}

// Unsubscribe drops channels and returns once Redis has confirmed it: no
// payload of theirs is delivered after it returns.
func (b *RedisBroker) Unsubscribe(ctx context.Context, channels ...string) error {
	return b.change(ctx, false, channels)
}

func (b *RedisBroker) change(ctx context.Context, subscribe bool, channels []string) error {
	if b.closed() {
		return ErrBrokerClosed
	}
	if !b.started.Load() {
		return ErrBrokerNotStarted
	}
	if len(channels) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("chat: redis subscription: %w", err)
	}
	channels = slices.Compact(slices.Sorted(slices.Values(channels)))
	c := &subChange{subscribe: subscribe, channels: channels, res: make(chan error, 1)}
	select {
	case b.changes <- c:
	case <-ctx.Done():
		return fmt.Errorf("chat: redis subscription: %w", ctx.Err())
	case <-b.done:
		return ErrBrokerClosed
	}
	select {
	case err := <-c.res:
		return err
	case <-ctx.Done():
		return fmt.Errorf("chat: redis subscription: %w", ctx.Err())
	case <-b.done:
		return ErrBrokerClosed
	}
}

// A subEvent is what a connection's reader tells the subscriber.
type subEvent struct {
	gen     int
	kind    string // "subscribe", "unsubscribe", "pong" or "" with err
	channel string // without the prefix
	err     error
}
