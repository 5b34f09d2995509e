package chat

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/store"
)

// The hand-written encoder makes exactly what encoding/json makes.
func TestAppendMessageNewMatchesEncodingJSON(t *testing.T) {
	at := store.At(time.Date(2026, 11, 24, 9, 0, 0, 123_000_000, time.FixedZone("CST", 8*3600)))
	for _, tc := range []struct {
		name string
		m    store.Message
	}{
		{"plain", benchMsg},
		{"html and quotes", store.Message{ID: "1", ConversationID: "c", Seq: 1, Text: `<script>alert("x")</script> & 'q' \ back`, CreatedAt: at}},
		{"control characters", store.Message{Text: "tab\tnew\nline\rcr\bbs\fff\x00nul\x1fus\x7fdel", CreatedAt: at}},
		{"unicode", store.Message{Text: "您好，亲！🙂 line\u2028sep\u2029para", Author: store.Author{Name: "小美"}, CreatedAt: at}},
		{"invalid utf-8", store.Message{Text: "bad \xff\xfe bytes \xc3", CreatedAt: at}},
		{"auto with a script", store.Message{Kind: "system", Auto: true, ScriptID: "en.holding.busy.1", CreatedAt: at}},
		{"zero time", store.Message{Text: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := appendMessageNew(nil, tc.m)
			want, err := json.Marshal(outFrame{Type: TypeMessageNew, ConversationID: tc.m.ConversationID, Body: struct {
				Message store.Message `json:"message"`
			}{tc.m}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("\n got  %s\n want %s", got, want)
			}
		})
	}
}

// A message.new is encoded in one allocation: its buffer is sized for it,
// ids, a client id, a script id and ordinary escapes included (text made
// mostly of characters to escape, like HTML, grows it again).
func TestEncodeMessageNewSize(t *testing.T) {
	id := "0192f0a0-0000-7000-8000-0000000000c9"
	full := benchMsg
	full.ID, full.ConversationID, full.Author.ID, full.ClientMsgID, full.ScriptID = id, id, id, id, "en.recommend.match.2"
	for _, tc := range []struct {
		name string
		m    store.Message
	}{
		{"a shopper's line", benchMsg},
		{"every id at its longest", full},
		{"a long text with quotes and lines", store.Message{ID: id, ConversationID: id, Text: strings.Repeat("Does the \"Aurora\" jacket come in navy?\n", 100)}},
		{"chinese", store.Message{ID: id, ConversationID: id, Text: strings.Repeat("您好，这双鞋有三十九码吗？", 40)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(20, func() { _ = encodeMessageNew(tc.m) }); n != 1 {
				t.Fatalf("%v allocations, want 1", n)
			}
		})
	}
}

// encode writes the per-message bodies by hand; the frames are what
// encoding/json makes of them.
func TestEncodeByHandMatchesEncodingJSON(t *testing.T) {
	at := store.At(time.Date(2026, 11, 24, 9, 0, 0, 123_000_000, time.FixedZone("CST", 8*3600)))
	queued := convView{
		Conversation: store.Conversation{ID: "c1", VisitorID: "v1", VisitorName: "Ann <b>", State: store.Queued, Locale: "en",
			Topic: "after_sales", Context: json.RawMessage("{ \"page\" : \"https://shop.test/p?a=1&b=<2>\",\n \"cart\": [1, 2.50, null] }"),
			OpenedAt: at, LastSeq: 1},
		Timers:        []timerView{{Rule: "greeting", Started: at, Deadline: store.At(at.Add(15 * time.Second))}},
		QueuePosition: 3,
	}
	assigned := convView{
		Conversation: store.Conversation{ID: "c1", VisitorID: "v1", State: store.Assigned, AgentID: "a1", Locale: "zh-CN",
			Context: json.RawMessage("null"), OpenedAt: at, AssignedAt: at, LastSeq: 12, Outcome: "line\u2028sep"},
		Timers: []timerView{{Rule: "first_response", Started: at, Deadline: store.At(at.Add(3 * time.Second)), Held: true},
			{Rule: "greeting", Started: at}},
		WaitingSince: at,
		Breaches:     2,
	}
	for _, tc := range []struct {
		name, typ, conv, ref string
		body                 any
	}{
		{"ack", TypeMessageAck, "c1", "f-1", ackBody{ClientMsgID: "m-1", Seq: 42, MessageID: "0193-aa"}},
		{"ack, odd client id", TypeMessageAck, "c1", `<&"\>`, ackBody{ClientMsgID: "id\u2028\xff\n", Seq: 1, MessageID: "x"}},
		{"ack without ref or conversation", TypeMessageAck, "", "", ackBody{}},
		{"timer started", TypeTimerStarted, "c2", "", timerStartedBody{Rule: "first_response", Deadline: at}},
		{"timer started, zero deadline", TypeTimerStarted, "c2", "", timerStartedBody{Rule: "greeting"}},
		{"timer met", TypeTimerMet, "c3", "", timerMetBody{Rule: "first_response", ElapsedMs: 1234}},
		{"timer met, negative", TypeTimerMet, "c3", "r", timerMetBody{Rule: "x", ElapsedMs: -5}},
		{"welcome, new visitor", TypeWelcome, "", "", shopperWelcome{SessionID: "s1", VisitorID: "v1", VisitorToken: "tok<>&", Locale: "zh-CN"}},
		{"welcome, back with a conversation and an agent", TypeWelcome, "", "", shopperWelcome{SessionID: "s1", VisitorID: "v1", Locale: "en",
			Conversation: &assigned, Agent: &agentRef{ID: "a1", Name: "小美 \"Mei\""}}},
		{"conversation opened, queued", TypeOpened, "c1", "", convBody{Conversation: queued}},
		{"conversation opened, assigned", TypeOpened, "c1", "", convBody{Conversation: assigned}},
		{"conversation, nil timers and context", TypeOpened, "c1", "", convBody{Conversation: convView{Conversation: store.Conversation{ID: "c1"}}}},
		{"conversation, context not JSON", TypeOpened, "c1", "", convBody{Conversation: convView{Conversation: store.Conversation{ID: "c1", Context: json.RawMessage(`{"page":`)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := encode(tc.typ, tc.conv, tc.ref, tc.body)
			want, err := json.Marshal(outFrame{Type: tc.typ, Ref: tc.ref, ConversationID: tc.conv, Body: tc.body})
			if err != nil { // encode answers with an internal error instead
				want, _ = json.Marshal(outFrame{Type: TypeError, Ref: tc.ref, Body: errorBody{Code: CodeInternal, Message: "could not encode a reply"}})
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("\n got  %s\n want %s", got, want)
			}
		})
	}
}

// FuzzAppendJSONString: any string is quoted byte for byte as
// encoding/json quotes it.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `<a href="x">&</a>`, "tab\tnl\n\x00\x1f\x7f", "您好🙂\u2028\u2029", "bad \xff\xc3", `\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q)\n got  %s\n want %s", s, got, want)
		}
	})
}
