package chat_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/brokertest"
)

// redisOptions returns the options of the test Redis (DAOGOU_TEST_REDIS,
// by default the local one). Without a reachable Redis the test skips, or
// fails in CI.
func redisOptions(tb testing.TB) *redis.Options {
	tb.Helper()
	url := os.Getenv("DAOGOU_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("DAOGOU_TEST_REDIS=%q: %v", url, err)
	}
	probe := redis.NewClient(opts)
	defer probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := probe.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("Redis not reachable at %s in CI: %v", url, err)
		}
		tb.Skipf("Redis not reachable at %s: set DAOGOU_TEST_REDIS or start redis-server (%v)", url, err)
	}
	return opts
}

// unique makes a name no other test run uses.
func unique(tb testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_").Replace(tb.Name())
	return fmt.Sprintf("daogou-test:%s:%x", name, b)
}

// newRedisClient opens a client named name on the test Redis, closed when
// the test ends.
func newRedisClient(tb testing.TB, opts *redis.Options, name string) *redis.Client {
	o := *opts
	o.ClientName = name
	c := redis.NewClient(&o)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func newRedisBroker(tb testing.TB) *chat.RedisBroker {
	opts := redisOptions(tb)
	name := unique(tb)
	return chat.NewRedisBrokerClient(newRedisClient(tb, opts, name), name+":", zaptest.NewLogger(tb))
}

func TestRedisBroker(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) chat.Broker { return newRedisBroker(t) })
}

func TestRedisBrokerShared(t *testing.T) {
	brokertest.RunShared(t, func(t *testing.T) (chat.Broker, chat.Broker) {
		opts := redisOptions(t)
		prefix := unique(t) + ":"
		log := zaptest.NewLogger(t)
		a := chat.NewRedisBrokerClient(newRedisClient(t, opts, prefix+"a"), prefix, log.Named("a"))
		b := chat.NewRedisBrokerClient(newRedisClient(t, opts, prefix+"b"), prefix, log.Named("b"))
		return a, b
	})
}

// pubsubIDs lists the ids of the pub/sub connections named name.
func pubsubIDs(t *testing.T, admin *redis.Client, name string) []string {
	t.Helper()
	list, err := admin.Do(context.Background(), "client", "list", "type", "pubsub").Text()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		if slices.Contains(fields, "name="+name) {
			ids = append(ids, strings.TrimPrefix(fields[0], "id="))
		}
	}
	return ids
}

func TestRedisBrokerResubscribe(t *testing.T) {
	opts := redisOptions(t)
	name := unique(t)
	b := chat.NewRedisBrokerClient(newRedisClient(t, opts, name), name+":", zaptest.NewLogger(t))
	r := brokertest.Start(t, b)
	ctx := context.Background()
	if err := b.Subscribe(ctx, "a.1", "v.2"); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := b.Publish(ctx, "a.1", []byte("before")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	r.Wait(t, "a.1", 1)

	// Only this broker's connection: other tests may share the server.
	admin := newRedisClient(t, opts, name+":admin")
	ids := pubsubIDs(t, admin, name)
	if len(ids) != 1 {
		t.Fatalf("found %d pub/sub connections named %s, want 1", len(ids), name)
	}
	if err := admin.Do(ctx, "client", "kill", "id", ids[0], "type", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}

	select {
	case got := <-r.Resubs:
		slices.Sort(got)
		if !slices.Equal(got, []string{"a.1", "v.2"}) {
			t.Fatalf("resubscribed %q, want [a.1 v.2]", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("resubscribed was not called after the pub/sub connection was killed")
	}
	// The connections dropped on the way are closed: Redis may take a moment
	// to notice, so ask again until it has.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for n := len(pubsubIDs(t, admin, name)); n != 1; n = len(pubsubIDs(t, admin, name)) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d pub/sub connections after the reconnect, want 1", n)
		}
	}
	if err := admin.Publish(ctx, name+":a.1", "after").Err(); err != nil {
		t.Fatalf("PUBLISH: %v", err)
	}
	got := r.Wait(t, "a.1", 2)
	if string(got[0]) != "before" || string(got[1]) != "after" {
		t.Fatalf("a.1 received %q, want [before after]", got)
	}
}

// proxy is a TCP relay to Redis that can be taken down and brought back, as
// a Redis restart or a network cut would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := &proxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() { defer close(done); p.serve() }()
	t.Cleanup(func() {
		ln.Close()
		p.set(false)
		<-done
	})
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		relay := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go relay(c, s)
		go relay(s, c)
	}
}

// set brings the proxy up or down; down cuts every open connection.
func (p *proxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func TestRedisBrokerOutage(t *testing.T) {
	opts := redisOptions(t)
	px := startProxy(t, opts.Addr)
	name := unique(t)
	o := *opts
	o.Addr = px.ln.Addr().String()
	b := chat.NewRedisBrokerClient(newRedisClient(t, &o, name), name+":", zaptest.NewLogger(t))
	r := brokertest.Start(t, b)
	ctx := context.Background()
	if err := b.Subscribe(ctx, "a.1"); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	px.set(false)
	if err := b.Subscribe(ctx, "v.2"); !errors.Is(err, chat.ErrBrokerUnavailable) {
		t.Fatalf("Subscribe during the outage = %v, want ErrBrokerUnavailable", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, chat.ErrBrokerUnavailable) {
		t.Fatalf("Ping during the outage = %v, want ErrBrokerUnavailable", err)
	}
	if err := b.Unsubscribe(ctx, "w.3"); err != nil {
		t.Fatalf("Unsubscribe during the outage: %v", err)
	}

	px.set(true)
	select {
	case got := <-r.Resubs:
		slices.Sort(got)
		if !slices.Equal(got, []string{"a.1", "v.2"}) {
			t.Fatalf("resubscribed %q, want [a.1 v.2]: a channel of a failed Subscribe is kept", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("resubscribed was not called after the outage")
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping after the outage: %v", err)
	}
	for _, c := range []string{"a.1", "v.2"} {
		if err := b.Publish(ctx, c, []byte("after "+c)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if got := r.Wait(t, c, 1); string(got[0]) != "after "+c {
			t.Fatalf("%s received %q", c, got)
		}
	}
}

func TestRedisBrokerUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	b, err := chat.NewRedisBroker("redis://"+addr+"/0", zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewRedisBroker: %v", err)
	}
	brokertest.Start(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"subscribe", b.Subscribe(ctx, "sup"), chat.ErrBrokerUnavailable},
		{"ping", b.Ping(ctx), chat.ErrBrokerUnavailable},
		{"publish", b.Publish(ctx, "sup", []byte("x")), chat.ErrBrokerUnavailable},
		{"unsubscribe", b.Unsubscribe(ctx, "sup"), nil},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestRedisBrokerLifecycle(t *testing.T) {
	if _, err := chat.NewRedisBroker("http://nowhere", zap.NewNop()); err == nil {
		t.Error("NewRedisBroker accepted a URL that is not redis://")
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	b := chat.NewRedisBrokerClient(client, "", zap.NewNop())
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"publish before start", func() error { return b.Publish(context.Background(), "a", nil) }, chat.ErrBrokerNotStarted},
		{"subscribe before start", func() error { return b.Subscribe(context.Background(), "a") }, chat.ErrBrokerNotStarted},
		{"start", func() error { return b.Start(nil, nil) }, nil},
		{"start again", func() error { return b.Start(nil, nil) }, chat.ErrBrokerStarted},
		{"publish with a cancelled context", func() error { return b.Publish(cancelled, "a", nil) }, context.Canceled},
		{"subscribe with a cancelled context", func() error { return b.Subscribe(cancelled, "a") }, context.Canceled},
		{"subscribe to nothing", func() error { return b.Subscribe(context.Background()) }, nil},
		{"close", b.Close, nil},
		{"close again", b.Close, nil},
		{"start after close", func() error { return b.Start(nil, nil) }, chat.ErrBrokerClosed},
		{"subscribe after close", func() error { return b.Subscribe(context.Background(), "a") }, chat.ErrBrokerClosed},
	} {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestRedisBrokerManyChannels subscribes many channels from many goroutines
// at once, as a busy hub does; the calls are coalesced.
func TestRedisBrokerManyChannels(t *testing.T) {
	b := newRedisBroker(t)
	r := brokertest.Start(t, b)
	const callers, each = 50, 40
	errs := make(chan error, callers)
	for g := range callers {
		go func() {
			channels := make([]string, each)
			for i := range channels {
				channels[i] = fmt.Sprintf("v.%d.%d", g, i)
			}
			errs <- b.Subscribe(context.Background(), channels...)
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
	}
	for g := range callers {
		for i := range each {
			if err := b.Publish(context.Background(), fmt.Sprintf("v.%d.%d", g, i), []byte("hi")); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
	}
	for g := range callers {
		for i := range each {
			r.Wait(t, fmt.Sprintf("v.%d.%d", g, i), 1)
		}
	}
}

// BenchmarkRedisPublish measures Publish from many goroutines, as the hub's
// sessions publish; they share pipelines.
func BenchmarkRedisPublish(b *testing.B) {
	opts := redisOptions(b)
	name := unique(b)
	br := chat.NewRedisBrokerClient(newRedisClient(b, opts, name), name+":", zap.NewNop())
	if err := br.Start(nil, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	payload := append([]byte{1, 0x80, 0x01, 0x05}, `{"type":"message.new","conversation_id":"c_0123456789","message":{"seq":128,"from":"agent","text":"您好，这款有现货，今天下单明天发货。"}}`...)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Publish(ctx, "a.bench", payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
