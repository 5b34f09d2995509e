package scripts

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFill(t *testing.T) {
	for _, tc := range []struct {
		name    string
		text    string
		vars    map[string]string
		want    string
		wantErr error
		names   []string // named in the error
	}{
		{name: "no placeholders", text: "Hello!", want: "Hello!"},
		{name: "one placeholder", text: "Welcome to {shop_name}!", vars: map[string]string{"shop_name": "Acme"}, want: "Welcome to Acme!"},
		{
			name: "several, repeated, at both ends",
			text: "{agent_name} here. Hi {shopper_name}, {agent_name} will help. {shop_name}",
			vars: map[string]string{"agent_name": "Li", "shopper_name": "Ann", "shop_name": "Acme"},
			want: "Li here. Hi Ann, Li will help. Acme",
		},
		{
			name: "known vars the text does not use",
			text: "You are number {queue_position}.",
			vars: map[string]string{"queue_position": "3", "wait_minutes": "4", "shop_name": "Acme"},
			want: "You are number 3.",
		},
		{name: "empty value", text: "Hi{shopper_name}!", vars: map[string]string{"shopper_name": ""}, want: "Hi!"},
		{
			name: "braces that are not placeholders",
			text: "{Shop_Name} {} {shop name} {{shop_name}} {123} {unknown} }{ {shop_name",
			vars: map[string]string{"shop_name": "Acme"},
			want: "{Shop_Name} {} {shop name} {Acme} {123} {unknown} }{ {shop_name",
		},
		{
			name: "HTML passes through verbatim",
			text: "<p>Hi {shopper_name}</p>",
			vars: map[string]string{"shopper_name": `<script>alert("x")</script> & "co"`},
			want: `<p>Hi <script>alert("x")</script> & "co"</p>`,
		},
		{
			name: "a value is not expanded again",
			text: "Hi {shopper_name}, I'm {agent_name}.",
			vars: map[string]string{"shopper_name": "{agent_name}", "agent_name": "Li"},
			want: "Hi {agent_name}, I'm Li.",
		},
		{
			name: "Chinese text",
			text: "您好，欢迎光临{shop_name}！您排在第{queue_position}位。",
			vars: map[string]string{"shop_name": "好物小店", "queue_position": "2"},
			want: "您好，欢迎光临好物小店！您排在第2位。",
		},
		{
			name:    "unknown var",
			text:    "Hi {shopper_name}",
			vars:    map[string]string{"shopper_name": "Ann", "customer": "Ann"},
			wantErr: ErrUnknownVar, names: []string{`"customer"`},
		},
		{
			name:    "unknown vars are all named, even unused",
			text:    "Hello!",
			vars:    map[string]string{"zeta": "", "Shop_Name": "Acme"},
			wantErr: ErrUnknownVar, names: []string{`"Shop_Name", "zeta"`},
		},
		{
			name:    "missing var",
			text:    "Hi {shopper_name}, this is {agent_name} from {shop_name}; {shopper_name}?",
			vars:    map[string]string{"shop_name": "Acme"},
			wantErr: ErrMissingVar, names: []string{`"shopper_name", "agent_name"`},
		},
		{name: "missing var with nil vars", text: "{wait_minutes} min", wantErr: ErrMissingVar, names: []string{`"wait_minutes"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Fill(tc.text, tc.vars)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || got != "" {
					t.Fatalf("Fill = %q, %v; want error %v", got, err, tc.wantErr)
				}
				for _, n := range tc.names {
					if !strings.Contains(err.Error(), n) {
						t.Errorf("error %q does not name %s", err, n)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Fill = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestPlaceholdersIn(t *testing.T) {
	for _, tc := range []struct {
		text          string
		vars, unknown []string
	}{
		{"plain", []string{}, nil},
		{"{shop_name} {queue_position} {shop_name} {wait_minutes}", []string{"shop_name", "queue_position", "wait_minutes"}, nil},
		{"{customer} {Shop} {shopper_name} {x_y} {customer}", []string{"shopper_name"}, []string{"customer", "x_y"}},
		{"{{agent_name}}", []string{"agent_name"}, nil},
	} {
		vars, unknown := placeholdersIn(tc.text)
		if vars == nil || !slices.Equal(vars, tc.vars) || !slices.Equal(unknown, tc.unknown) {
			t.Errorf("placeholdersIn(%q) = %q, %q; want %q, %q", tc.text, vars, unknown, tc.vars, tc.unknown)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	got := Placeholders()
	want := []string{"shopper_name", "agent_name", "shop_name", "wait_minutes", "queue_position"}
	if !slices.Equal(got, want) {
		t.Fatalf("Placeholders() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Placeholders()[0] != "shopper_name" {
		t.Errorf("Placeholders shares its slice with callers")
	}
	for _, name := range want {
		if !isKnown(name) {
			t.Errorf("isKnown(%q) = false", name)
		}
	}
}

func TestWaitMinutes(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "1"},
		{0, "1"},
		{30 * time.Second, "1"},
		{time.Minute, "1"},
		{time.Minute + time.Second, "2"},
		{5 * time.Minute, "5"},
		{90 * time.Minute, "90"},
	} {
		if got := WaitMinutes(tc.d); got != tc.want {
			t.Errorf("WaitMinutes(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
