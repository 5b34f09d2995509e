package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/scripts"
)

// BenchmarkRelayRoundTrip is one turn of the relay load, end to end over
// real WebSockets and a SQLite file: a shopper's message stored, acked and
// delivered to the agent (with the first-response timer), the agent's
// answer stored, acked and delivered to the shopper (timer met). The
// clients' work is counted too; one op is two messages through the server.
func BenchmarkRelayRoundTrip(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "daogou.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	lib, err := scripts.Embedded()
	if err != nil {
		b.Fatal(err)
	}
	cfg := chat.DefaultConfig()
	cfg.PasswordCost = bcrypt.MinCost
	// A manual clock, a second on per turn: each connection stays within
	// the contract's rate limit, and every deadline is met.
	clock := chat.NewManualClock(start)
	hub := chat.NewHub(cfg, chat.Deps{Store: st, Broker: chat.NewMemoryBroker(), Scripts: lib, Log: zap.NewNop(), Clock: clock})
	if err := hub.Start(ctx); err != nil {
		b.Fatal(err)
	}
	srv := frontServer(b, chat.NewServer(hub, nil), nil)
	b.Cleanup(func() {
		_ = hub.Shutdown(ctx)
		srv.Close()
		st.Close()
	})
	if _, err := hub.CreateAccount(ctx, "mei@shop.test", "Mei", "bench-pass-123", "agent", []string{"en"}, 5); err != nil {
		b.Fatal(err)
	}
	token, _, err := hub.Login(ctx, "mei@shop.test", "bench-pass-123")
	if err != nil {
		b.Fatal(err)
	}
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	dial := func(path string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial(base+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	// until reads frames up to the first holding every marker.
	until := func(c *websocket.Conn, markers ...string) []byte {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			all := true
			for _, m := range markers {
				all = all && bytes.Contains(data, []byte(m))
			}
			if all {
				return data
			}
		}
	}
	agent := dial("/ws/agent?token=" + url.QueryEscape(token))
	until(agent, `"type":"welcome"`)
	shopper := dial("/ws/shopper?locale=en&name=Ann")
	var assigned struct {
		ConversationID string `json:"conversation_id"`
	}
	if err := json.Unmarshal(until(agent, `"type":"conversation.assigned"`), &assigned); err != nil {
		b.Fatal(err)
	}
	send := func(c *websocket.Conn, i int, who string) {
		f := fmt.Sprintf(`{"type":"message.send","id":"f%d","conversation_id":%q,"body":{"client_msg_id":"%s-%d","text":"where is my order, the blue one? %d"}}`,
			i, assigned.ConversationID, who, i, i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		clock.Advance(time.Second)
		send(shopper, i, "s")
		until(agent, `"type":"message.new"`, fmt.Sprintf(`"client_msg_id":"s-%d"`, i))
		send(agent, i, "a")
		until(shopper, `"type":"message.new"`, fmt.Sprintf(`"client_msg_id":"a-%d"`, i))
	}
}
