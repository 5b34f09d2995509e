package chat

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// subscriber owns the pub/sub connection and every subscription: only its
// run goroutine touches its fields. Channel names in its maps carry no
// prefix.
type subscriber struct {
	b            *RedisBroker
	deliver      func(string, []byte)
	resubscribed func([]string)
	events       chan subEvent

	ps         *redis.PubSub // nil while disconnected
	gen        int           // counts connections; events of older ones are ignored
	readerDone chan struct{} // closed when the current connection's reader ends
	ever       bool          // a connection was made before
	attempt    int           // failed connection attempts in a row
	retry      *time.Timer   // next attempt, nil when none is due
	pingSent   bool          // a health ping awaits its pong

	wanted   map[string]struct{}     // what callers asked for
	sent     map[string]bool         // what the connection was last told
	inflight map[string]int          // commands sent and not yet confirmed
	waiters  map[string][]*subChange // calls waiting on a channel's confirmation
	resub    map[string]struct{}     // channels of a reconnect not yet confirmed
	restored []string                // channels of a reconnect confirmed so far
}

func (s *subscriber) run() {
	health := time.NewTicker(healthInterval)
	defer health.Stop()
	s.connect()
	for {
		var retry <-chan time.Time
		if s.retry != nil {
			retry = s.retry.C
		}
		select {
		case <-s.b.done:
			s.shutdown()
			return
		case c := <-s.b.changes:
			batch := []*subChange{c}
		more:
			for len(batch) < changeBatch {
				select {
				case c := <-s.b.changes:
					batch = append(batch, c)
				default:
					break more
				}
			}
			s.apply(batch)
		case ev := <-s.events:
			s.event(ev)
		case <-retry:
			s.retry = nil
			s.connect()
		case <-health.C:
			s.checkHealth()
		}
	}
}

func (s *subscriber) shutdown() {
	if s.retry != nil {
		s.retry.Stop()
	}
	if s.ps != nil {
		_ = s.ps.Close()
		<-s.readerDone
	}
	for _, list := range s.waiters {
		for _, c := range list {
			s.settle(c, ErrBrokerClosed)
		}
	}
}

// connect opens a new pub/sub connection and subscribes every wanted
// channel on it. On failure it marks the broker down, fails the Subscribe
// calls waiting, and schedules the next attempt.
func (s *subscriber) connect() {
	ctx := s.b.ctx
	ps := s.b.client.Subscribe(ctx)
	channels := make([]string, 0, len(s.wanted))
	for c := range s.wanted {
		channels = append(channels, c)
	}
	var err error
	if len(channels) == 0 {
		err = ps.Ping(ctx) // dials
	} else {
		err = s.send(ps.Subscribe, channels)
	}
	if err != nil {
		_ = ps.Close()
		s.failed(err)
		return
	}
	s.ps, s.gen, s.pingSent = ps, s.gen+1, false
	prev := s.readerDone
	s.readerDone = make(chan struct{})
	s.b.wg.Add(1)
	go func(gen int, done chan struct{}) {
		defer s.b.wg.Done()
		defer close(done)
		if prev != nil {
			<-prev // keep deliveries in order across connections
		}
		s.read(ps, gen)
	}(s.gen, s.readerDone)
	for _, c := range channels {
		s.sent[c] = true
		s.inflight[c] = 1
	}
	if s.ever && len(channels) > 0 {
		s.resub = make(map[string]struct{}, len(channels))
		for _, c := range channels {
			s.resub[c] = struct{}{}
		}
		s.restored = nil
	}
	s.b.log.Info("redis pub/sub connected", zap.Bool("reconnect", s.ever),
		zap.Int("channels", len(channels)), zap.Int("failed_attempts", s.attempt))
	s.ever, s.attempt = true, 0
	s.b.down.Store(false)
	// Calls waiting on channels no longer wanted have nothing left to wait for.
	for c := range s.waiters {
		if s.inflight[c] == 0 {
			s.release(c)
		}
	}
}

func (s *subscriber) failed(err error) {
	s.attempt++
	wait := min(reconnectMin<<min(s.attempt-1, 16), reconnectMax)
	wait = wait/2 + rand.N(wait/2+1)
	s.b.log.Warn("redis pub/sub connect failed", zap.Error(err),
		zap.Int("attempt", s.attempt), zap.Duration("retry_in", wait), zap.Int("channels", len(s.wanted)))
	s.b.down.Store(true)
	unavailable := fmt.Errorf("%w: %w", ErrBrokerUnavailable, err)
	for c, list := range s.waiters {
		for _, w := range list {
			s.settle(w, unavailable)
		}
		delete(s.waiters, c)
	}
	s.retry = time.NewTimer(wait)
}

// lost drops a broken connection and tries again at once.
func (s *subscriber) lost(err error) {
	s.b.log.Warn("redis pub/sub connection lost", zap.Error(err), zap.Int("channels", len(s.wanted)))
	_ = s.ps.Close()
	s.ps = nil
	s.gen++
	clear(s.sent)
	clear(s.inflight)
	s.resub, s.restored = nil, nil
	// Nothing is subscribed now: Unsubscribe calls are done; Subscribe calls
	// wait for the next connection.
	for c, list := range s.waiters {
		keep := list[:0]
		for _, w := range list {
			if w.subscribe {
				keep = append(keep, w)
			} else {
				s.done(w)
			}
		}
		if len(keep) == 0 {
			delete(s.waiters, c)
		} else {
			s.waiters[c] = keep
		}
	}
	s.connect()
}

func (s *subscriber) checkHealth() {
	if s.ps == nil {
		return
	}
	if s.pingSent {
		s.lost(errors.New("no pong within the health interval"))
		return
	}
	if err := s.ps.Ping(s.b.ctx); err != nil {
		s.lost(err)
		return
	}
	s.pingSent = true
}

// apply records a batch of calls, sends what changed in one SUBSCRIBE and
// one UNSUBSCRIBE, and registers the calls to wait for the confirmations.
func (s *subscriber) apply(batch []*subChange) {
	touched := map[string]struct{}{}
	for _, c := range batch {
		for _, ch := range c.channels {
			if c.subscribe {
				s.wanted[ch] = struct{}{}
			} else {
				delete(s.wanted, ch)
			}
			touched[ch] = struct{}{}
		}
	}
	var sub, unsub []string
	if s.ps != nil {
		for ch := range touched {
			_, want := s.wanted[ch]
			if want == s.sent[ch] {
				continue
			}
			if want {
				sub = append(sub, ch)
			} else {
				unsub = append(unsub, ch)
			}
			s.sent[ch] = want
			s.inflight[ch]++
		}
	}
	for _, c := range batch {
		s.register(c)
	}
	if err := s.send(s.ps.Subscribe, sub); err != nil {
		s.lost(err)
	} else if err := s.send(s.ps.Unsubscribe, unsub); err != nil {
		s.lost(err)
	}
}

// register settles a call at once when nothing it asked for is outstanding,
// or makes it wait on the channels that are.
func (s *subscriber) register(c *subChange) {
	if s.ps == nil {
		// The last attempt failed (lost reconnects at once): nothing is
		// subscribed, and wanted channels wait for the next attempt.
		if c.subscribe {
			s.settle(c, ErrBrokerUnavailable)
		} else {
			s.settle(c, nil)
		}
		return
	}
	for _, ch := range c.channels {
		if s.inflight[ch] > 0 {
			s.waiters[ch] = append(s.waiters[ch], c)
			c.pending++
		}
	}
	if c.pending == 0 {
		s.settle(c, nil)
	}
}

func (s *subscriber) event(ev subEvent) {
	if ev.gen != s.gen || s.ps == nil {
		return // from a connection already dropped
	}
	switch ev.kind {
	case "":
		s.lost(ev.err)
	case "pong":
		s.pingSent = false
	case "subscribe", "unsubscribe":
		if s.inflight[ev.channel] > 1 {
			s.inflight[ev.channel]--
			return
		}
		delete(s.inflight, ev.channel)
		s.release(ev.channel)
		if _, ok := s.resub[ev.channel]; ok {
			delete(s.resub, ev.channel)
			if ev.kind == "subscribe" {
				s.restored = append(s.restored, ev.channel)
			}
			if len(s.resub) == 0 {
				s.reestablished()
			}
		}
	}
}

// reestablished hands the channels of a finished reconnect to the
// resubscribed handler.
func (s *subscriber) reestablished() {
	channels := s.restored
	s.resub, s.restored = nil, nil
	if len(channels) == 0 {
		return
	}
	s.b.log.Info("redis pub/sub resubscribed", zap.Int("channels", len(channels)))
	s.b.wg.Add(1)
	go func() {
		defer s.b.wg.Done()
		s.resubscribed(channels)
	}()
}

// release ends the wait of every call waiting on ch.
func (s *subscriber) release(ch string) {
	for _, c := range s.waiters[ch] {
		s.done(c)
	}
	delete(s.waiters, ch)
}

// done counts one of a call's channels as confirmed.
func (s *subscriber) done(c *subChange) {
	c.pending--
	if c.pending <= 0 {
		s.settle(c, nil)
	}
}

func (s *subscriber) settle(c *subChange, err error) {
	if !c.settled {
		c.settled = true
		c.res <- err
	}
}

// send writes a SUBSCRIBE or UNSUBSCRIBE for channels, subscribeChunk at a
// time, with the prefix put before each.
func (s *subscriber) send(cmd func(context.Context, ...string) error, channels []string) error {
	for chunk := range slices.Chunk(channels, subscribeChunk) {
		named := make([]string, len(chunk))
		for i, c := range chunk {
			named[i] = s.b.prefix + c
		}
		if err := cmd(s.b.ctx, named...); err != nil {
			return err
		}
	}
	return nil
}

// read is a connection's reader: it delivers messages in order and passes
// confirmations, pongs and the final error to run.
func (s *subscriber) read(ps *redis.PubSub, gen int) {
	for {
		msg, err := ps.Receive(context.Background())
		ev := subEvent{gen: gen}
		switch m := msg.(type) {
		case *redis.Message:
			s.deliver(strings.TrimPrefix(m.Channel, s.b.prefix), []byte(m.Payload))
			continue
		case *redis.Subscription:
			ev.kind, ev.channel = m.Kind, strings.TrimPrefix(m.Channel, s.b.prefix)
		case *redis.Pong:
			ev.kind = "pong"
		default:
			if err == nil {
				err = fmt.Errorf("chat: unexpected pub/sub reply %T", msg)
			}
			ev.err = err
		}
		select {
		case s.events <- ev:
		case <-s.b.done:
			return
		}
		if ev.err != nil {
			return
		}
	}
}
