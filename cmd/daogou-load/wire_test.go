package main

import (
	"encoding/json"
	"testing"
)

func TestTopString(t *testing.T) {
	for _, tc := range []struct {
		name, frame, key, want string
	}{
		{"first key", `{"type":"message.new","conversation_id":"c1","body":{}}`, "type", "message.new"},
		{"after a nested body", `{"body":{"type":"inner","x":[1,{"type":"deeper"}]},"type":"outer"}`, "type", "outer"},
		{"spaces", "{ \"ref\" : \"s12\" ,\n \"type\":\t\"error\" }", "type", "error"},
		{"escaped quote in an earlier value", `{"text":"say \"type\":\"x\"","type":"message.new"}`, "type", "message.new"},
		{"after numbers and literals", `{"n":12.5e3,"ok":true,"none":null,"conversation_id":"c9"}`, "conversation_id", "c9"},
		{"missing", `{"type":"pong"}`, "ref", ""},
		{"not a string", `{"type":7}`, "type", ""},
		{"not an object", `["type","x"]`, "type", ""},
		{"truncated", `{"body":{"a":"b"`, "type", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(topString([]byte(tc.frame), tc.key)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  byte
		n    int64
		ts   int64
		size int
	}{
		{"shopper", dirShopper, 1, 1_700_000_000_123_456_789, 100},
		{"agent large n", dirAgent, 987654321, 1_700_000_000_000_000_000, 100},
		{"greeting", dirGreeting, 0, 42, 40},
		{"size below the marker keeps the marker", dirShopper, 5, 1_700_000_000_000_000_000, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := appendSend(nil, "conv-1", 42, tc.dir, tc.n, tc.ts, tc.size)
			var f struct {
				Type           string `json:"type"`
				ID             string `json:"id"`
				ConversationID string `json:"conversation_id"`
				Body           struct {
					ClientMsgID string `json:"client_msg_id"`
					Text        string `json:"text"`
				} `json:"body"`
			}
			if err := json.Unmarshal(frame, &f); err != nil {
				t.Fatalf("not JSON: %v: %s", err, frame)
			}
			if f.Type != "message.send" || f.ConversationID != "conv-1" || f.ID != f.Body.ClientMsgID+".42" || f.Body.ClientMsgID == "" {
				t.Errorf("frame %s", frame)
			}
			if dir, n, idx, ok := parseFrameID([]byte(f.ID)); tc.n > 0 && (!ok || dir != tc.dir || n != tc.n || idx != 42) {
				t.Errorf("frame id %q read as %c %d %d %v", f.ID, dir, n, idx, ok)
			}
			if len(f.Body.Text) < tc.size {
				t.Errorf("text is %d bytes, want at least %d", len(f.Body.Text), tc.size)
			}
			if tc.size >= 40 && len(f.Body.Text) != tc.size {
				t.Errorf("text is %d bytes, want %d", len(f.Body.Text), tc.size)
			}
			dir, n, ts, ok := findMarker(frame)
			if !ok || dir != tc.dir || n != tc.n || ts != tc.ts {
				t.Errorf("marker read as %c %d %d %v", dir, n, ts, ok)
			}
		})
	}
}

func TestFindMarkerRejects(t *testing.T) {
	for _, text := range []string{
		`{"text":"hello"}`,
		`{"text":"dgl|"}`,
		`{"text":"dgl|s|"}`,
		`{"text":"dgl|s|12"}`,
		`{"text":"dgl|s|12|"}`,
		`{"text":"dgl|sx12|34|"}`,
		`{"text":"dgl|s||34|"}`,
	} {
		t.Run(text, func(t *testing.T) {
			if _, _, _, ok := findMarker([]byte(text)); ok {
				t.Errorf("%s read as a marker", text)
			}
		})
	}
}

func TestWireTime(t *testing.T) {
	for _, tc := range []struct {
		in      string
		zero    bool
		wantErr bool
	}{
		{in: `"2025-01-02T03:04:05.678Z"`},
		{in: `null`, zero: true},
		{in: `"yesterday"`, wantErr: true},
		{in: `5`, wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var w wireTime
			err := json.Unmarshal([]byte(tc.in), &w)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if !tc.wantErr && w.IsZero() != tc.zero {
				t.Errorf("zero %v, want %v", w.IsZero(), tc.zero)
			}
			if !tc.wantErr && !tc.zero && w.Nanosecond() != 678_000_000 {
				t.Errorf("milliseconds lost: %v", w.Time)
			}
		})
	}
}

func TestParseFrameID(t *testing.T) {
	for _, tc := range []struct {
		id  string
		dir byte
		n   int64
		idx int
		ok  bool
	}{
		{"s12.345", 's', 12, 345, true},
		{"a1.0", 'a', 1, 0, true},
		{"s12", 0, 0, 0, false},
		{"s.3", 0, 0, 0, false},
		{"s0.3", 0, 0, 0, false},
		{"sx.3", 0, 0, 0, false},
		{"s1.-3", 0, 0, 0, false},
		{"close", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			dir, n, idx, ok := parseFrameID([]byte(tc.id))
			if ok != tc.ok || dir != tc.dir || n != tc.n || idx != tc.idx {
				t.Errorf("got %c %d %d %v", dir, n, idx, ok)
			}
		})
	}
}
