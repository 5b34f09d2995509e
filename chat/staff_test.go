package chat_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The supervisor sees the snapshot, live changes, watches a conversation,
// whispers to its agent and reassigns it.
func TestSupervisorView(t *testing.T) {
	e := newEnv(t)
	tok1, a1 := e.account("mei@shop.test", "Mei", "agent", 5)
	ag1 := e.agent("agent1", tok1)
	sh, _, conv := e.shopper("Ann")
	ag1.expect("conversation.assigned")
	supTok, boss := e.account("boss@shop.test", "Boss", "supervisor", 1)

	sup := e.dial("supervisor", "/ws/supervisor", url.Values{"token": {supTok}})
	var snap struct {
		Conversations []wireConv `json:"conversations"`
		Agents        []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Load   int    `json:"load"`
		} `json:"agents"`
		Stats struct {
			ShoppersOnline int `json:"shoppers_online"`
		} `json:"stats"`
	}
	sup.expectBody("snapshot", &snap)
	if len(snap.Conversations) != 1 || len(snap.Conversations[0].Timers) != 1 || snap.Conversations[0].Timers[0].Rule != "greeting" {
		t.Fatalf("snapshot conversations = %+v", snap.Conversations)
	}
	if snap.Stats.ShoppersOnline != 1 {
		t.Fatalf("stats = %+v", snap.Stats)
	}
	var agentOK bool
	for _, a := range snap.Agents {
		if a.ID == a1.ID && a.Status == "online" && a.Load == 1 {
			agentOK = true
		}
	}
	if !agentOK {
		t.Fatalf("snapshot agents = %+v", snap.Agents)
	}

	sup.send("conversation.watch", conv.ID, nil)
	var watching struct {
		Conversation wireConv  `json:"conversation"`
		Messages     []wireMsg `json:"messages"`
	}
	sup.expectBody("conversation.watching", &watching)
	if watching.Conversation.ID != conv.ID {
		t.Fatalf("watching = %+v", watching)
	}
	sh.send("message.send", "", map[string]any{"client_msg_id": "s1", "text": "hello?"})
	if m := sup.expectFrom("shopper"); m.Text != "hello?" {
		t.Fatalf("watcher got %+v", m)
	}
	var started ruleBody
	sup.expectBody("timer.started", &started)

	sup.send("whisper", conv.ID, map[string]any{"text": "Offer the free gift wrap"})
	var wh struct {
		Text string `json:"text"`
		From struct {
			ID string `json:"id"`
		} `json:"from"`
	}
	ag1.expectBody("whisper", &wh)
	if wh.Text != "Offer the free gift wrap" || wh.From.ID != boss.ID {
		t.Fatalf("whisper = %+v", wh)
	}
	if n := count(sh.sync(), "whisper"); n != 0 {
		t.Fatal("the shopper saw a whisper")
	}

	// A supervisor's transfer reassigns.
	tok2, a2 := e.account("jie@shop.test", "Jie", "agent", 5)
	ag2 := e.agent("agent2", tok2)
	sup.send("conversation.transfer", conv.ID, map[string]any{"to_agent_id": a2.ID})
	var as convBody
	ag2.expectBody("conversation.assigned", &as)
	ag1.expect("conversation.transferred")

	// Agents may not use supervisor frames.
	ag2.send("whisper", conv.ID, map[string]any{"text": "hi"})
	var eb errBody
	ag2.expectBody("error", &eb)
	if eb.Code != "forbidden" {
		t.Fatalf("agent whisper = %+v", eb)
	}
}

// Staff sockets need the right token and role.
func TestStaffUpgradeAuth(t *testing.T) {
	e := newEnv(t)
	agentTok, _ := e.account("mei@shop.test", "Mei", "agent", 5)
	supTok, _ := e.account("boss@shop.test", "Boss", "supervisor", 1)
	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"agent without token", "/ws/agent", "", 401},
		{"agent with a wrong token", "/ws/agent", "nope", 401},
		{"agent", "/ws/agent", agentTok, 101},
		{"supervisor without token", "/ws/supervisor", "", 401},
		{"agent token on supervisor", "/ws/supervisor", agentTok, 403},
		{"supervisor", "/ws/supervisor", supTok, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.dialStatus(tc.path, url.Values{"token": {tc.token}}); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
}

// script.send fills placeholders, refuses unknown ones, and meets the timer.
func TestScriptSend(t *testing.T) {
	e := newEnv(t)
	ag, sh, conv := e.assigned()
	ag.sync()

	ag.send("script.send", conv.ID, map[string]any{"script_id": "en.greeting.welcome.1", "vars": map[string]string{"favourite_colour": "red"}})
	var eb errBody
	ag.expectBody("error", &eb)
	if eb.Code != "bad_request" || !strings.Contains(eb.Message, "favourite_colour") {
		t.Fatalf("unknown placeholder: %+v", eb)
	}
	ag.send("script.send", conv.ID, map[string]any{"script_id": "no.such.script"})
	ag.expectBody("error", &eb)
	if eb.Code != "not_found" {
		t.Fatalf("unknown script: %+v", eb)
	}
	ag.send("script.send", conv.ID, map[string]any{"script_id": "en.greeting.welcome.1", "client_msg_id": "sc1"})
	var ack ackBody
	ag.expectBody("message.ack", &ack)
	var met ruleBody
	ag.expectBody("timer.met", &met)
	if met.Rule != "greeting" {
		t.Fatalf("script met %+v", met)
	}
	m := sh.expectFrom("agent")
	if m.Kind != "script" || m.ScriptID != "en.greeting.welcome.1" || strings.Contains(m.Text, "{") || !strings.Contains(m.Text, e.cfg.ShopName) {
		t.Fatalf("script message = %+v", m)
	}
}

// Deadlines survive a restart: re-armed from the store, the auto greeting
// goes out once after the hub comes back.
func TestTimersSurviveRestart(t *testing.T) {
	e := newEnv(t)
	ag, _, conv := e.assigned()
	ag.expect("timer.started") // the greeting timer is stored
	e.clock.Advance(5 * time.Second)
	e.stop()

	e.boot()
	tok, _, err := e.hub.Login(context.Background(), "mei@shop.test", password)
	if err != nil {
		t.Fatal(err)
	}
	back := e.dial("agent-back", "/ws/agent", url.Values{"token": {tok}})
	var w struct {
		Conversations []wireConv `json:"conversations"`
	}
	back.expectBody("welcome", &w)
	if len(w.Conversations) != 1 || w.Conversations[0].ID != conv.ID {
		t.Fatalf("welcome after restart = %+v", w.Conversations)
	}
	back.expect("timer.started")     // the greeting timer still runs
	e.clock.Advance(7 * time.Second) // 12 s after opening
	var br ruleBody
	back.expectBody("rule.breached", &br)
	if br.Action != "auto_greeting" {
		t.Fatalf("breach = %+v", br)
	}
	msgs, err := e.st.Messages(context.Background(), conv.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	autos := 0
	for _, m := range msgs {
		if m.Auto {
			autos++
		}
	}
	if autos != 1 {
		t.Fatalf("%d automatic greetings after the restart, want 1", autos)
	}
}

// SIGTERM-style shutdown sends every socket a 1001 close.
func TestShutdownClosesWith1001(t *testing.T) {
	e := newEnv(t)
	sh, _, _ := e.shopper("Ann")
	e.stop()
	if code := sh.expectClose(); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
}
