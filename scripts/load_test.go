package scripts

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

// embeddedFiles copies the built-in library into a MapFS that tests can add
// to or change.
func embeddedFiles(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	names, err := fs.Glob(embedded, "library/*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded files: %v %v", names, err)
	}
	for _, name := range names {
		data, err := embedded.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		m[path.Base(name)] = &fstest.MapFile{Data: data}
	}
	return m
}

// overlay lays the files of testdata/dir over the built-in library.
func overlay(t *testing.T, dir string) fstest.MapFS {
	t.Helper()
	m := embeddedFiles(t)
	extra, err := fs.Glob(os.DirFS("testdata/"+dir), "*")
	if err != nil || len(extra) == 0 {
		t.Fatalf("testdata/%s: %v %v", dir, extra, err)
	}
	for _, name := range extra {
		data, err := os.ReadFile("testdata/" + dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		m[name] = &fstest.MapFile{Data: data}
	}
	return m
}

// withScripts returns the built-in library with scripts appended to file,
// which is created when it is not there.
func withScripts(t *testing.T, file string, scripts ...fileScript) fstest.MapFS {
	t.Helper()
	m := embeddedFiles(t)
	var f fileFormat
	if old, ok := m[file]; ok {
		if err := json.Unmarshal(old.Data, &f); err != nil {
			t.Fatal(err)
		}
	}
	f.Scripts = append(f.Scripts, scripts...)
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	m[file] = &fstest.MapFile{Data: data}
	return m
}

// withFile returns the built-in library plus one file with the given text.
func withFile(t *testing.T, name, text string) fstest.MapFS {
	t.Helper()
	m := embeddedFiles(t)
	m[name] = &fstest.MapFile{Data: []byte(text)}
	return m
}

// good is a valid extra English script; tests change one field.
func good(change func(*fileScript)) fileScript {
	s := fileScript{
		ID: "en.recommend.extra", Locale: "en", Category: "recommend",
		Title: "Extra", Text: "Our best seller suits you well, {shopper_name}.", Shortcut: "recx",
	}
	change(&s)
	return s
}

func TestLoadFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		fsys    func(t *testing.T) fs.FS
		want    error
		count   int    // how many problems, all wrapping want
		file    string // named in every problem, "" for none
		id      string // named in every problem, "" for none
		message string // in every problem's message
	}{
		{dir: "bad_json", want: ErrBadFile, count: 1, file: "extra.json", message: "line 4"},
		{dir: "duplicate_id", want: ErrDuplicateID, count: 1, file: "extra.json", id: "en.greeting.welcome.1", message: "en.json"},
		{dir: "unknown_placeholder", want: ErrUnknownPlaceholder, count: 1, file: "extra.json", id: "en.recommend.extra", message: "{customer_name}"},
		{dir: "unknown_category", want: ErrUnknownCategory, count: 1, file: "extra.json", id: "en.upsell.1", message: `"upsell"`},
		{dir: "missing_objection_kind", want: ErrBadKind, count: 1, file: "extra.json", id: "en.objection.extra", message: "missing"},
		{dir: "bad_locale", want: ErrBadLocale, count: 1, file: "extra.json", id: "fr.recommend.1", message: `"fr"`},
		{dir: "duplicate_shortcut", want: ErrDuplicateShortcut, count: 1, file: "extra.json", id: "en.greeting.welcome.extra", message: "en.greeting.welcome.1"},
		{
			dir:  "too_few",
			fsys: func(*testing.T) fs.FS { return os.DirFS("testdata/too_few") },
			want: ErrIncomplete,
			// Every combination of both locales: en has 2 welcomes, zh-CN 1.
			count:   2 * combinations(),
			message: "at least 3 needed",
		},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			fsys := fs.FS(nil)
			if tc.fsys != nil {
				fsys = tc.fsys(t)
			} else {
				fsys = overlay(t, tc.dir)
			}
			lib, err := Load(fsys)
			checkProblems(t, lib, err, tc.want, tc.count, tc.file, tc.id, tc.message)
		})
	}
}

func TestLoadTooFewNamesTheGroup(t *testing.T) {
	_, err := Load(os.DirFS("testdata/too_few"))
	for _, want := range []string{
		"too few scripts: en greeting/welcome has 2, at least 3 needed",
		"too few scripts: zh-CN greeting/welcome has 1, at least 3 needed",
		"too few scripts: en recommend has 0, at least 3 needed",
		"too few scripts: zh-CN objection/unreasonable has 0, at least 3 needed",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestLoadProblems(t *testing.T) {
	long := strings.Repeat("好", MaxTextLen+1)
	for _, tc := range []struct {
		name    string
		fsys    func(t *testing.T) fs.FS
		want    error
		count   int
		file    string
		id      string
		message string
	}{
		{
			name: "vars written by hand",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Vars = json.RawMessage(`["shopper_name"]`) }))
			},
			want: ErrBadField, count: 1, file: "extra.json", id: "en.recommend.extra", message: "vars",
		},
		{
			name: "text too long",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Text = long }))
			},
			want: ErrBadField, count: 1, file: "extra.json", id: "en.recommend.extra", message: "1001 characters",
		},
		{
			name: "empty title",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Title = "  " }))
			},
			want: ErrBadField, count: 1, file: "extra.json", id: "en.recommend.extra", message: "empty title",
		},
		{
			name: "empty text",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Text = "" }))
			},
			want: ErrBadField, count: 1, file: "extra.json", id: "en.recommend.extra", message: "empty text",
		},
		{
			name: "malformed id",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.ID = "en recommend" }))
			},
			want: ErrBadField, count: 1, file: "extra.json", id: "en recommend", message: "id",
		},
		{
			name: "missing id is named by position",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.ID = "" }))
			},
			want: ErrBadField, count: 1, file: "extra.json", id: "#1", message: "id",
		},
		{
			name: "kind on a category without kinds",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Kind = "upsell" }))
			},
			want: ErrBadKind, count: 1, file: "extra.json", id: "en.recommend.extra", message: "has no kinds",
		},
		{
			name: "unknown objection kind",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Category, s.Kind = "objection", "rude" }))
			},
			want: ErrBadKind, count: 1, file: "extra.json", id: "en.recommend.extra", message: `"rude"`,
		},
		{
			name: "missing farewell kind",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Category = "farewell" }))
			},
			want: ErrBadKind, count: 1, file: "extra.json", id: "en.recommend.extra", message: `"purchased", "not_purchased"`,
		},
		{
			name: "welcome without the shop name",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) {
					s.Category, s.Kind, s.Text = "greeting", "welcome", "Hello there!"
				}))
			},
			want: ErrPlaceholderRule, count: 1, file: "extra.json", id: "en.recommend.extra", message: "{shop_name}",
		},
		{
			name: "server-sent welcome using the shopper's name",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) {
					s.Category, s.Kind, s.Text = "greeting", "welcome", "Hello {shopper_name}, welcome to {shop_name}!"
				}))
			},
			want: ErrPlaceholderRule, count: 1, file: "extra.json", id: "en.recommend.extra", message: "cannot fill {shopper_name}",
		},
		{
			name: "queue message without the position",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) {
					s.Category, s.Kind, s.Text = "holding", "queued", "About {wait_minutes} min to go."
				}))
			},
			want: ErrPlaceholderRule, count: 1, file: "extra.json", id: "en.recommend.extra", message: "{queue_position}",
		},
		{
			name: "investigation without a promised wait",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) {
					s.Category, s.Kind, s.Text = "complaint", "investigate", "I'll look into it and get back to you."
				}))
			},
			want: ErrPlaceholderRule, count: 1, file: "extra.json", id: "en.recommend.extra", message: "{wait_minutes}",
		},
		{
			name: "shortcut with capitals and a space",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Shortcut = "Rec 1" }))
			},
			want: ErrBadShortcut, count: 1, file: "extra.json", id: "en.recommend.extra", message: `"Rec 1"`,
		},
		{
			name: "empty shortcut",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(s *fileScript) { s.Shortcut = "" }))
			},
			want: ErrBadShortcut, count: 1, file: "extra.json", id: "en.recommend.extra",
		},
		{
			name: "duplicate id within one file",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "extra.json", good(func(*fileScript) {}), good(func(s *fileScript) { s.Shortcut = "recy" }))
			},
			want: ErrDuplicateID, count: 1, file: "extra.json", id: "en.recommend.extra", message: "extra.json",
		},
		{
			name: "script in the wrong locale's file",
			fsys: func(t *testing.T) fs.FS {
				return withScripts(t, "en.json", good(func(s *fileScript) { s.Locale, s.ID = "zh-CN", "zh-CN.recommend.extra" }))
			},
			want: ErrBadLocale, count: 1, file: "en.json", id: "zh-CN.recommend.extra", message: `"zh-CN" in a file for "en"`,
		},
		{
			name: "unknown field",
			fsys: func(t *testing.T) fs.FS {
				return withFile(t, "extra.json", `{"scripts":[{"id":"en.x","titel":"typo"}]}`)
			},
			want: ErrBadFile, count: 1, file: "extra.json", message: `"titel"`,
		},
		{
			name: "wrong type",
			fsys: func(t *testing.T) fs.FS {
				return withFile(t, "extra.json", "{\n  \"scripts\": {\"id\": 1}\n}")
			},
			want: ErrBadFile, count: 1, file: "extra.json", message: "line 2",
		},
		{
			name: "data after the object",
			fsys: func(t *testing.T) fs.FS {
				return withFile(t, "extra.json", `{"scripts":[]} {"scripts":[]}`)
			},
			want: ErrBadFile, count: 1, file: "extra.json", message: "data after",
		},
		{
			name: "no scripts in a file",
			fsys: func(t *testing.T) fs.FS { return withFile(t, "extra.json", `{"scripts":[]}`) },
			want: ErrBadFile, count: 1, file: "extra.json", message: "no scripts",
		},
		{
			name: "empty file",
			fsys: func(t *testing.T) fs.FS { return withFile(t, "extra.json", "") },
			want: ErrBadFile, count: 1, file: "extra.json", message: "empty file",
		},
		{
			name: "no json files",
			fsys: func(*testing.T) fs.FS {
				return fstest.MapFS{"README.md": {Data: []byte("# scripts")}, "sub/en.json": {Data: []byte("{}")}}
			},
			want: ErrNoFiles, count: 1,
		},
		{
			name: "no file system",
			fsys: func(*testing.T) fs.FS { return nil },
			want: ErrNoFiles, count: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib, err := Load(tc.fsys(t))
			checkProblems(t, lib, err, tc.want, tc.count, tc.file, tc.id, tc.message)
		})
	}
}

// checkProblems asserts that Load failed with exactly count problems, each
// wrapping want and naming file, id and message.
func checkProblems(t *testing.T, lib *Library, err error, want error, count int, file, id, message string) {
	t.Helper()
	if lib != nil {
		t.Errorf("Load returned a library along with the error")
	}
	if !errors.Is(err, want) {
		t.Fatalf("Load error = %v, want %v", err, want)
	}
	problems := LoadErrors(err)
	if len(problems) != count {
		t.Fatalf("%d problems, want %d:\n%v", len(problems), count, err)
	}
	for _, p := range problems {
		if !errors.Is(p, want) {
			t.Errorf("problem %q does not wrap %v", p, want)
		}
		if p.File != file || p.ID != id {
			t.Errorf("problem names file %q, script %q; want %q, %q", p.File, p.ID, file, id)
		}
		msg := p.Error()
		if !strings.HasPrefix(msg, "scripts: ") || !strings.Contains(msg, message) ||
			(file != "" && !strings.Contains(msg, file)) || (id != "" && !strings.Contains(msg, `"`+id+`"`)) {
			t.Errorf("message %q should name file %q, script %q and say %q", msg, file, id, message)
		}
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	fsys := withScripts(t, "extra.json",
		good(func(s *fileScript) { s.Text = "Hi {customer}" }),
		good(func(s *fileScript) { s.ID, s.Category, s.Shortcut = "en.bad.2", "upsell", "hi1" }),
		good(func(s *fileScript) { s.ID, s.Locale, s.Shortcut, s.Title = "en.bad.3", "de", "bad3", "" }),
	)
	_, err := Load(fsys)
	got := map[string][]error{}
	for _, p := range LoadErrors(err) {
		got[p.ID] = append(got[p.ID], p.Err)
	}
	for id, wants := range map[string][]error{
		"en.recommend.extra": {ErrUnknownPlaceholder},
		"en.bad.2":           {ErrUnknownCategory, ErrDuplicateShortcut},
		"en.bad.3":           {ErrBadLocale, ErrBadField},
	} {
		if len(got[id]) != len(wants) {
			t.Errorf("%s: problems %v, want %v", id, got[id], wants)
			continue
		}
		for i, w := range wants {
			if !errors.Is(got[id][i], w) {
				t.Errorf("%s: problem %d = %v, want %v", id, i, got[id][i], w)
			}
		}
	}
	if len(got) != 3 {
		t.Errorf("problems for %d scripts, want 3:\n%v", len(got), err)
	}
}

func TestLoadAcceptsLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scripts []fileScript
	}{
		{"text of exactly the limit", []fileScript{good(func(s *fileScript) { s.Text = strings.Repeat("好", MaxTextLen) })}},
		{"literal braces", []fileScript{good(func(s *fileScript) { s.Text = "Sizes {S, M, L}, {} and {Shop_Name} are text." })}},
		{"kind omitted where the category has none", []fileScript{good(func(*fileScript) {})}},
		{"shortcut with digits, dash and underscore", []fileScript{good(func(s *fileScript) { s.Shortcut = "rec_x-2" })}},
		{"one shortcut in each locale", []fileScript{
			good(func(*fileScript) {}),
			good(func(s *fileScript) { s.ID, s.Locale = "zh-CN.recommend.extra", "zh-CN" }),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib, err := Load(withScripts(t, "extra.json", tc.scripts...))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.scripts {
				got, ok := lib.Get(s.ID)
				if !ok || got.Text != s.Text || got.Shortcut != s.Shortcut {
					t.Errorf("script %q: got %+v, %v", s.ID, got, ok)
				}
			}
		})
	}
}

func TestLoadErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *LoadError
		want string
	}{
		{&LoadError{File: "en.json", ID: "en.x", Err: ErrBadKind}, `scripts: en.json: script "en.x": bad kind`},
		{&LoadError{File: "en.json", Err: ErrBadFile}, `scripts: en.json: malformed file`},
		{&LoadError{Err: ErrIncomplete}, `scripts: too few scripts`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	if LoadErrors(nil) != nil || LoadErrors(errors.New("other")) != nil {
		t.Errorf("LoadErrors found problems in an error without any")
	}
}

// combinations counts the (category, kind) pairs of the table.
func combinations() int {
	n := 0
	for _, c := range Categories() {
		n += max(1, len(Kinds(c)))
	}
	return n
}
