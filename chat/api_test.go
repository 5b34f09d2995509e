package chat_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// call makes an API request and decodes the JSON answer into out.
func (e *env) call(method, path, token string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func TestLoginAndAccounts(t *testing.T) {
	e := newEnv(t)
	supTok, _ := e.account("boss@shop.test", "Boss", "supervisor", 1)
	agentTok, _ := e.account("mei@shop.test", "Mei", "agent", 5)

	var login struct {
		Token string `json:"token"`
		Agent struct {
			ID, Name, Role string
		} `json:"agent"`
	}
	for _, tc := range []struct {
		name  string
		body  map[string]string
		want  int
		token bool
	}{
		{"right password", map[string]string{"email": "MEI@shop.test ", "password": password}, 200, true},
		{"wrong password", map[string]string{"email": "mei@shop.test", "password": "nope"}, 401, false},
		{"unknown e-mail", map[string]string{"email": "who@shop.test", "password": password}, 401, false},
		{"empty body", map[string]string{}, 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			login.Token = ""
			if got := e.call("POST", "/api/v1/login", "", tc.body, &login); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
			if (login.Token != "") != tc.token {
				t.Fatalf("token %q", login.Token)
			}
		})
	}

	newAgent := map[string]any{"email": "jie@shop.test", "name": "Jie", "password": "long enough", "role": "agent", "skills": []string{"en", "after_sales"}, "capacity": 3}
	var created struct {
		Agent struct {
			ID       string   `json:"id"`
			Skills   []string `json:"skills"`
			Capacity int      `json:"capacity"`
		} `json:"agent"`
	}
	var apiErr struct {
		Error errBody `json:"error"`
	}
	if got := e.call("POST", "/api/v1/agents", agentTok, newAgent, &apiErr); got != 403 || apiErr.Error.Code != "forbidden" {
		t.Fatalf("agent creating an agent: %d %+v", got, apiErr)
	}
	if got := e.call("POST", "/api/v1/agents", "", newAgent, &apiErr); got != 401 {
		t.Fatalf("no token: %d", got)
	}
	if got := e.call("POST", "/api/v1/agents", supTok, newAgent, &created); got != 201 || created.Agent.Capacity != 3 || len(created.Agent.Skills) != 2 {
		t.Fatalf("create: %d %+v", got, created)
	}
	if got := e.call("POST", "/api/v1/agents", supTok, newAgent, &apiErr); got != 409 || apiErr.Error.Code != "conflict" {
		t.Fatalf("duplicate: %d %+v", got, apiErr)
	}
	if got := e.call("PATCH", "/api/v1/agents/"+created.Agent.ID, supTok, map[string]any{"capacity": 7, "skills": []string{"zh-CN"}}, &created); got != 200 || created.Agent.Capacity != 7 || created.Agent.Skills[0] != "zh-CN" {
		t.Fatalf("patch: %d %+v", got, created)
	}
	if got := e.call("PATCH", "/api/v1/agents/"+created.Agent.ID, supTok, map[string]any{"capacity": 0}, &apiErr); got != 400 {
		t.Fatalf("bad patch: %d", got)
	}
	var list struct {
		Agents []struct{ ID string } `json:"agents"`
	}
	if got := e.call("GET", "/api/v1/agents", supTok, nil, &list); got != 200 || len(list.Agents) != 3 {
		t.Fatalf("list: %d %+v", got, list)
	}
}

func TestScriptsAPI(t *testing.T) {
	e := newEnv(t)
	token, _ := e.account("mei@shop.test", "Mei", "agent", 5)
	var list []struct {
		ID, Locale, Category, Kind, Text string
		Vars                             []string
	}
	if got := e.call("GET", "/api/v1/scripts?locale=zh-CN&category=objection", token, nil, &list); got != 200 {
		t.Fatalf("status %d", got)
	}
	kinds := map[string]int{}
	for _, s := range list {
		if s.Locale != "zh-CN" || s.Category != "objection" {
			t.Fatalf("filter let through %+v", s)
		}
		kinds[s.Kind]++
	}
	for _, k := range []string{"misunderstanding", "reasonable", "unreasonable"} {
		if kinds[k] < 3 {
			t.Fatalf("%d %s objection scripts", kinds[k], k)
		}
	}
	if got := e.call("GET", "/api/v1/scripts", "", nil, nil); got != 401 {
		t.Fatalf("without token: %d", got)
	}
}

// The transcript is readable by staff and by its own shopper, no one else.
func TestMessagesAPI(t *testing.T) {
	e := newEnv(t)
	token, _ := e.account("mei@shop.test", "Mei", "agent", 5)
	sh, w, conv := e.shopper("Ann")
	sh.send("message.send", "", map[string]any{"client_msg_id": "1", "text": "first"})
	sh.expect("message.ack")
	sh.send("message.send", "", map[string]any{"client_msg_id": "2", "text": "second"})
	sh.expect("message.ack")
	_, w2, _ := e.shopper("Bob")

	var got struct {
		Messages []wireMsg `json:"messages"`
	}
	path := "/api/v1/conversations/" + conv.ID + "/messages?after_seq="
	for _, tc := range []struct {
		name, token, after string
		want, n            int
	}{
		{"agent", token, "0", 200, 3},
		{"owner shopper", w.VisitorToken, "1", 200, 2},
		{"other shopper", w2.VisitorToken, "0", 404, 0},
		{"nobody", "", "0", 404, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got.Messages = nil
			if status := e.call("GET", path+tc.after, tc.token, nil, &got); status != tc.want || len(got.Messages) != tc.n {
				t.Fatalf("status %d with %d messages, want %d with %d", status, len(got.Messages), tc.want, tc.n)
			}
		})
	}
	var missing struct{ Error errBody }
	if status := e.call("GET", "/api/v1/conversations/nope/messages", token, nil, &missing); status != 404 || missing.Error.Code != "not_found" {
		t.Fatalf("unknown conversation: %d %+v", status, missing)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if got := e.call("GET", "/readyz", "", nil, &ready); got != 200 || ready.Checks["store"] != "ok" || ready.Checks["broker"] != "ok" {
		t.Fatalf("readyz %d %+v", got, ready)
	}
	sh, _, _ := e.shopper("Ann")
	sh.expectFrom("system") // the greeting, sent at once with nobody online
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`daogou_sessions{role="shopper"} 1`, "daogou_delivery_latency_seconds_bucket", "daogou_rule_events_total", "daogou_queue_length", "daogou_messages_total",
		"daogou_store_commits_total", "daogou_store_commit_requests_total", "daogou_store_commit_seconds_total",
		"daogou_store_batch_replays_total"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
