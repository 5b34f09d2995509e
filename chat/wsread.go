package chat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"unicode/utf8"
)

// The read side of the WebSocket is the server's own (RFC 6455, frames from
// a client): gorilla/websocket upgrades the connection and writes, this
// reads. Reading ourselves is what lets an idle session give back its buffer
// and its goroutine between frames (see parker): gorilla's reader handles
// control frames inside NextReader and goes on to wait for the next frame,
// and its read errors are permanent, so its reader cannot stop between
// frames.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// readBufSize is the buffer a reader borrows while a session has bytes to
// read; it goes back to the pool once they are read.
const readBufSize = 4096

var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// errTooLarge is a message over the limit: the socket closes with 1009.
var errTooLarge = errors.New("websocket: message over the size limit")

// protocolError breaks RFC 6455: the socket closes with 1002.
type protocolError string

func (e protocolError) Error() string { return "websocket: " + string(e) }

// peerClosed is a close frame from the peer.
type peerClosed struct {
	code int
	text string
}

func (e *peerClosed) Error() string {
	return fmt.Sprintf("websocket: peer closed (%d %s)", e.code, e.text)
}

// frameReader reads client frames from a connection. Between frames it can
// hold nothing: buffered() == 0 and !partial() mean the buffer has gone back
// to the pool and the next byte is still in the socket.
type frameReader struct {
	conn  net.Conn
	limit int // the largest message, in bytes

	buf  *[]byte // borrowed from readBuffers (or bigger, for one large frame)
	r, w int     // unread bytes are (*buf)[r:w]

	msg   []byte // a fragmented message so far
	msgOp byte   // its opcode; 0 when none is under way
}

// buffered is how many read bytes wait to be handled.
func (fr *frameReader) buffered() int { return fr.w - fr.r }

// partial says a fragmented message is under way.
func (fr *frameReader) partial() bool { return fr.msgOp != 0 }

// release gives the buffer back when nothing in it waits.
func (fr *frameReader) release() {
	if fr.buf == nil || fr.r != fr.w {
		return
	}
	if len(*fr.buf) == readBufSize {
		readBuffers.Put(fr.buf)
	}
	fr.buf, fr.r, fr.w = nil, 0, 0
}

// fill makes sure n unread bytes are in the buffer, reading as much as the
// socket has.
func (fr *frameReader) fill(n int) error {
	for fr.w-fr.r < n {
		if fr.buf == nil {
			fr.buf = readBuffers.Get().(*[]byte)
		}
		b := *fr.buf
		if fr.r+n > len(b) {
			if n > len(b) { // one large frame: a buffer of its own
				nb := make([]byte, n)
				fr.w = copy(nb, b[fr.r:fr.w])
				fr.r = 0
				if len(b) == readBufSize {
					readBuffers.Put(fr.buf)
				}
				fr.buf, b = &nb, nb
			} else {
				fr.w = copy(b, b[fr.r:fr.w])
				fr.r = 0
			}
		}
		m, err := fr.conn.Read(b[fr.w:])
		fr.w += m
		if err != nil && fr.w-fr.r < n {
			return err
		}
	}
	return nil
}

// next reads the next message (text or binary, reassembled from its
// fragments) or control frame. The payload is valid until the next call.
func (fr *frameReader) next() (op byte, payload []byte, err error) {
	for {
		fin, op, p, err := fr.frame()
		if err != nil {
			return 0, nil, err
		}
		switch op {
		case opPing, opPong:
			return op, p, nil
		case opClose:
			return op, p, closeFrame(p)
		case opText, opBinary:
			if fr.msgOp != 0 {
				return 0, nil, protocolError("a new message inside a fragmented one")
			}
			if fin {
				return op, p, nil
			}
			fr.msgOp, fr.msg = op, append(fr.msg[:0], p...)
		case opContinuation:
			if fr.msgOp == 0 {
				return 0, nil, protocolError("a continuation frame with no message to continue")
			}
			if len(fr.msg)+len(p) > fr.limit {
				return 0, nil, errTooLarge
			}
			fr.msg = append(fr.msg, p...)
			if fin {
				op, p := fr.msgOp, fr.msg
				fr.msgOp, fr.msg = 0, nil
				return op, p, nil
			}
		}
	}
}

// frame reads one frame and unmasks its payload in place.
func (fr *frameReader) frame() (fin bool, op byte, payload []byte, err error) {
	if err := fr.fill(2); err != nil {
		return false, 0, nil, err
	}
	b := (*fr.buf)[fr.r:]
	fin, op = b[0]&0x80 != 0, b[0]&0x0F
	masked, size := b[1]&0x80 != 0, uint64(b[1]&0x7F)
	switch {
	case b[0]&0x70 != 0:
		return false, 0, nil, protocolError("reserved bits set without an extension")
	case !masked:
		return false, 0, nil, protocolError("a client frame must be masked")
	case op > opBinary && op < opClose || op > opPong:
		return false, 0, nil, protocolError(fmt.Sprintf("unknown opcode %d", op))
	case op >= opClose && (!fin || size > 125):
		return false, 0, nil, protocolError("a control frame must be whole and at most 125 bytes")
	}
	head := 2 + 4
	switch size {
	case 126:
		head += 2
	case 127:
		head += 8
	}
	if err := fr.fill(head); err != nil {
		return false, 0, nil, err
	}
	b = (*fr.buf)[fr.r:]
	switch size {
	case 126:
		size = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		size = binary.BigEndian.Uint64(b[2:])
	}
	if size > uint64(fr.limit) {
		return false, 0, nil, errTooLarge
	}
	if err := fr.fill(head + int(size)); err != nil {
		return false, 0, nil, err
	}
	b = (*fr.buf)[fr.r:]
	key := b[head-4 : head]
	payload = b[head : head+int(size)]
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	fr.r += head + int(size)
	return fin, op, payload, nil
}

// closeFrame reads a close frame's payload: the peer's code and reason.
func closeFrame(p []byte) error {
	switch {
	case len(p) == 0:
		return &peerClosed{code: 1005}
	case len(p) == 1:
		return protocolError("a close frame with a one-byte payload")
	case !utf8.Valid(p[2:]):
		return protocolError("a close reason that is not UTF-8")
	}
	return &peerClosed{code: int(binary.BigEndian.Uint16(p)), text: string(p[2:])}
}
