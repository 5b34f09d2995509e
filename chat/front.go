package chat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Front is a listener that takes WebSocket handshakes off net/http. Every
// connection's first bytes are read on a kept worker: a request starting
// "GET /ws/" is read there, handed to the handler with a ResponseWriter of
// this file and hijacked from it; any other connection goes, with the bytes
// read so far, to the http.Server that Serves on the Front.
//
// net/http spends on every connection what a WebSocket handshake does not
// use: a new goroutine that grows its stack through the handshake, a 4 KiB
// read and a 4 KiB write buffer that a hijacked connection never returns to
// their pools, a background read started and aborted at the hijack, and
// contexts for the connection and the request. Profiled, that was about a
// tenth of a new shopper's CPU (docs/benchmarks.md).
//
// A handler on the direct path sees an ordinary *http.Request (RemoteAddr
// set, context.Background() as its context) and a ResponseWriter that
// hijacks; an answer it writes without hijacking is sent with
// "Connection: close" once it returns.
type Front struct {
	ln      net.Listener
	handler http.Handler
	timeout time.Duration // for the request's head
	log     *zap.Logger

	conns chan net.Conn // for http.Server
	done  chan struct{}
	once  sync.Once
	err   error // why accepting stopped, set before done closes
	wg    sync.WaitGroup
	pool  *workers

	mu      sync.Mutex
	reading map[net.Conn]struct{} // waiting for their first bytes
}

// frontHeaderMax bounds a direct request's head, as http.Server's
// DefaultMaxHeaderBytes does.
const frontHeaderMax = http.DefaultMaxHeaderBytes

// frontReaders read the first bytes and the head of connections.
var frontReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// NewFront accepts on ln and serves WebSocket handshakes with handler;
// headTimeout bounds the wait for a request's head (as http.Server's
// ReadHeaderTimeout). Serve an http.Server on it for everything else.
func NewFront(ln net.Listener, handler http.Handler, headTimeout time.Duration, log *zap.Logger) *Front {
	if log == nil {
		log = zap.NewNop()
	}
	f := &Front{
		ln: ln, handler: handler, timeout: headTimeout, log: log,
		conns: make(chan net.Conn), done: make(chan struct{}),
		reading: map[net.Conn]struct{}{},
	}
	f.pool = newWorkers(f.done, &f.wg, workersIdle)
	f.wg.Add(1)
	go f.accept()
	return f
}

// Accept is the next connection that is not a WebSocket handshake.
func (f *Front) Accept() (net.Conn, error) {
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.done:
		return nil, f.err
	}
}

// Addr is the listener's address.
func (f *Front) Addr() net.Addr { return f.ln.Addr() }

// Close stops accepting and closes the connections that have not sent
// their first bytes yet. Handshakes under way finish; upgraded sockets are
// the hub's.
func (f *Front) Close() error {
	err := f.stop(net.ErrClosed)
	f.mu.Lock()
	for c := range f.reading {
		c.Close()
	}
	f.mu.Unlock()
	return err
}

func (f *Front) stop(why error) error {
	var err error
	f.once.Do(func() {
		f.err = why
		err = f.ln.Close()
		close(f.done)
	})
	return err
}

// Wait returns when the accept loop and every worker have ended (after
// Close).
func (f *Front) Wait() { f.wg.Wait() }

func (f *Front) accept() {
	defer f.wg.Done()
	var backoff time.Duration
	for {
		c, err := f.ln.Accept()
		if err != nil {
			select {
			case <-f.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors, say: wait as http.Server does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				f.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("in", backoff))
				select {
				case <-time.After(backoff):
				case <-f.done:
					return
				}
				continue
			}
			f.log.Error("accept failed", zap.Error(err))
			f.stop(err)
			return
		}
		backoff = 0
		f.track(c, true)
		select {
		case <-f.done: // Close ran before c was tracked
			f.track(c, false)
			c.Close()
			return
		default:
		}
		f.pool.run(func() { f.serve(c) })
	}
}

// isTemporary is http.Server's test for an accept error worth retrying.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// track adds c to (or removes it from) the connections Close closes.
func (f *Front) track(c net.Conn, add bool) {
	f.mu.Lock()
	if add {
		f.reading[c] = struct{}{}
	} else {
		delete(f.reading, c)
	}
	f.mu.Unlock()
}

// directPrefix starts every request the Front serves itself.
const directPrefix = "GET /ws/"

// serve reads c's first bytes and serves or hands it on.
func (f *Front) serve(c net.Conn) {
	fc := &frontConn{f: f, conn: c, limit: frontHeaderMax}
	br := frontReaders.Get().(*bufio.Reader)
	br.Reset(fc)
	defer func() {
		if !fc.keepReader {
			br.Reset(nil)
			frontReaders.Put(br)
		}
	}()
	if f.timeout > 0 {
		c.SetReadDeadline(time.Now().Add(f.timeout))
	}
	head, err := br.Peek(len(directPrefix))
	f.track(c, false)
	if err != nil && len(head) == 0 {
		c.Close() // nothing came, or not in time
		return
	}
	if string(head) != directPrefix {
		pre, _ := br.Peek(br.Buffered())
		pre = bytes.Clone(pre)
		c.SetReadDeadline(time.Time{})
		select {
		case f.conns <- &replayConn{Conn: c, pre: pre}:
		case <-f.done:
			c.Close()
		}
		return
	}
	fc.direct(br)
}

// frontConn is one directly served connection: the limited source of its
// request's head and the ResponseWriter of its handler.
type frontConn struct {
	f     *Front
	conn  net.Conn
	limit int // bytes left for the request's head

	br         *bufio.Reader
	header     http.Header
	status     int
	body       []byte
	hijacked   bool
	keepReader bool // the hijacker took the pooled reader
}

// Read reads the request's head, at most frontHeaderMax bytes of it.
func (fc *frontConn) Read(p []byte) (int, error) {
	if fc.limit <= 0 {
		return 0, errHeadTooLarge
	}
	if len(p) > fc.limit {
		p = p[:fc.limit]
	}
	n, err := fc.conn.Read(p)
	fc.limit -= n
	return n, err
}

var errHeadTooLarge = errors.New("request head too large")

// direct reads the request and runs the handler on it.
func (fc *frontConn) direct(br *bufio.Reader) {
	c := fc.conn
	req, err := http.ReadRequest(br)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) && ne.Timeout():
			c.Close()
		case errors.Is(err, errHeadTooLarge):
			fc.fail(http.StatusRequestHeaderFieldsTooLarge, "431 Request Header Fields Too Large")
		default:
			fc.fail(http.StatusBadRequest, "400 Bad Request: "+err.Error())
		}
		return
	}
	req.RemoteAddr = c.RemoteAddr().String()
	fc.br = br
	defer func() {
		if v := recover(); v != nil {
			fc.f.log.Error("handler panicked", zap.Any("panic", v), zap.String("path", req.URL.Path))
			if !fc.hijacked {
				c.Close()
			}
		}
	}()
	fc.f.handler.ServeHTTP(fc, req)
	if !fc.hijacked {
		fc.finish()
	}
}

// fail answers a request that could not be read, and closes.
func (fc *frontConn) fail(code int, text string) {
	fc.status = code
	fc.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fc.body = append(fc.body, text...)
	fc.finish()
}

// finish sends what the handler wrote, and closes the connection.
func (fc *frontConn) finish() {
	if fc.status == 0 {
		fc.status = http.StatusOK
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", fc.status, http.StatusText(fc.status))
	h := fc.Header()
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(fc.body)))
	h.Set("Connection", "close")
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	_ = h.Write(&b)
	b.WriteString("\r\n")
	b.Write(fc.body)
	fc.conn.SetWriteDeadline(time.Now().Add(closeGrace))
	_, _ = fc.conn.Write(b.Bytes())
	fc.conn.Close()
}

// closeGrace bounds the write of a direct answer that is not a handshake.
const closeGrace = 5 * time.Second

func (fc *frontConn) Header() http.Header {
	if fc.header == nil {
		fc.header = http.Header{}
	}
	return fc.header
}

func (fc *frontConn) WriteHeader(code int) {
	if fc.status == 0 && !fc.hijacked {
		fc.status = code
	}
}

func (fc *frontConn) Write(p []byte) (int, error) {
	if fc.hijacked {
		return 0, http.ErrHijacked
	}
	if fc.status == 0 {
		fc.status = http.StatusOK
	}
	fc.body = append(fc.body, p...)
	return len(p), nil
}

// Hijack hands over the connection, its deadlines cleared, with buffers of
// its own: the pooled reader that read the request goes back to its pool
// (unless it holds bytes read past the request, which go with it). They are
// small: a hijacker that would reuse them as its connection's buffers (the
// WebSocket upgrader does above 256 bytes) makes its own, and Daogou's
// upgrader only writes the handshake through the writer.
func (fc *frontConn) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if fc.hijacked {
		return nil, nil, http.ErrHijacked
	}
	fc.hijacked = true
	fc.conn.SetDeadline(time.Time{})
	r := fc.br
	if r.Buffered() == 0 {
		r = bufio.NewReaderSize(fc.conn, hijackBufSize)
	} else {
		fc.keepReader = true
		fc.limit = math.MaxInt // past the head: the hijacker's reads are not bounded
	}
	return fc.conn, bufio.NewReadWriter(r, bufio.NewWriterSize(fc.conn, hijackBufSize)), nil
}

// hijackBufSize is the size of a hijacked connection's buffers.
const hijackBufSize = 64

// replayConn is a connection whose first bytes were read already: they are
// read again first.
type replayConn struct {
	net.Conn
	pre []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
