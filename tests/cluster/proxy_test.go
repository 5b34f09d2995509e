//go:build cluster

package cluster

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// proxy is a TCP relay in the test process between an instance and Redis.
// cut closes every relayed connection and refuses new ones (they are
// accepted and closed at once) until restore. With a delay, what Redis
// sends reaches the instance that much later (network latency).
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	delay  time.Duration

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startProxy relays a loopback port to target (host:port), delaying what
// target sends by delay; it stops at the end of t.
func startProxy(t testing.TB, target string, delay time.Duration) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target, delay: delay, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// addr is where the proxy listens.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// redisURL is raw with its host replaced by the proxy's address.
func (p *proxy) redisURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		p.t.Fatalf("%s: %v", raw, err)
	}
	u.Host = p.addr()
	return u.String()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		refused := p.cut
		p.mu.Unlock()
		if refused {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in, out) {
			continue
		}
		p.wg.Add(2)
		go p.pipe(out, in)
		if p.delay > 0 {
			go p.delayed(in, out)
		} else {
			go p.pipe(in, out)
		}
	}
}

// track registers a relayed pair, unless the proxy was cut meanwhile.
func (p *proxy) track(a, b net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		a.Close()
		b.Close()
		return false
	}
	p.conns[a], p.conns[b] = struct{}{}, struct{}{}
	return true
}

// pipe copies one direction; when it ends both sides close.
func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	p.forget(dst, src)
}

// delayed is pipe with every chunk held back by p.delay, in order.
func (p *proxy) delayed(dst, src net.Conn) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now().Add(p.delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer p.wg.Done()
	defer p.forget(dst, src)
	for c := range chunks {
		timer := time.NewTimer(time.Until(c.due))
		<-timer.C
		if _, err := dst.Write(c.data); err != nil {
			src.Close()
			for range chunks { // let the reader end
			}
			return
		}
	}
}

// forget closes a pair and stops tracking it.
func (p *proxy) forget(a, b net.Conn) {
	a.Close()
	b.Close()
	p.mu.Lock()
	delete(p.conns, a)
	delete(p.conns, b)
	p.mu.Unlock()
}

// cutAll closes every connection and refuses new ones.
func (p *proxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// restore accepts connections again.
func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *proxy) close() {
	p.ln.Close()
	p.cutAll()
	p.wg.Wait()
}
