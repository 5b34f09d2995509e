package main

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/daogou/daogou/chat/rules"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(c config) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c config) bool {
			return c.Addr == ":8080" && c.DataDir == "./data" && c.Rules.GreetingDeadline == 15*time.Second &&
				c.Rules.FirstResponseDeadline == 3*time.Second && c.Rules.ReassignDeadline == 45*time.Second &&
				c.Rules.AutoGreetMargin == 3*time.Second && c.ReconnectGrace == 30*time.Second && c.Redis == ""
		}, ""},
		{"environment", nil, map[string]string{"DAOGOU_ADDR": ":9000", "DAOGOU_GREETING_DEADLINE": "20s", "DAOGOU_ALLOWED_ORIGINS": "https://shop.example"}, func(c config) bool {
			return c.Addr == ":9000" && c.Rules.GreetingDeadline == 20*time.Second && c.AllowedOrigins == "https://shop.example"
		}, ""},
		{"a flag wins over the environment", []string{"--addr", ":7000"}, map[string]string{"DAOGOU_ADDR": ":9000"}, func(c config) bool {
			return c.Addr == ":7000"
		}, ""},
		{"pool settings", []string{"--postgres", "postgres://x", "--pg-max-conns", "12", "--pg-writers", "3"}, nil, func(c config) bool {
			return c.PG.MaxConns == 12 && c.PG.Writers == 3 && c.Postgres == "postgres://x"
		}, ""},
		{"redis needs postgres", []string{"--redis", "redis://localhost:6379"}, nil, nil, "--redis needs --postgres"},
		{"bad duration in the environment", nil, map[string]string{"DAOGOU_REASSIGN_DEADLINE": "soon"}, nil, "DAOGOU_REASSIGN_DEADLINE"},
		{"bad locale", []string{"--default-locale", "fr"}, nil, nil, "--default-locale"},
		{"zero deadline", []string{"--first-response-deadline", "0s"}, nil, nil, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			fs := flag.NewFlagSet("daogou", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			defineFlags(fs, &c)
			err := parse(fs, &c, tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

func TestHubConfigOrigins(t *testing.T) {
	c := config{AllowedOrigins: " https://a.example, ,https://b.example ", Rules: defaultRulesForTest()}
	h := c.hubConfig()
	if len(h.AllowedOrigins) != 2 || h.AllowedOrigins[1] != "https://b.example" {
		t.Fatalf("origins = %q", h.AllowedOrigins)
	}
}

func defaultRulesForTest() rules.Config {
	var c config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	defineFlags(fs, &c)
	return c.Rules
}

// The admin listener frees memory on POST only, and says what is in use.
func TestAdminFreeOSMemory(t *testing.T) {
	srv := httptest.NewServer(adminMux())
	defer srv.Close()
	for _, tc := range []struct {
		method string
		want   int
	}{
		{http.MethodGet, http.StatusMethodNotAllowed},
		{http.MethodPost, http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+"/debug/free-os-memory", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.method, res.StatusCode, tc.want)
		}
		if tc.want == http.StatusOK && !strings.Contains(string(body), "heap_inuse_bytes ") {
			t.Fatalf("body %q", body)
		}
	}
}
