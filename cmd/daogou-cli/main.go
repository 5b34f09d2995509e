// Command daogou-cli is a small terminal client of the Daogou wire
// protocol: chat as a shopper or as an agent from two terminals.
//
//	daogou-cli shopper [-url http://localhost:8080] [-name Ann] [-locale en]
//	daogou-cli agent -email agent1@demo.local -password PASSWORD [-url …]
//
// Lines typed are sent as messages. An agent also has commands: /scripts
// [category], /script ID, /use CONVERSATION, /close OUTCOME, /status STATUS.
// -raw prints every frame as the server sent it.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "shopper" && os.Args[1] != "agent") {
		fmt.Fprintln(os.Stderr, "usage: daogou-cli shopper|agent [flags]  (-h for the flags)")
		os.Exit(2)
	}
	role := os.Args[1]
	fs := flag.NewFlagSet("daogou-cli "+role, flag.ExitOnError)
	base := fs.String("url", "http://localhost:8080", "the server")
	raw := fs.Bool("raw", false, "print every frame as JSON")
	name := fs.String("name", "", "shopper: display name")
	locale := fs.String("locale", "en", "shopper: zh-CN or en")
	visitorID := fs.String("visitor-id", "", "shopper: resume as this visitor")
	visitorToken := fs.String("visitor-token", "", "shopper: the visitor's token")
	email := fs.String("email", "", "agent: e-mail")
	password := fs.String("password", "", "agent: password")
	fs.Parse(os.Args[2:])

	c := &cli{base: strings.TrimRight(*base, "/"), raw: *raw, role: role, locale: *locale}
	var err error
	if role == "shopper" {
		q := url.Values{"name": {*name}, "locale": {*locale}}
		if *visitorID != "" {
			q.Set("visitor_id", *visitorID)
			q.Set("visitor_token", *visitorToken)
		}
		err = c.connect("/ws/shopper", q)
	} else {
		if err = c.login(*email, *password); err == nil {
			err = c.connect("/ws/agent", url.Values{"token": {c.token}})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "daogou-cli:", err)
		os.Exit(1)
	}
	go c.readLoop()
	c.inputLoop(os.Stdin)
}

type cli struct {
	base, role, locale, token string
	raw                       bool
	conn                      *websocket.Conn
	wmu                       sync.Mutex

	mu      sync.Mutex
	current string // the conversation typed lines go to
}

type frame struct {
	Type           string          `json:"type"`
	Ref            string          `json:"ref,omitempty"`
	ID             string          `json:"id,omitempty"`
	ConversationID string          `json:"conversation_id,omitempty"`
	Body           json.RawMessage `json:"body,omitempty"`
}

func (c *cli) login(email, password string) error {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(c.base+"/api/v1/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("login: %s %s", resp.Status, b)
	}
	var out struct {
		Token string                `json:"token"`
		Agent struct{ Name string } `json:"agent"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	c.token = out.Token
	fmt.Printf("logged in as %s\n", out.Agent.Name)
	return nil
}

func (c *cli) connect(path string, q url.Values) error {
	u := "ws" + strings.TrimPrefix(c.base, "http") + path + "?" + q.Encode()
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("connect: %s", resp.Status)
		}
		return fmt.Errorf("connect: %w", err)
	}
	c.conn = conn
	return nil
}

func (c *cli) send(typ, conv string, body any) {
	b, _ := json.Marshal(body)
	f := frame{Type: typ, ID: uuid.NewString()[:8], ConversationID: conv, Body: b}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteJSON(f); err != nil {
		fmt.Fprintln(os.Stderr, "send:", err)
	}
}

func (c *cli) readLoop() {
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				fmt.Printf("* closed by the server: %d %s\n", ce.Code, ce.Text)
			} else {
				fmt.Println("* connection lost:", err)
			}
			os.Exit(1)
		}
		if c.raw {
			fmt.Printf("< %s\n", data)
			continue
		}
		var f frame
		if json.Unmarshal(data, &f) == nil {
			c.show(f)
		}
	}
}

// show prints a frame for a person.
func (c *cli) show(f frame) {
	var b map[string]any
	_ = json.Unmarshal(f.Body, &b)
	str := func(m any, keys ...string) string {
		for _, k := range keys {
			mm, ok := m.(map[string]any)
			if !ok {
				return ""
			}
			m = mm[k]
		}
		if m == nil {
			return ""
		}
		return fmt.Sprint(m)
	}
	switch f.Type {
	case "welcome":
		if c.role == "shopper" {
			fmt.Printf("* welcome, visitor %s", str(b, "visitor_id"))
			if t := str(b, "visitor_token"); t != "" {
				fmt.Printf(" (resume later with -visitor-id %s -visitor-token %s)", str(b, "visitor_id"), t)
			}
			fmt.Println()
			if id := str(b, "conversation", "id"); id != "" {
				c.use(id)
			}
		} else {
			convs, _ := b["conversations"].([]any)
			fmt.Printf("* online, %d conversation(s)\n", len(convs))
			for _, cv := range convs {
				c.use(str(cv, "id"))
				fmt.Printf("  %s with %s\n", str(cv, "id"), str(cv, "visitor_name"))
			}
		}
	case "conversation.opened":
		c.use(str(b, "conversation", "id"))
		fmt.Println("* conversation opened")
	case "conversation.queued":
		fmt.Printf("* in the queue: position %s, about %ss\n", str(b, "position"), str(b, "estimated_wait_s"))
	case "conversation.assigned":
		c.use(f.ConversationID)
		if c.role == "shopper" {
			fmt.Printf("* %s is here to help\n", str(b, "agent", "name"))
		} else {
			fmt.Printf("* new conversation %s with %q (now current)\n", f.ConversationID, str(b, "conversation", "visitor_name"))
		}
	case "conversation.transferred":
		fmt.Printf("* conversation %s went to %s\n", f.ConversationID, str(b, "to_agent", "name"))
	case "conversation.closed":
		fmt.Printf("* conversation closed (%s)\n", str(b, "outcome"))
	case "message.new":
		who := str(b, "message", "author", "name")
		if who == "" {
			who = str(b, "message", "author", "kind")
		}
		auto := ""
		if str(b, "message", "auto") == "true" {
			auto = " (automatic)"
		}
		fmt.Printf("[%s]%s %s\n", who, auto, str(b, "message", "text"))
	case "message.ack":
		// the message is stored; nothing to show
	case "typing":
		if str(b, "on") == "true" {
			fmt.Printf("* %s is typing…\n", str(b, "author", "name"))
		}
	case "timer.started":
		fmt.Printf("* timer %s runs until %s\n", str(b, "rule"), str(b, "deadline"))
	case "timer.met":
		fmt.Printf("* %s met in %s ms\n", str(b, "rule"), str(b, "elapsed_ms"))
	case "rule.breached":
		fmt.Printf("* %s breached after %s ms: %s\n", str(b, "rule"), str(b, "elapsed_ms"), str(b, "action"))
	case "error":
		fmt.Printf("! %s: %s\n", str(b, "code"), str(b, "message"))
	case "whisper":
		fmt.Printf("(whisper from %s) %s\n", str(b, "from", "name"), str(b, "text"))
	case "pong", "read", "agent.updated", "conversation.updated":
	default:
		fmt.Printf("* %s\n", f.Type)
	}
}

func (c *cli) use(id string) {
	if id == "" {
		return
	}
	c.mu.Lock()
	c.current = id
	c.mu.Unlock()
}

func (c *cli) conv() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

func (c *cli) inputLoop(in io.Reader) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if c.role == "agent" && strings.HasPrefix(line, "/") {
			c.command(line)
			continue
		}
		conv := ""
		if c.role == "agent" {
			if conv = c.conv(); conv == "" {
				fmt.Println("! no conversation yet")
				continue
			}
		}
		c.send("message.send", conv, map[string]string{"client_msg_id": uuid.NewString(), "text": line})
	}
	c.wmu.Lock()
	c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	c.wmu.Unlock()
}

func (c *cli) command(line string) {
	cmd, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "/scripts":
		c.listScripts(arg)
	case "/script":
		c.send("script.send", c.conv(), map[string]any{"script_id": arg, "client_msg_id": uuid.NewString()})
	case "/use":
		c.use(arg)
	case "/close":
		c.send("conversation.close", c.conv(), map[string]string{"outcome": arg})
	case "/status":
		c.send("status.set", "", map[string]string{"status": arg})
	case "/transfer":
		c.send("conversation.transfer", c.conv(), map[string]string{"skill": arg})
	default:
		fmt.Println("! commands: /scripts [category], /script ID, /use CONVERSATION, /close OUTCOME, /status online|away|offline, /transfer SKILL")
	}
}

func (c *cli) listScripts(category string) {
	req, _ := http.NewRequest("GET", c.base+"/api/v1/scripts?locale="+url.QueryEscape(c.locale)+"&category="+url.QueryEscape(category), nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println("!", err)
		return
	}
	defer resp.Body.Close()
	var list []struct{ ID, Category, Kind, Title string }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		fmt.Println("!", err)
		return
	}
	for _, s := range list {
		fmt.Printf("  %-32s %-14s %-16s %s\n", s.ID, s.Category, s.Kind, s.Title)
	}
}
