package chat

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// countConn records each write call.
type countConn struct {
	net.Conn
	writes [][]byte
	fail   error
}

func (c *countConn) Write(p []byte) (int, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestBatchConn(t *testing.T) {
	big := bytes.Repeat([]byte("x"), batchFlushAt)
	for _, tc := range []struct {
		name    string
		run     func(c *batchConn) error
		want    []string // the write calls that reached the socket
		wantErr bool
	}{
		{"no hold: straight through", func(c *batchConn) error {
			c.Write([]byte("a"))
			c.Write([]byte("b"))
			return nil
		}, []string{"a", "b"}, false},
		{"held: one write", func(c *batchConn) error {
			c.Hold()
			c.Write([]byte("a"))
			c.Write([]byte("b"))
			c.Write([]byte("c"))
			return c.Flush()
		}, []string{"abc"}, false},
		{"flush without a hold does nothing", func(c *batchConn) error { return c.Flush() }, nil, false},
		{"empty hold writes nothing", func(c *batchConn) error { c.Hold(); return c.Flush() }, nil, false},
		{"after a flush, straight through again", func(c *batchConn) error {
			c.Hold()
			c.Write([]byte("a"))
			c.Flush()
			c.Write([]byte("b"))
			return nil
		}, []string{"a", "b"}, false},
		{"a large hold goes early", func(c *batchConn) error {
			c.Hold()
			c.Write(big[:batchFlushAt-1])
			c.Write([]byte("y")) // reaches the threshold: sent now
			c.Write([]byte("z"))
			return c.Flush()
		}, []string{string(big[:batchFlushAt-1]) + "y", "z"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &countConn{}
			c := &batchConn{Conn: cc}
			err := tc.run(c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			var got []string
			for _, w := range cc.writes {
				got = append(got, string(w))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d writes, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("write %d = %.20q…, want %.20q…", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestBatchConnFlushReportsTheWriteError(t *testing.T) {
	boom := errors.New("broken pipe")
	c := &batchConn{Conn: &countConn{fail: boom}}
	c.Hold()
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatalf("held write failed early: %v", err)
	}
	if err := c.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush = %v, want %v", err, boom)
	}
	if _, err := c.Write([]byte("b")); !errors.Is(err, boom) {
		t.Fatalf("write after the hold = %v, want the socket's error", err)
	}
}
