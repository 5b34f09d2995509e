package chat

import (
	"strconv"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/store"
)

var benchMsg = store.Message{
	ID: "0192f0a0-0000-7000-8000-000000000001", ConversationID: "0192f0a0-0000-7000-8000-0000000000c1", Seq: 42,
	Author: store.Author{Kind: store.AuthorShopper, ID: "0192f0a0-0000-7000-8000-0000000000v1", Name: "Ann"},
	Kind:   "text", Text: "Do you have these running shoes in a 39, and would they ship before Friday?",
	CreatedAt: store.At(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)), ClientMsgID: "c-17",
}

// BenchmarkEncodeMessageNew is the one encoding of every delivered message.
func BenchmarkEncodeMessageNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = encodeMessageNew(benchMsg)
	}
}

// BenchmarkDecodeSend is reading a client's message.send frame.
func BenchmarkDecodeSend(b *testing.B) {
	raw := []byte(`{"type":"message.send","id":"c-17","body":{"client_msg_id":"m-17","text":"Do you have these running shoes in a 39, and would they ship before Friday?"}}`)
	b.ReportAllocs()
	for b.Loop() {
		var f inFrame
		if err := decodeFrame(raw, &f); err != nil {
			b.Fatal(err)
		}
		var body sendBody
		if err := decodeSend(f.Body, &body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPacket is a frame's trip through the broker encoding.
func BenchmarkPacket(b *testing.B) {
	p := packet{kind: pkMessage, origin: "host-1-abcdef12", conv: benchMsg.ConversationID, seq: 42, frame: encodeMessageNew(benchMsg)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unmarshalPacket(p.marshal()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanOut is handing one frame to every local session on a
// channel (the supervisors' channel with many supervisors, or one agent's
// several consoles); writing to the sockets is the writers' part.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(strconv.Itoa(n)+"-sessions", func(b *testing.B) {
			h := NewHub(DefaultConfig(), Deps{Broker: NewMemoryBroker()})
			sessions := make([]*Session, n)
			for i := range sessions {
				s := newSession(h, nil, strconv.Itoa(i), RoleSupervisor)
				s.out.running = true // a writer is "busy": items only queue
				h.subscribe(s, supervisorChannel)
				sessions[i] = s
			}
			p := packet{kind: pkMessage, conv: benchMsg.ConversationID, seq: 42, frame: encodeMessageNew(benchMsg)}
			b.ReportAllocs()
			for b.Loop() {
				h.deliverLocal(supervisorChannel, p)
				for _, s := range sessions {
					s.out.items = s.out.items[:0]
				}
			}
		})
	}
}
