package chat_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/scripts"
)

// BenchmarkShopperConnect is a new shopper nobody is free for, end to end
// over a real WebSocket: the upgrade, a visitor and a conversation stored
// with the greeting, and the opening frames read by the client (whose work
// is counted too). Sessions stay open, as in the idle load.
func BenchmarkShopperConnect(b *testing.B) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "daogou.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	lib, err := scripts.Embedded()
	if err != nil {
		b.Fatal(err)
	}
	hub := chat.NewHub(chat.DefaultConfig(), chat.Deps{Store: st, Broker: chat.NewMemoryBroker(), Scripts: lib, Log: zap.NewNop()})
	if err := hub.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	srv := frontServer(b, chat.NewServer(hub, nil), nil)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/shopper?locale=en&name=Ann"
	var conns []*websocket.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		_ = hub.Shutdown(context.Background())
		srv.Close()
		st.Close()
	})
	b.ReportAllocs()
	for b.Loop() {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		// welcome, conversation.opened, queued, message.new (the greeting)
		for range 4 {
			if _, _, err := c.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
