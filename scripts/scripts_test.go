package scripts

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func embeddedLibrary(t testing.TB) *Library {
	t.Helper()
	lib, err := Embedded()
	if err != nil {
		t.Fatalf("Embedded: %v", err)
	}
	return lib
}

func TestEmbeddedIsComplete(t *testing.T) {
	lib := embeddedLibrary(t)
	for _, locale := range Locales() {
		for _, c := range Categories() {
			kinds := Kinds(c)
			if kinds == nil {
				kinds = []string{""}
			}
			for _, k := range kinds {
				n := 0
				for _, s := range lib.List(locale, c) {
					if s.Kind == k {
						n++
					}
				}
				if n < MinPerKind {
					t.Errorf("%s %s/%s: %d scripts, want at least %d", locale, c, k, n, MinPerKind)
				}
			}
		}
	}
	if lib.Len() != len(lib.List("", "")) {
		t.Errorf("Len = %d, List has %d", lib.Len(), len(lib.List("", "")))
	}
}

func TestEmbeddedConventions(t *testing.T) {
	lib := embeddedLibrary(t)
	idPattern := regexp.MustCompile(`^(zh-CN|en)\.[a-z_]+(\.[a-z_]+)?\.[0-9]+$`)
	all := map[string]string{}
	for _, p := range Placeholders() {
		all[p] = "x"
	}
	shortcuts := map[string][]string{}
	for _, s := range lib.List("", "") {
		want := s.Locale + "." + s.Category + "."
		if s.Kind != "" {
			want += s.Kind + "."
		}
		if !idPattern.MatchString(s.ID) || !strings.HasPrefix(s.ID, want) {
			t.Errorf("id %q does not follow <locale>.<category>[.<kind>].<n>", s.ID)
		}
		// Every script renders once every known value is given.
		if _, err := lib.Render(s.ID, all); err != nil {
			t.Errorf("Render(%q): %v", s.ID, err)
		}
		// Messages the server sends render with only what it knows.
		if allowed, ok := ServerVars(s.Category, s.Kind); ok {
			vars := map[string]string{}
			for _, v := range allowed {
				vars[v] = "x"
			}
			if _, err := lib.Render(s.ID, vars); err != nil {
				t.Errorf("Render(%q) with server vars: %v", s.ID, err)
			}
		}
		shortcuts[s.Locale] = append(shortcuts[s.Locale], s.Shortcut)
	}
	// Agents type the same shortcut in either language.
	en, zh := shortcuts["en"], shortcuts["zh-CN"]
	slices.Sort(en)
	slices.Sort(zh)
	if !slices.Equal(en, zh) {
		t.Errorf("shortcuts differ between locales:\nen    %v\nzh-CN %v", en, zh)
	}
}

func TestList(t *testing.T) {
	lib := embeddedLibrary(t)
	all := lib.List("", "")
	for _, tc := range []struct {
		locale, category string
		wantLocale       string // every script's locale, "" for any
		min              int
	}{
		{"", "", "", 2 * combinations() * MinPerKind},
		{"en", "", "en", combinations() * MinPerKind},
		{"zh-CN", "objection", "zh-CN", 3 * MinPerKind},
		{"en-US", "farewell", "en", 2 * MinPerKind},
		{"zh", "recommend", "zh-CN", MinPerKind},
		{"", "complaint", "", 2 * 5 * MinPerKind},
	} {
		t.Run(tc.locale+"/"+tc.category, func(t *testing.T) {
			got := lib.List(tc.locale, tc.category)
			if len(got) < tc.min {
				t.Fatalf("%d scripts, want at least %d", len(got), tc.min)
			}
			// Same order as the whole library: file order.
			last := -1
			for _, s := range got {
				if tc.wantLocale != "" && s.Locale != tc.wantLocale || tc.category != "" && s.Category != tc.category {
					t.Errorf("script %q (%s %s) does not match the filter", s.ID, s.Locale, s.Category)
				}
				i := slices.IndexFunc(all, func(a Script) bool { return a.ID == s.ID })
				if i <= last {
					t.Errorf("script %q out of file order", s.ID)
				}
				last = i
			}
		})
	}
	// en.json sorts before zh-CN.json, and a file keeps its own order.
	if all[0].ID != "en.greeting.welcome.1" || all[len(all)-1].Locale != "zh-CN" {
		t.Errorf("order: first %q, last %q", all[0].ID, all[len(all)-1].ID)
	}
	for _, tc := range [][2]string{{"fr", ""}, {"", "upsell"}, {"en", "nope"}} {
		got := lib.List(tc[0], tc[1])
		if got == nil || len(got) != 0 {
			t.Errorf("List(%q, %q) = %v, want an empty non-nil slice", tc[0], tc[1], got)
		}
		if b, _ := json.Marshal(got); string(b) != "[]" {
			t.Errorf("List(%q, %q) encodes as %s", tc[0], tc[1], b)
		}
	}
}

func TestGetAndVars(t *testing.T) {
	lib := embeddedLibrary(t)
	for _, tc := range []struct {
		id   string
		vars []string
	}{
		{"en.greeting.queued.1", []string{"shop_name", "queue_position", "wait_minutes"}},
		{"zh-CN.holding.queued.1", []string{"queue_position", "wait_minutes"}},
		{"en.probe.two_choice.1", []string{}},
		{"zh-CN.complaint.acknowledge.1", []string{"agent_name"}},
	} {
		s, ok := lib.Get(tc.id)
		if !ok {
			t.Fatalf("Get(%q) not found", tc.id)
		}
		if s.ID != tc.id || s.Vars == nil || !slices.Equal(s.Vars, tc.vars) {
			t.Errorf("Get(%q): id %q, vars %q; want vars %q", tc.id, s.ID, s.Vars, tc.vars)
		}
		b, err := json.Marshal(s)
		if err != nil || !strings.Contains(string(b), `"vars":[`) {
			t.Errorf("%q encodes as %s, %v", tc.id, b, err)
		}
	}
	if _, ok := lib.Get("en.nope.1"); ok {
		t.Errorf("Get of an unknown id found something")
	}
	// What callers get is theirs to change.
	s, _ := lib.Get("en.greeting.queued.1")
	s.Vars[0] = "changed"
	for _, got := range []Script{mustGet(t, lib, "en.greeting.queued.1"), lib.List("en", "greeting")[3]} {
		if got.Vars[0] != "shop_name" {
			t.Errorf("changing a returned script changed the library: %q", got.Vars)
		}
	}
}

func mustGet(t *testing.T, lib *Library, id string) Script {
	t.Helper()
	s, ok := lib.Get(id)
	if !ok {
		t.Fatalf("Get(%q) not found", id)
	}
	return s
}

func TestRender(t *testing.T) {
	lib := embeddedLibrary(t)
	for _, tc := range []struct {
		name    string
		id      string
		vars    map[string]string
		want    string
		wantErr error
	}{
		{
			name: "welcome",
			id:   "en.greeting.welcome.3",
			vars: map[string]string{"shop_name": "Acme"},
			want: "Welcome to Acme! 😊 How can I help you today?",
		},
		{
			name: "queue in Chinese",
			id:   "zh-CN.holding.queued.1",
			vars: map[string]string{"queue_position": "2", "wait_minutes": "3", "shop_name": "好物小店"},
			want: "感谢您的耐心等待！您现在排在第2位，预计还需约3分钟。",
		},
		{name: "unknown script", id: "en.greeting.welcome.99", wantErr: ErrUnknownScript},
		{name: "unknown var", id: "en.greeting.welcome.1", vars: map[string]string{"shop_name": "A", "shop": "A"}, wantErr: ErrUnknownVar},
		{name: "missing var", id: "en.greeting.welcome.1", vars: map[string]string{"agent_name": "Li"}, wantErr: ErrMissingVar},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lib.Render(tc.id, tc.vars)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.id)) {
					t.Fatalf("Render = %q, %v; want %v naming %q", got, err, tc.wantErr, tc.id)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Render = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestPick(t *testing.T) {
	lib := embeddedLibrary(t)
	for _, tc := range []struct {
		name                   string
		locale, category, kind string
		n                      int
		want                   string // id, "" for not found
	}{
		{"first", "zh-CN", "greeting", "welcome", 0, "zh-CN.greeting.welcome.1"},
		{"second", "zh-CN", "greeting", "welcome", 1, "zh-CN.greeting.welcome.2"},
		{"wraps around", "zh-CN", "greeting", "welcome", 3, "zh-CN.greeting.welcome.1"},
		{"large n", "en", "holding", "busy", 3*1000 + 2, "en.holding.busy.3"},
		{"negative n", "en", "holding", "busy", -1, "en.holding.busy.3"},
		{"category without kinds", "en", "closing", "", 5, "en.closing.2"},
		{"browser tag", "zh-Hans-CN", "holding", "queued", 0, "zh-CN.holding.queued.1"},
		{"unknown locale falls back to en", "fr-FR", "greeting", "offline", 1, "en.greeting.offline.2"},
		{"empty locale falls back to en", "", "greeting", "queued", 0, "en.greeting.queued.1"},
		{"unknown kind", "en", "greeting", "hello", 0, ""},
		{"kind on a category without kinds", "en", "closing", "soft", 0, ""},
		{"unknown category", "zh-CN", "upsell", "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := lib.Pick(tc.locale, tc.category, tc.kind, tc.n)
			if ok != (tc.want != "") || got.ID != tc.want {
				t.Fatalf("Pick = %q, %v; want %q", got.ID, ok, tc.want)
			}
		})
	}
	// Rotation visits every script of the group before repeating.
	seen := map[string]bool{}
	for n := range MinPerKind {
		s, _ := lib.Pick("en", "complaint", "investigate", n)
		seen[s.ID] = true
	}
	if len(seen) != MinPerKind {
		t.Errorf("rotation over %d picks saw %d scripts", MinPerKind, len(seen))
	}
}

func TestPickFallsBackWhenTheLocaleHasNone(t *testing.T) {
	// A library is complete in both locales, so the fallback is seen only
	// for a locale missing from the index: take zh-CN's out by hand.
	lib := embeddedLibrary(t)
	delete(lib.groups, group{LocaleZh, "greeting", "returning"})
	got, ok := lib.Pick("zh-CN", "greeting", "returning", 4)
	if !ok || got.ID != "en.greeting.returning.2" {
		t.Fatalf("Pick = %q, %v; want the en fallback", got.ID, ok)
	}
}

func TestTables(t *testing.T) {
	if got := Categories(); !slices.Equal(got, []string{
		"greeting", "holding", "probe", "recommend", "objection", "closing", "confirm_order", "farewell", "complaint",
	}) {
		t.Errorf("Categories() = %q", got)
	}
	for _, tc := range []struct {
		category string
		kinds    []string
	}{
		{"greeting", []string{"welcome", "queued", "offline", "returning"}},
		{"holding", []string{"busy", "queued"}},
		{"probe", []string{"two_choice", "open"}},
		{"recommend", nil},
		{"objection", []string{"misunderstanding", "reasonable", "unreasonable"}},
		{"closing", nil},
		{"confirm_order", []string{"receiver", "invoice", "delivery"}},
		{"farewell", []string{"purchased", "not_purchased"}},
		{"complaint", []string{"acknowledge", "apologize", "investigate", "resolve", "follow_up"}},
		{"upsell", nil},
	} {
		if got := Kinds(tc.category); !slices.Equal(got, tc.kinds) {
			t.Errorf("Kinds(%q) = %q, want %q", tc.category, got, tc.kinds)
		}
	}
	for _, tc := range []struct {
		category, kind string
		vars           []string
		ok             bool
	}{
		{"greeting", "welcome", []string{"shop_name"}, true},
		{"greeting", "queued", []string{"shop_name", "queue_position", "wait_minutes"}, true},
		{"holding", "busy", []string{"shop_name", "agent_name"}, true},
		{"probe", "open", nil, false},
		{"recommend", "", nil, false},
		{"upsell", "", nil, false},
	} {
		vars, ok := ServerVars(tc.category, tc.kind)
		if ok != tc.ok || !slices.Equal(vars, tc.vars) {
			t.Errorf("ServerVars(%q, %q) = %q, %v; want %q, %v", tc.category, tc.kind, vars, ok, tc.vars, tc.ok)
		}
	}
}

func TestMatchLocale(t *testing.T) {
	for tag, want := range map[string]string{
		"zh-CN": "zh-CN", "zh": "zh-CN", "zh_cn": "zh-CN", "ZH-Hans-CN": "zh-CN", "zh-TW": "zh-CN",
		"en": "en", "en-US": "en", "EN_gb": "en",
		"": "", "fr": "", "eng": "", "-en": "",
	} {
		if got := MatchLocale(tag); got != want {
			t.Errorf("MatchLocale(%q) = %q, want %q", tag, got, want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	lib := embeddedLibrary(b)
	vars := map[string]string{"shop_name": "Acme", "queue_position": "3", "wait_minutes": "4", "agent_name": "Li"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lib.Render("en.greeting.queued.1", vars); err != nil {
			b.Fatal(err)
		}
	}
}
