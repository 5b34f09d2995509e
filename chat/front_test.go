package chat_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/daogou/daogou/chat"
)

// frontHandler answers /hello and /ws/hello plainly and echoes WebSocket
// messages on /ws/echo, noting whether the request came through net/http
// (which sets a cancellable context) or the Front's own path.
func frontHandler() http.Handler {
	mux := http.NewServeMux()
	hello := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Remote", r.RemoteAddr)
		io.WriteString(w, "hello "+r.Method)
	}
	mux.HandleFunc("/hello", hello)
	mux.HandleFunc("/ws/hello", hello)
	mux.HandleFunc("/ws/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				typ, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if c.WriteMessage(typ, p) != nil {
					return
				}
			}
		}()
	})
	mux.HandleFunc("/ws/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	// /ws/raw hijacks and reads what came after the head, through the
	// reader it was given, and answers how much.
	mux.HandleFunc("/ws/raw", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		got, _ := io.Copy(io.Discard, io.LimitReader(rw, int64(n)))
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Remote: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%d",
			r.RemoteAddr, len(strconv.Itoa(int(got))), got)
	})
	return mux
}

// startFront serves frontHandler behind a Front, with net/http for the rest.
func startFront(t *testing.T, headTimeout time.Duration) (*chat.Front, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := frontHandler()
	f := chat.NewFront(ln, h, headTimeout, zap.NewNop())
	srv := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(f) }()
	t.Cleanup(func() {
		srv.Close()
		// net.ErrClosed when a test closed the Front itself.
		if err := <-done; !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
		f.Wait()
	})
	return f, ln.Addr().String()
}

// exchange writes raw to a new connection and reads the responses wanted;
// closed is whether the last says "Connection: close" and the server then
// closes the connection (after a response it keeps open, it is not read
// further).
func exchange(t *testing.T, addr, raw string, responses int) (rs []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for range responses {
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", len(rs)+1, err)
		}
		b, _ := io.ReadAll(r.Body)
		rs, bodies = append(rs, r), append(bodies, string(b))
	}
	if len(rs) > 0 && !rs[len(rs)-1].Close {
		return rs, bodies, false
	}
	// EOF, or a reset when the server closed with the request unread.
	_, err = br.ReadByte()
	var ne net.Error
	return rs, bodies, err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestFrontAnswers(t *testing.T) {
	_, addr := startFront(t, 10*time.Second)
	big := strings.Repeat("x", http.DefaultMaxHeaderBytes+4096)
	for _, tc := range []struct {
		name      string
		raw       string
		statuses  []int
		bodies    []string
		keepsOpen bool // net/http keeps a connection alive; the Front's own answers close
	}{
		{"plain requests go to net/http, pipelined bytes and all",
			"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nPOST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			[]int{200, 200}, []string{"hello GET", "hello POST"}, true},
		{"a short request line goes to net/http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", []int{404}, nil, true},
		{"a /ws/ request that does not upgrade is answered and closed",
			"GET /ws/hello HTTP/1.1\r\nHost: x\r\n\r\n", []int{200}, []string{"hello GET"}, false},
		{"an unknown /ws/ path", "GET /ws/nothing HTTP/1.1\r\nHost: x\r\n\r\n", []int{404}, nil, false},
		{"not a handshake on the upgrade path", "GET /ws/echo HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil, false},
		{"a malformed head", "GET /ws/echo HTTP/1.1\r\nHost x\r\n\r\n", []int{400}, nil, false},
		{"a bad version", "GET /ws/echo HTTP/9.9\r\nHost: x\r\n\r\n", []int{400}, nil, false},
		{"a head too large", "GET /ws/echo HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", []int{431}, nil, false},
		{"a handler that panics", "GET /ws/panic HTTP/1.1\r\nHost: x\r\n\r\n", nil, nil, false},
		{"a hijacker reads what followed the head, past the head's limit",
			"GET /ws/raw?n=" + strconv.Itoa(len(big)) + " HTTP/1.1\r\nHost: x\r\n\r\n" + big,
			[]int{200}, []string{strconv.Itoa(len(big))}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, bodies, closed := exchange(t, addr, tc.raw, len(tc.statuses))
			for i, r := range rs {
				if r.StatusCode != tc.statuses[i] {
					t.Errorf("response %d: status %d, want %d (%q)", i+1, r.StatusCode, tc.statuses[i], bodies[i])
				}
				if i < len(tc.bodies) && bodies[i] != tc.bodies[i] {
					t.Errorf("response %d: body %q, want %q", i+1, bodies[i], tc.bodies[i])
				}
				if r.Header.Get("X-Remote") == "" && r.StatusCode == 200 {
					t.Errorf("response %d: the handler saw no RemoteAddr", i+1)
				}
			}
			if closed == tc.keepsOpen {
				t.Errorf("connection closed = %v, want %v", closed, !tc.keepsOpen)
			}
		})
	}
}

func TestFrontUpgrades(t *testing.T) {
	_, addr := startFront(t, 10*time.Second)
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, msg := range []string{"one", strings.Repeat("long ", 2000)} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.ReadMessage()
		if err != nil || string(p) != msg {
			t.Fatalf("echo = %.20q, %v; want %.20q", p, err, msg)
		}
	}
}

func TestFrontClosesSilentConnections(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close bool // Close the Front instead of waiting for the timeout
	}{
		{"head timeout", false},
		{"Front closed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			timeout := 50 * time.Millisecond
			if tc.close {
				timeout = time.Hour
			}
			f, addr := startFront(t, timeout)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.close {
				// The connection is accepted before Close only once
				// something has been served on the Front.
				if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/echo", nil); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := f.Accept(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
				}
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("read = %d, %v; want EOF: the server closes a connection that sends nothing", n, err)
			}
		})
	}
}
