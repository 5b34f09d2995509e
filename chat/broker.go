package chat

import (
	"context"
	"encoding/binary"
	"errors"
)

// Broker carries frames between instances. Channels are named by recipient
// (an agent, a visitor, the supervisors, the watchers of a conversation); the
// hub subscribes to a channel when the first local session needs it and
// unsubscribes with the last. The in-memory broker serves one instance; the
// Redis broker makes any number of instances act as one.
//
// Delivery is at most once. After a broker has lost and restored its
// subscriptions it calls the resubscribed handler, and the hub brings every
// affected session up to date from the store by seq.
type Broker interface {
	// Start begins delivery: every payload published on a subscribed
	// channel is passed to deliver; resubscribed is called with the channels
	// after a reconnect. Start is called once, before anything else.
	Start(deliver func(channel string, payload []byte), resubscribed func(channels []string)) error
	Publish(ctx context.Context, channel string, payload []byte) error
	Subscribe(ctx context.Context, channels ...string) error
	Unsubscribe(ctx context.Context, channels ...string) error
	// Ping checks the broker answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// Channel names.
func agentChannel(id string) string   { return "a." + id }
func visitorChannel(id string) string { return "v." + id }
func watchChannel(id string) string   { return "w." + id }

const (
	supervisorChannel = "sup"
	// controlChannel carries instance-to-instance notes (rule events for
	// the figures, session counts), never frames.
	controlChannel = "ctl"
)

// A packet is what travels through the broker: a frame plus what a session
// writer needs to keep message order without parsing JSON.
type packet struct {
	kind   packetKind
	origin string // the publishing instance, which delivered locally already
	conv   string
	seq    int64
	frame  []byte
}

type packetKind byte

const (
	// pkPlain is written as it is.
	pkPlain packetKind = iota
	// pkMessage is a message.new frame with its seq: the session writer
	// drops one it already sent and fills a gap from the store.
	pkMessage
	// pkMark says the session now sees the conversation up to seq (it was
	// assigned or shown with the history up to there).
	pkMark
	// pkQueued is a conversation.queued frame with the version of the
	// queue it describes in seq: a session drops one older than it sent.
	pkQueued
)

var errBadPacket = errors.New("chat: malformed broker packet")

func (p packet) marshal() []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*3+len(p.origin)+len(p.conv)+len(p.frame))
	b = append(b, byte(p.kind))
	b = binary.AppendUvarint(b, uint64(p.seq))
	b = binary.AppendUvarint(b, uint64(len(p.origin)))
	b = append(b, p.origin...)
	b = binary.AppendUvarint(b, uint64(len(p.conv)))
	b = append(b, p.conv...)
	return append(b, p.frame...)
}

func unmarshalPacket(b []byte) (packet, error) {
	if len(b) < 1 {
		return packet{}, errBadPacket
	}
	p := packet{kind: packetKind(b[0])}
	b = b[1:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return packet{}, errBadPacket
	}
	b = b[n:]
	var field [2]string
	for i := range field {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return packet{}, errBadPacket
		}
		b = b[n:]
		field[i], b = string(b[:l]), b[l:]
	}
	p.seq, p.origin, p.conv, p.frame = int64(seq), field[0], field[1], b
	return p, nil
}
