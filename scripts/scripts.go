package scripts

import (
	"fmt"
	"slices"
	"strings"
)

// Script is one canned reply. Its JSON form is what GET /api/v1/scripts
// returns.
type Script struct {
	ID       string `json:"id"`
	Locale   string `json:"locale"`   // "zh-CN" or "en"
	Category string `json:"category"` // one of Categories()
	Kind     string `json:"kind"`     // one of Kinds(Category); "" when the category has none
	Title    string `json:"title"`
	Text     string `json:"text"`
	// Shortcut is what an agent types to find the script, e.g. "hi1";
	// unique per locale, made of [a-z0-9_-].
	Shortcut string `json:"shortcut"`
	// Vars lists the placeholders Text uses, in order of first use. It is
	// derived from Text when the library loads and is never nil.
	Vars []string `json:"vars"`
}

// The limits Load enforces.
const (
	// MinPerKind is how many scripts every locale needs for every category
	// and kind, so that Pick can rotate and agents have a choice.
	MinPerKind = 3
	// MaxTextLen is the longest text allowed, in characters (runes).
	MaxTextLen = 1000
)

// Locales of a library; each needs the full set of scripts.
const (
	LocaleZh = "zh-CN"
	LocaleEn = "en"
)

// fallbackLocale is what Pick uses when the asked locale has no script.
const fallbackLocale = LocaleEn

// kindRule is one kind of a category and the placeholders its texts obey.
type kindRule struct {
	name string
	// required placeholders must appear in every text of the kind.
	required []string
	// allowed, when not nil, are the only placeholders the texts may use:
	// the server sends these itself and can fill only these.
	allowed []string
}

type categoryRule struct {
	name  string
	kinds []kindRule // nil: the category has no kinds
}

// What the server fills in the messages it sends itself.
var (
	welcomeVars = []string{VarShopName}
	queueVars   = []string{VarShopName, VarQueuePosition, VarWaitMinutes}
	busyVars    = []string{VarShopName, VarAgentName}
)

// categories is the fixed table of categories and kinds, in display order.
var categories = []categoryRule{
	{name: "greeting", kinds: []kindRule{
		{name: "welcome", required: []string{VarShopName}, allowed: welcomeVars},
		{name: "queued", required: []string{VarQueuePosition, VarWaitMinutes}, allowed: queueVars},
		{name: "offline", allowed: welcomeVars},
		{name: "returning", allowed: welcomeVars},
	}},
	{name: "holding", kinds: []kindRule{
		{name: "busy", allowed: busyVars},
		{name: "queued", required: []string{VarQueuePosition, VarWaitMinutes}, allowed: queueVars},
	}},
	{name: "probe", kinds: []kindRule{{name: "two_choice"}, {name: "open"}}},
	{name: "recommend"},
	{name: "objection", kinds: []kindRule{{name: "misunderstanding"}, {name: "reasonable"}, {name: "unreasonable"}}},
	{name: "closing"},
	{name: "confirm_order", kinds: []kindRule{{name: "receiver"}, {name: "invoice"}, {name: "delivery"}}},
	{name: "farewell", kinds: []kindRule{{name: "purchased"}, {name: "not_purchased"}}},
	{name: "complaint", kinds: []kindRule{
		{name: "acknowledge"},
		{name: "apologize"},
		{name: "investigate", required: []string{VarWaitMinutes}},
		{name: "resolve"},
		{name: "follow_up"},
	}},
}

// Locales returns the locales every library holds, zh-CN first.
func Locales() []string { return []string{LocaleZh, LocaleEn} }

// Categories returns the category names in display order.
func Categories() []string {
	out := make([]string, len(categories))
	for i, c := range categories {
		out[i] = c.name
	}
	return out
}

// Kinds returns the kinds of a category in display order; nil when the
// category has no kinds or is unknown.
func Kinds(category string) []string {
	c, ok := findCategory(category)
	if !ok || c.kinds == nil {
		return nil
	}
	out := make([]string, len(c.kinds))
	for i, k := range c.kinds {
		out[i] = k.name
	}
	return out
}

// ServerVars returns the only placeholders that scripts of a category and
// kind may use because the server sends them itself (greeting welcome,
// queued, offline and returning; holding busy and queued), and false for
// kinds that only agents send, which may use any placeholder.
func ServerVars(category, kind string) ([]string, bool) {
	k, ok := findKind(category, kind)
	if !ok || k.allowed == nil {
		return nil, false
	}
	return slices.Clone(k.allowed), true
}

func findCategory(name string) (categoryRule, bool) {
	for _, c := range categories {
		if c.name == name {
			return c, true
		}
	}
	return categoryRule{}, false
}

func findKind(category, kind string) (kindRule, bool) {
	c, ok := findCategory(category)
	if !ok {
		return kindRule{}, false
	}
	if c.kinds == nil {
		return kindRule{}, kind == ""
	}
	for _, k := range c.kinds {
		if k.name == kind {
			return k, true
		}
	}
	return kindRule{}, false
}

// MatchLocale maps a language tag as browsers send it to a library locale:
// "zh", "zh-CN", "zh_cn", "zh-Hans-CN" give "zh-CN"; "en", "en-US", "EN_gb"
// give "en"; anything else gives "".
func MatchLocale(tag string) string {
	lang, _, _ := strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
	switch strings.ToLower(lang) {
	case "zh":
		return LocaleZh
	case "en":
		return LocaleEn
	}
	return ""
}

// group is one (locale, category, kind) combination.
type group struct{ locale, category, kind string }

func (g group) String() string {
	if g.kind == "" {
		return g.locale + " " + g.category
	}
	return g.locale + " " + g.category + "/" + g.kind
}

// Library is a loaded, validated set of scripts. It never changes after
// loading and is safe for concurrent use.
type Library struct {
	scripts []Script // file order: files by name, scripts as listed
	byID    map[string]int
	groups  map[group][]int
}

func newLibrary() *Library {
	return &Library{byID: map[string]int{}, groups: map[group][]int{}}
}

func (l *Library) add(s Script) {
	i := len(l.scripts)
	l.scripts = append(l.scripts, s)
	l.byID[s.ID] = i
	g := group{s.Locale, s.Category, s.Kind}
	l.groups[g] = append(l.groups[g], i)
}

// copyOf returns script i with its own Vars, so callers cannot change the
// library through what they are given.
func (l *Library) copyOf(i int) Script {
	s := l.scripts[i]
	s.Vars = slices.Clone(s.Vars)
	return s
}

// Len is the number of scripts.
func (l *Library) Len() int { return len(l.scripts) }

// List returns the scripts of a locale and category, "" meaning any, in file
// order. The locale goes through MatchLocale, so "en-US" lists "en"; a
// locale or category that matches nothing gives an empty, non-nil slice.
func (l *Library) List(locale, category string) []Script {
	if locale != "" {
		locale = MatchLocale(locale)
		if locale == "" {
			return []Script{}
		}
	}
	out := []Script{}
	for i, s := range l.scripts {
		if (locale == "" || s.Locale == locale) && (category == "" || s.Category == category) {
			out = append(out, l.copyOf(i))
		}
	}
	return out
}

// Get returns the script with this id.
func (l *Library) Get(id string) (Script, bool) {
	i, ok := l.byID[id]
	if !ok {
		return Script{}, false
	}
	return l.copyOf(i), true
}

// Render fills in the script's placeholders from vars, as Fill does. vars may
// hold known placeholders that the text does not use; the server passes all
// it knows. Errors wrap ErrUnknownScript, ErrUnknownVar or ErrMissingVar.
func (l *Library) Render(id string, vars map[string]string) (string, error) {
	i, ok := l.byID[id]
	if !ok {
		return "", fmt.Errorf("scripts: %w %q", ErrUnknownScript, id)
	}
	out, err := fill(l.scripts[i].Text, vars)
	if err != nil {
		return "", fmt.Errorf("scripts: script %q: %w", id, err)
	}
	return out, nil
}

// Pick returns the n-th script, counting modulo their number, of a locale,
// category and kind, for the messages the server sends itself; passing a
// counter (a conversation's sequence, say) rotates through them. The locale
// goes through MatchLocale, and when it has no such script Pick falls back
// to "en". It reports false only when neither has one: an unknown category
// or kind.
func (l *Library) Pick(locale, category, kind string, n int) (Script, bool) {
	idx := l.groups[group{MatchLocale(locale), category, kind}]
	if len(idx) == 0 {
		idx = l.groups[group{fallbackLocale, category, kind}]
	}
	if len(idx) == 0 {
		return Script{}, false
	}
	i := n % len(idx)
	if i < 0 {
		i += len(idx)
	}
	return l.copyOf(idx[i]), true
}
