package chat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
)

// chunkConn hands out its chunks one Read at a time, then io.EOF.
type chunkConn struct {
	net.Conn
	chunks [][]byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// clientFrame encodes a frame as a client sends it (masked unless told).
func clientFrame(fin bool, op byte, payload []byte, opts ...string) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	masked := true
	for _, o := range opts {
		switch o {
		case "rsv1":
			b0 |= 0x40
		case "unmasked":
			masked = false
		}
	}
	out := []byte{b0, 0}
	switch n := len(payload); {
	case n < 126:
		out[1] = byte(n)
	case n <= 0xFFFF:
		out[1] = 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out[1] = 127
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out[1] |= 0x80
	key := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// oneByteChunks splits a stream so that every Read returns one byte.
func oneByteChunks(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

type readOut struct {
	op   byte
	data string
}

func TestFrameReader(t *testing.T) {
	big := bytes.Repeat([]byte("界"), 3000) // 9,000 bytes: more than the pooled buffer
	medium := bytes.Repeat([]byte("a"), 300)
	closeBye := binary.BigEndian.AppendUint16(nil, 1000)
	closeBye = append(closeBye, "bye"...)
	for _, tc := range []struct {
		name   string
		chunks [][]byte
		limit  int
		want   []readOut
		err    error // the error after want (nil: io.EOF)
	}{
		{name: "one text frame", chunks: [][]byte{clientFrame(true, opText, []byte(`{"type":"ping"}`))},
			want: []readOut{{opText, `{"type":"ping"}`}}},
		{name: "a frame a byte at a time", chunks: oneByteChunks(clientFrame(true, opText, []byte("hello"))),
			want: []readOut{{opText, "hello"}}},
		{name: "two frames in one read", chunks: [][]byte{cat(clientFrame(true, opText, []byte("a")), clientFrame(true, opBinary, []byte("b")))},
			want: []readOut{{opText, "a"}, {opBinary, "b"}}},
		{name: "16-bit length", chunks: [][]byte{clientFrame(true, opText, medium)},
			want: []readOut{{opText, string(medium)}}},
		{name: "larger than the buffer, split", chunks: [][]byte{clientFrame(true, opText, big)[:100], clientFrame(true, opText, big)[100:]},
			want: []readOut{{opText, string(big)}}},
		{name: "64-bit length", chunks: [][]byte{clientFrame(true, opText, bytes.Repeat([]byte("z"), 70000))}, limit: 80000,
			want: []readOut{{opText, string(bytes.Repeat([]byte("z"), 70000))}}},
		{name: "fragments with a ping between", chunks: [][]byte{cat(
			clientFrame(false, opText, []byte("hel")), clientFrame(true, opPing, []byte("p")),
			clientFrame(false, opContinuation, []byte("lo ")), clientFrame(true, opContinuation, []byte("world")))},
			want: []readOut{{opPing, "p"}, {opText, "hello world"}}},
		{name: "pong", chunks: [][]byte{clientFrame(true, opPong, nil)}, want: []readOut{{opPong, ""}}},
		{name: "close with a code", chunks: [][]byte{clientFrame(true, opClose, closeBye)},
			err: &peerClosed{code: 1000, text: "bye"}},
		{name: "close without a code", chunks: [][]byte{clientFrame(true, opClose, nil)}, err: &peerClosed{code: 1005}},
		{name: "close with one byte", chunks: [][]byte{clientFrame(true, opClose, []byte{3})}, err: protocolError("")},
		{name: "unmasked", chunks: [][]byte{clientFrame(true, opText, []byte("x"), "unmasked")}, err: protocolError("")},
		{name: "reserved bit", chunks: [][]byte{clientFrame(true, opText, []byte("x"), "rsv1")}, err: protocolError("")},
		{name: "unknown opcode", chunks: [][]byte{clientFrame(true, 0x3, []byte("x"))}, err: protocolError("")},
		{name: "fragmented ping", chunks: [][]byte{clientFrame(false, opPing, []byte("x"))}, err: protocolError("")},
		{name: "long ping", chunks: [][]byte{clientFrame(true, opPing, medium)}, err: protocolError("")},
		{name: "continuation of nothing", chunks: [][]byte{clientFrame(true, opContinuation, []byte("x"))}, err: protocolError("")},
		{name: "new message inside a fragmented one", chunks: [][]byte{cat(clientFrame(false, opText, []byte("a")), clientFrame(true, opText, []byte("b")))},
			err: protocolError("")},
		{name: "frame over the limit", chunks: [][]byte{clientFrame(true, opText, medium)}, limit: 100, err: errTooLarge},
		{name: "fragments over the limit", chunks: [][]byte{cat(clientFrame(false, opText, medium[:80]), clientFrame(true, opContinuation, medium[:80]))},
			limit: 100, err: errTooLarge},
		{name: "cut inside a header", chunks: [][]byte{clientFrame(true, opText, []byte("abc"))[:3]}, err: io.EOF},
		{name: "cut inside a payload", chunks: [][]byte{clientFrame(true, opText, []byte("abcdef"))[:8]}, err: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.limit
			if limit == 0 {
				limit = maxFrameBytes
			}
			fr := frameReader{conn: &chunkConn{chunks: tc.chunks}, limit: limit}
			for i, w := range tc.want {
				op, data, err := fr.next()
				if err != nil {
					t.Fatalf("read %d: %v, want op %d %q", i, err, w.op, w.data)
				}
				if op != w.op || string(data) != w.data {
					t.Fatalf("read %d: op %d %.40q, want op %d %.40q", i, op, data, w.op, w.data)
				}
			}
			_, _, err := fr.next()
			want := tc.err
			if want == nil {
				want = io.EOF
			}
			var pe protocolError
			var pc *peerClosed
			switch w := want.(type) {
			case protocolError:
				if !errors.As(err, &pe) {
					t.Fatalf("error %v, want a protocol error", err)
				}
			case *peerClosed:
				if !errors.As(err, &pc) || *pc != *w {
					t.Fatalf("error %v, want %v", err, w)
				}
			default:
				if !errors.Is(err, w) {
					t.Fatalf("error %v, want %v", err, w)
				}
			}
		})
	}
}

// Between frames the reader holds nothing once released.
func TestFrameReaderReleasesBetweenFrames(t *testing.T) {
	fr := frameReader{conn: &chunkConn{chunks: [][]byte{cat(clientFrame(true, opText, []byte("a")), clientFrame(true, opText, []byte("b")))}}, limit: maxFrameBytes}
	if _, _, err := fr.next(); err != nil {
		t.Fatal(err)
	}
	if fr.buffered() == 0 {
		t.Fatal("the second frame should wait in the buffer")
	}
	fr.release()
	if fr.buf == nil {
		t.Fatal("released a buffer that still held a frame")
	}
	if _, _, err := fr.next(); err != nil {
		t.Fatal(err)
	}
	fr.release()
	if fr.buf != nil || fr.buffered() != 0 {
		t.Fatalf("after the last frame: buf %v, %d buffered", fr.buf != nil, fr.buffered())
	}
}

func BenchmarkFrameReader(b *testing.B) {
	frame := clientFrame(true, opText, []byte(`{"type":"message.send","id":"c-1","body":{"client_msg_id":"m-1","text":"hello, is this jacket warm enough for winter?"}}`))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	conn := &chunkConn{}
	fr := frameReader{conn: conn, limit: maxFrameBytes}
	buf, chunks := make([]byte, len(frame)), make([][]byte, 1)
	for b.Loop() {
		copy(buf, frame) // the reader unmasks in place
		chunks[0] = buf
		conn.chunks = chunks
		if _, _, err := fr.next(); err != nil {
			b.Fatal(err)
		}
		fr.release()
	}
}
