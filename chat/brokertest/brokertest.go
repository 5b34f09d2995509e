// Package brokertest is the test suite every chat.Broker must pass: Run for
// any broker, RunShared for brokers that join instances (Redis).
package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daogou/daogou/chat"
)

// wait bounds every wait for a delivery.
const wait = 5 * time.Second

// Run checks one broker instance. newBroker returns a broker that is not
// started; Run starts it and closes it when the subtest ends. A backend that
// needs isolation (a Redis key prefix) makes it per call: t is the subtest's.
func Run(t *testing.T, newBroker func(t *testing.T) chat.Broker) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, b chat.Broker, r *Recorder)
	}{
		{"delivers once and in order", testOrder},
		{"unsubscribed channel gets nothing", testNotSubscribed},
		{"several channels", testSeveralChannels},
		{"second subscribe does not duplicate", testSubscribeTwice},
		{"unsubscribe stops delivery", testUnsubscribe},
		{"subscribe again after unsubscribe", testResubscribe},
		{"publish with no subscriber", testNoSubscriber},
		{"concurrent publishers", testConcurrentPublishers},
		{"ping", testPing},
		{"closed broker refuses", testClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t)
			r := Start(t, b)
			tc.run(t, b, r)
		})
	}
}

// RunShared checks two instances of a broker that share a backend: each one
// delivers what the other publishes.
func RunShared(t *testing.T, newPair func(t *testing.T) (a, b chat.Broker)) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, a, b chat.Broker, ra, rb *Recorder)
	}{
		{"a to b", func(t *testing.T, a, b chat.Broker, _, rb *Recorder) { testAcross(t, a, b, rb) }},
		{"b to a", func(t *testing.T, a, b chat.Broker, ra, _ *Recorder) { testAcross(t, b, a, ra) }},
		{"both subscribers get one copy", testBothGet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newPair(t)
			ra, rb := Start(t, a), Start(t, b)
			tc.run(t, a, b, ra, rb)
		})
	}
}

// Start starts b with a Recorder as its handlers and closes b when the test
// ends.
func Start(t *testing.T, b chat.Broker) *Recorder {
	t.Helper()
	r := NewRecorder()
	if err := b.Start(r.Deliver, r.Resubscribed); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// Recorder keeps what a broker delivered, by channel.
type Recorder struct {
	mu     sync.Mutex
	got    map[string][][]byte
	notify chan struct{}
	// markers numbers barriers.
	markers atomic.Int64
	// Resubs receives the channels of each resubscribed call.
	Resubs chan []string
}

// NewRecorder makes an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{got: map[string][][]byte{}, notify: make(chan struct{}, 1), Resubs: make(chan []string, 16)}
}

// Deliver is a broker's deliver handler. It copies the payload.
func (r *Recorder) Deliver(channel string, payload []byte) {
	r.mu.Lock()
	r.got[channel] = append(r.got[channel], bytes.Clone(payload))
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Resubscribed is a broker's resubscribed handler.
func (r *Recorder) Resubscribed(channels []string) {
	r.Resubs <- append([]string(nil), channels...)
}

// Got returns a copy of what channel received so far.
func (r *Recorder) Got(channel string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got[channel]...)
}

// Wait returns what channel received once it holds at least n payloads, and
// fails the test when that takes longer than five seconds.
func (r *Recorder) Wait(t *testing.T, channel string, n int) [][]byte {
	t.Helper()
	return r.waitUntil(t, channel, fmt.Sprintf("%d payloads", n), func(got [][]byte) bool { return len(got) >= n })
}

// WaitFor returns what channel received once payload is among it.
func (r *Recorder) WaitFor(t *testing.T, channel string, payload []byte) [][]byte {
	t.Helper()
	return r.waitUntil(t, channel, fmt.Sprintf("payload %q", payload), func(got [][]byte) bool {
		return slices.ContainsFunc(got, func(p []byte) bool { return bytes.Equal(p, payload) })
	})
}

func (r *Recorder) waitUntil(t *testing.T, channel, want string, ok func([][]byte) bool) [][]byte {
	t.Helper()
	deadline := time.After(wait)
	for {
		if got := r.Got(channel); ok(got) {
			return got
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("channel %q: %d payloads after %v, want %s", channel, len(r.Got(channel)), wait, want)
		}
	}
}

// payload is a binary header and a JSON frame, like the hub's packets.
func payload(tag string, i int) []byte {
	return fmt.Appendf([]byte{0x01, 0x00, 0xff, byte(i)}, `{"type":"message.new","tag":%q,"i":%d}`, tag, i)
}

func publish(t *testing.T, b chat.Broker, channel string, p []byte) {
	t.Helper()
	if err := b.Publish(context.Background(), channel, p); err != nil {
		t.Fatalf("Publish %q: %v", channel, err)
	}
}

func subscribe(t *testing.T, b chat.Broker, channels ...string) {
	t.Helper()
	if err := b.Subscribe(context.Background(), channels...); err != nil {
		t.Fatalf("Subscribe %q: %v", channels, err)
	}
}

func unsubscribe(t *testing.T, b chat.Broker, channels ...string) {
	t.Helper()
	if err := b.Unsubscribe(context.Background(), channels...); err != nil {
		t.Fatalf("Unsubscribe %q: %v", channels, err)
	}
}

// expect checks that got is exactly want, in order.
func expect(t *testing.T, channel string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("channel %q: got %d payloads, want %d", channel, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("channel %q: payload %d is %q, want %q", channel, i, got[i], want[i])
		}
	}
}

// barrier publishes a marker of its own on a subscribed channel, waits for
// it and returns it: a payload published before it on any channel of b has
// been delivered by then, as both travel in order through one connection.
func barrier(t *testing.T, b chat.Broker, r *Recorder, channel string) []byte {
	t.Helper()
	marker := fmt.Appendf(nil, "barrier %d", r.markers.Add(1))
	publish(t, b, channel, marker)
	r.WaitFor(t, channel, marker)
	return marker
}

func testOrder(t *testing.T, b chat.Broker, r *Recorder) {
	subscribe(t, b, "a.1")
	var want [][]byte
	for i := range 1000 {
		p := payload("order", i)
		want = append(want, p)
		publish(t, b, "a.1", p)
	}
	m := barrier(t, b, r, "a.1")
	expect(t, "a.1", r.Got("a.1"), append(want, m))
}

func testNotSubscribed(t *testing.T, b chat.Broker, r *Recorder) {
	subscribe(t, b, "a.on")
	publish(t, b, "a.off", payload("off", 0))
	barrier(t, b, r, "a.on")
	if got := r.Got("a.off"); len(got) != 0 {
		t.Fatalf("an unsubscribed channel received %d payloads", len(got))
	}
}

func testSeveralChannels(t *testing.T, b chat.Broker, r *Recorder) {
	channels := []string{"a.1", "v.2", "w.3", "sup"}
	subscribe(t, b, channels...)
	want := map[string][][]byte{}
	for i := range 20 {
		for _, c := range channels {
			p := payload(c, i)
			want[c] = append(want[c], p)
			publish(t, b, c, p)
		}
	}
	for _, c := range channels {
		r.Wait(t, c, len(want[c]))
	}
	want["sup"] = append(want["sup"], barrier(t, b, r, "sup"))
	for _, c := range channels {
		expect(t, c, r.Got(c), want[c])
	}
}

func testSubscribeTwice(t *testing.T, b chat.Broker, r *Recorder) {
	subscribe(t, b, "v.1")
	subscribe(t, b, "v.1")
	subscribe(t, b, "v.1", "v.1")
	want := [][]byte{payload("twice", 0), payload("twice", 1)}
	for _, p := range want {
		publish(t, b, "v.1", p)
	}
	m := barrier(t, b, r, "v.1")
	expect(t, "v.1", r.Got("v.1"), append(want, m))
}

func testUnsubscribe(t *testing.T, b chat.Broker, r *Recorder) {
	subscribe(t, b, "a.x", "a.y")
	before := payload("before", 0)
	publish(t, b, "a.x", before)
	r.Wait(t, "a.x", 1)
	unsubscribe(t, b, "a.x")
	publish(t, b, "a.x", payload("after", 1))
	barrier(t, b, r, "a.y")
	expect(t, "a.x", r.Got("a.x"), [][]byte{before})
}

func testResubscribe(t *testing.T, b chat.Broker, r *Recorder) {
	subscribe(t, b, "w.1")
	unsubscribe(t, b, "w.1")
	publish(t, b, "w.1", payload("gap", 0))
	subscribe(t, b, "w.1")
	p := payload("again", 1)
	publish(t, b, "w.1", p)
	m := barrier(t, b, r, "w.1")
	expect(t, "w.1", r.Got("w.1"), [][]byte{p, m})
}

func testNoSubscriber(t *testing.T, b chat.Broker, _ *Recorder) {
	for i := range 10 {
		publish(t, b, "a.nobody", payload("nobody", i))
	}
}

func testConcurrentPublishers(t *testing.T, b chat.Broker, r *Recorder) {
	const publishers, each = 8, 250
	subscribe(t, b, "sup")
	errs := make(chan error, publishers)
	for g := range publishers {
		go func() {
			for i := range each {
				if err := b.Publish(context.Background(), "sup", payload(fmt.Sprint("g", g), i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range publishers {
		if err := <-errs; err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	barrier(t, b, r, "sup")
	got := r.Got("sup")
	if len(got) != publishers*each+1 {
		t.Fatalf("got %d payloads, want %d and the barrier", len(got), publishers*each)
	}
	// Each publisher's payloads arrive in its own order, each once.
	for g := range publishers {
		tag := fmt.Sprint("g", g)
		var mine [][]byte
		for _, p := range got {
			if bytes.Contains(p, []byte(fmt.Sprintf(`"tag":%q`, tag))) {
				mine = append(mine, p)
			}
		}
		want := make([][]byte, each)
		for i := range want {
			want[i] = payload(tag, i)
		}
		expect(t, "sup from "+tag, mine, want)
	}
}

func testPing(t *testing.T, b chat.Broker, _ *Recorder) {
	if err := b.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testClosed(t *testing.T, b chat.Broker, _ *Recorder) {
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Publish(context.Background(), "a.1", payload("closed", 0)); !errors.Is(err, chat.ErrBrokerClosed) {
		t.Fatalf("Publish after Close = %v, want ErrBrokerClosed", err)
	}
	if err := b.Ping(context.Background()); !errors.Is(err, chat.ErrBrokerClosed) {
		t.Fatalf("Ping after Close = %v, want ErrBrokerClosed", err)
	}
}

func testAcross(t *testing.T, from, to chat.Broker, r *Recorder) {
	subscribe(t, to, "a.7")
	var want [][]byte
	for i := range 100 {
		p := payload("across", i)
		want = append(want, p)
		publish(t, from, "a.7", p)
	}
	m := barrier(t, from, r, "a.7")
	expect(t, "a.7", r.Got("a.7"), append(want, m))
}

func testBothGet(t *testing.T, a, b chat.Broker, ra, rb *Recorder) {
	subscribe(t, a, "sup")
	subscribe(t, b, "sup")
	want := [][]byte{payload("from a", 0), payload("from b", 1), []byte("end")}
	publish(t, a, "sup", want[0])
	publish(t, b, "sup", want[1])
	publish(t, a, "sup", want[2])
	// Published last, the end marker arrives last, after any duplicate.
	for _, r := range []*Recorder{ra, rb} {
		r.WaitFor(t, "sup", want[2])
	}
	expect(t, "sup on a", ra.Got("sup"), want)
	expect(t, "sup on b", rb.Got("sup"), want)
}
