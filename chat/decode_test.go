package chat

import (
	"bytes"
	"encoding/json"
	"testing"
)

var decodeSeeds = []string{
	`{"type":"message.send","id":"c-17","body":{"client_msg_id":"m-17","text":"Do you have these in a 39?"}}`,
	`{"type":"message.send","conversation_id":"0193a","id":"f1","body":{"client_msg_id":"m-1","text":"您好，亲！🙂"}}`,
	` { "type" : "ping" , "id" : "p" } `,
	`{"type":"typing","body":{"a":[1,{"b":"}"}],"c":"\"{"}}`,
	`{"type":"message.send","body":{"client_msg_id":"m","text":"line\nbreak \"quoted\" <b>"}}`,
	`{"TYPE":"ping"}`,
	`{"type":"a","type":"b"}`,
	`{"type":null,"id":"x"}`,
	`{"type":"x","body":null}`,
	`{"type":"x","body":[1,2]}`,
	`{"type":"bad \xff utf8"}`,
	`{"type":"ctl ` + "\x01" + `"}`,
	`{"type":"x"} trailing`,
	`{"type":"x",}`,
	`{"type":"x","body":{"a":}}`,
	`{}`,
	`[]`,
	``,
	`{"text":"t","client_msg_id":"c"}`,
	`{"client_msg_id":"c","text":"t","extra":1}`,
	`{"type":"x","id":5}`,
}

// Whatever decodeFrame accepts, encoding/json reads the same way, and what
// it refuses, encoding/json refuses with the same error.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want inFrame
		read := sameErrors(t, data, decodeFrame(data, &got), json.Unmarshal(data, &want))
		if read && (got.Type != want.Type || got.ID != want.ID || got.ConversationID != want.ConversationID ||
			!bytes.Equal(got.Body, want.Body)) {
			t.Fatalf("%q: %+v, encoding/json %+v", data, got, want)
		}
	})
}

// sameErrors fails the test unless the fast path's error is encoding/json's
// (both nil, or the same message); true means both read data.
func sameErrors(t *testing.T, data []byte, got, want error) bool {
	t.Helper()
	if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
		t.Fatalf("%q: error %v, encoding/json %v", data, got, want)
	}
	return got == nil
}

func FuzzDecodeSend(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want sendBody
		if sameErrors(t, data, decodeSend(data, &got), decodeBody(data, &want)) && got != want {
			t.Fatalf("%q: %+v, decodeBody %+v", data, got, want)
		}
	})
}

// The plain frames a client sends take the fast path.
func TestDecodeFramePlainIsFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		fast bool
	}{
		{"message.send", decodeSeeds[0], true},
		{"spaces and unicode", decodeSeeds[2], true},
		{"nested body", decodeSeeds[3], true},
		{"escapes in the body", decodeSeeds[4], true}, // the body is kept raw
		{"another spelling", decodeSeeds[5], false},
		{"a key twice", decodeSeeds[6], false},
		{"null", decodeSeeds[7], false},
		{"invalid utf-8", decodeSeeds[10], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f inFrame
			dst := [...]*string{&f.Type, &f.ID, &f.ConversationID}
			if got := scanPlain([]byte(tc.data), frameKeys[:], dst[:], "body", (*[]byte)(&f.Body)); got != tc.fast {
				t.Fatalf("fast path %v, want %v", got, tc.fast)
			}
		})
	}
}
