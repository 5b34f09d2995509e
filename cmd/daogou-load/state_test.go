package main

import (
	"io"
	"net/url"
	"testing"

	"go.uber.org/zap"
)

func testRun(t *testing.T) *run {
	t.Helper()
	u, _ := url.Parse("http://127.0.0.1:1")
	return newRun(config{URLs: []*url.URL{u}}, zap.NewNop(), io.Discard)
}

func TestTally(t *testing.T) {
	type counts struct{ sent, acked, recv, refused, sendErr int64 }
	for _, tc := range []struct {
		name    string
		c       counts
		dropped bool
		want    undelivered
	}{
		{"all delivered", counts{sent: 10, acked: 10, recv: 10}, false, undelivered{}},
		{"acked, not delivered", counts{sent: 10, acked: 10, recv: 7}, false, undelivered{acked: 3}},
		{"never acked", counts{sent: 10, acked: 6, recv: 6}, false, undelivered{unacked: 4}},
		{"both", counts{sent: 10, acked: 8, recv: 5}, false, undelivered{acked: 3, unacked: 2}},
		{"refused and failed writes are not lost", counts{sent: 10, acked: 7, recv: 7, refused: 2, sendErr: 1}, false, undelivered{}},
		{"a dropped session", counts{sent: 10, acked: 8, recv: 5}, true, undelivered{dropped: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRun(t)
			c := r.reg.add("c1")
			c.s.sent.Store(tc.c.sent)
			c.s.acked.Store(tc.c.acked)
			c.s.recv.Store(tc.c.recv)
			c.s.refused.Store(tc.c.refused)
			c.s.sendErr.Store(tc.c.sendErr)
			c.dropped.Store(tc.dropped)
			if got := r.tally(shopperSide); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if got := r.tally(agentSide); got != (undelivered{}) {
				t.Errorf("the other direction: %+v", got)
			}
		})
	}
}

func TestErrorsAndAcksFindTheirMessage(t *testing.T) {
	for _, tc := range []struct {
		name         string
		frame        string
		ack          bool
		wantRefusedS int64
		wantRefusedA int64
		wantAckedS   int64
		wantCode     string
	}{
		{name: "shopper message refused", frame: `{"type":"error","ref":"s3.1","body":{"code":"rate_limited","message":"slow down"}}`, wantRefusedS: 1, wantCode: "shopper:rate_limited"},
		{name: "agent answer refused", frame: `{"type":"error","ref":"a1.1","conversation_id":"c2","body":{"code":"conflict","message":"closed"}}`, wantRefusedA: 1, wantCode: "shopper:conflict"},
		{name: "unknown conversation index", frame: `{"type":"error","ref":"s3.9","body":{"code":"internal","message":"x"}}`, wantCode: "shopper:internal"},
		{name: "not a message", frame: `{"type":"error","ref":"close","body":{"code":"forbidden","message":"x"}}`, wantCode: "shopper:forbidden"},
		{name: "ack of a shopper message", frame: `{"type":"message.ack","ref":"s4.1","conversation_id":"c2","body":{"client_msg_id":"s4","seq":9}}`, ack: true, wantAckedS: 1},
		{name: "ack of an agent answer on the shopper side", frame: `{"type":"message.ack","ref":"a4.1","body":{}}`, ack: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRun(t)
			r.reg.add("c1")
			c := r.reg.add("c2")
			if tc.ack {
				r.onAck([]byte(tc.frame), &r.st.s2a, shopperSide, dirShopper)
			} else {
				r.onError([]byte(tc.frame), "shopper")
			}
			if c.s.refused.Load() != tc.wantRefusedS || c.a.refused.Load() != tc.wantRefusedA || c.s.acked.Load() != tc.wantAckedS {
				t.Errorf("refused s %d a %d, acked s %d", c.s.refused.Load(), c.a.refused.Load(), c.s.acked.Load())
			}
			if r.st.s2a.refused.Load() != tc.wantRefusedS || r.st.s2a.acked.Load() != tc.wantAckedS {
				t.Errorf("totals: refused %d acked %d", r.st.s2a.refused.Load(), r.st.s2a.acked.Load())
			}
			if tc.wantCode != "" && r.st.snapshot(r.st.errors)[tc.wantCode] != 1 {
				t.Errorf("errors %v, want %s counted", r.st.snapshot(r.st.errors), tc.wantCode)
			}
		})
	}
}
