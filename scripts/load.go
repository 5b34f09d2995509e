package scripts

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

//go:embed library/*.json
var embedded embed.FS

// Embedded loads the built-in library. It parses and validates the embedded
// files on every call; call it once at start-up and keep the *Library.
func Embedded() (*Library, error) {
	sub, err := fs.Sub(embedded, "library")
	if err != nil {
		return nil, fmt.Errorf("scripts: embedded library: %w", err)
	}
	return Load(sub)
}

// Load reads every *.json file at the top of fsys, in name order, each a
// {"scripts":[…]} object of scripts without vars, and validates them all:
// the JSON, unique ids, locales, categories and kinds, non-empty titles and
// texts of at most MaxTextLen characters, placeholders, shortcuts unique per
// locale, and at least MinPerKind scripts for every locale, category and
// kind. A shop's directory replaces the built-in library, so it must be
// complete too. Other files are ignored.
//
// On any problem it returns no library and an error joining one *LoadError
// per problem found, each naming the file and the script (see LoadErrors).
func Load(fsys fs.FS) (*Library, error) {
	if fsys == nil {
		return nil, &LoadError{Err: fmt.Errorf("%w: no file system given", ErrNoFiles)}
	}
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, &LoadError{Err: fmt.Errorf("%w: %w", ErrNoFiles, err)}
	}
	if len(names) == 0 {
		return nil, &LoadError{Err: fmt.Errorf("%w: no *.json file", ErrNoFiles)}
	}
	v := validator{
		lib:       newLibrary(),
		idFile:    map[string]string{},
		shortcuts: map[string]map[string]string{},
	}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			v.fail(name, "", fmt.Errorf("%w: %w", ErrBadFile, err))
			continue
		}
		v.file(name, data)
	}
	v.complete()
	if len(v.problems) > 0 {
		return nil, errors.Join(v.problems...)
	}
	return v.lib, nil
}

// fileScript is a script as written in a file. Vars is here only to refuse
// it, since it is derived from the text; omitempty lets tests write files.
type fileScript struct {
	ID       string          `json:"id"`
	Locale   string          `json:"locale"`
	Category string          `json:"category"`
	Kind     string          `json:"kind"`
	Title    string          `json:"title"`
	Text     string          `json:"text"`
	Shortcut string          `json:"shortcut"`
	Vars     json.RawMessage `json:"vars,omitempty"`
}

type fileFormat struct {
	Scripts []fileScript `json:"scripts"`
}

type validator struct {
	lib       *Library
	idFile    map[string]string            // id → file that holds it
	shortcuts map[string]map[string]string // locale → shortcut → id
	problems  []error
}

func (v *validator) fail(file, id string, err error) {
	v.problems = append(v.problems, &LoadError{File: file, ID: id, Err: err})
}

// file decodes one file and checks each of its scripts.
func (v *validator) file(name string, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileFormat
	if err := dec.Decode(&f); err != nil {
		v.fail(name, "", fmt.Errorf("%w: %s", ErrBadFile, describeJSONError(data, err)))
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		v.fail(name, "", fmt.Errorf("%w: data after the top-level object (%s)",
			ErrBadFile, position(data, dec.InputOffset())))
		return
	}
	if len(f.Scripts) == 0 {
		v.fail(name, "", fmt.Errorf(`%w: no scripts (want {"scripts":[…]})`, ErrBadFile))
		return
	}
	// A file named after a locale holds that locale only.
	fileLocale := strings.TrimSuffix(path.Base(name), ".json")
	if !slices.Contains(Locales(), fileLocale) {
		fileLocale = ""
	}
	for i, s := range f.Scripts {
		v.script(name, i, fileLocale, s)
	}
}

// script checks one script and adds it to the library unless its id is
// taken; the library is thrown away anyway if anything is wrong.
func (v *validator) script(file string, index int, fileLocale string, in fileScript) {
	id := in.ID
	if !validID(id) {
		// Name it by position so the problem can be found.
		id = fmt.Sprintf("#%d", index+1)
		if in.ID != "" {
			id = in.ID
		}
		v.fail(file, id, fmt.Errorf("%w: id %q: want letters, digits and . _ - (at most 100)", ErrBadField, in.ID))
	}
	fail := func(err error) { v.fail(file, id, err) }

	if prev, dup := v.idFile[in.ID]; dup && in.ID != "" {
		fail(fmt.Errorf("%w: already used in %s", ErrDuplicateID, prev))
	}
	localeOK := slices.Contains(Locales(), in.Locale)
	switch {
	case !localeOK:
		fail(fmt.Errorf("%w: %q, want one of %s", ErrBadLocale, in.Locale, quoteAll(Locales())))
	case fileLocale != "" && in.Locale != fileLocale:
		fail(fmt.Errorf("%w: %q in a file for %q", ErrBadLocale, in.Locale, fileLocale))
	}
	kind, kindOK := v.kind(fail, in.Category, in.Kind)

	if strings.TrimSpace(in.Title) == "" {
		fail(fmt.Errorf("%w: empty title", ErrBadField))
	}
	if strings.TrimSpace(in.Text) == "" {
		fail(fmt.Errorf("%w: empty text", ErrBadField))
	}
	if n := utf8.RuneCountInString(in.Text); n > MaxTextLen {
		fail(fmt.Errorf("%w: text has %d characters, at most %d allowed", ErrBadField, n, MaxTextLen))
	}
	if in.Vars != nil {
		fail(fmt.Errorf("%w: vars is derived from the text; remove it", ErrBadField))
	}
	vars, unknown := placeholdersIn(in.Text)
	for _, name := range unknown {
		fail(fmt.Errorf("%w {%s}, known: %s", ErrUnknownPlaceholder, name, strings.Join(Placeholders(), ", ")))
	}
	if kindOK {
		v.placeholderRule(fail, in.Category, kind, vars)
	}

	switch {
	case !validShortcut(in.Shortcut):
		fail(fmt.Errorf("%w: %q, want [a-z0-9_-]+ (at most 32)", ErrBadShortcut, in.Shortcut))
	case localeOK:
		seen := v.shortcuts[in.Locale]
		if seen == nil {
			seen = map[string]string{}
			v.shortcuts[in.Locale] = seen
		}
		if other, dup := seen[in.Shortcut]; dup {
			fail(fmt.Errorf("%w: %q, also used by %q", ErrDuplicateShortcut, in.Shortcut, other))
		} else {
			seen[in.Shortcut] = in.ID
		}
	}

	if _, dup := v.idFile[in.ID]; dup || in.ID == "" {
		return
	}
	v.idFile[in.ID] = file
	if localeOK && kindOK {
		v.lib.add(Script{
			ID: in.ID, Locale: in.Locale, Category: in.Category, Kind: in.Kind,
			Title: in.Title, Text: in.Text, Shortcut: in.Shortcut, Vars: vars,
		})
	}
}

// kind checks a category and kind against the table.
func (v *validator) kind(fail func(error), category, kind string) (kindRule, bool) {
	c, ok := findCategory(category)
	if !ok {
		fail(fmt.Errorf("%w: %q, want one of %s", ErrUnknownCategory, category, quoteAll(Categories())))
		return kindRule{}, false
	}
	k, ok := findKind(category, kind)
	switch {
	case ok:
		return k, true
	case c.kinds == nil:
		fail(fmt.Errorf("%w: %q, but %s has no kinds", ErrBadKind, kind, category))
	case kind == "":
		fail(fmt.Errorf("%w: missing, %s needs one of %s", ErrBadKind, category, quoteAll(Kinds(category))))
	default:
		fail(fmt.Errorf("%w: %q, %s has %s", ErrBadKind, kind, category, quoteAll(Kinds(category))))
	}
	return kindRule{}, false
}

func (v *validator) placeholderRule(fail func(error), category string, k kindRule, vars []string) {
	where := category
	if k.name != "" {
		where += "/" + k.name
	}
	for _, name := range k.required {
		if !slices.Contains(vars, name) {
			fail(fmt.Errorf("%w: %s texts must use {%s}", ErrPlaceholderRule, where, name))
		}
	}
	if k.allowed == nil {
		return
	}
	for _, name := range vars {
		if !slices.Contains(k.allowed, name) {
			fail(fmt.Errorf("%w: the server sends %s itself and cannot fill {%s}; allowed: %s",
				ErrPlaceholderRule, where, name, strings.Join(k.allowed, ", ")))
		}
	}
}

// complete checks that every locale has MinPerKind scripts of every
// category and kind.
func (v *validator) complete() {
	for _, locale := range Locales() {
		for _, c := range categories {
			kinds := []string{""}
			if c.kinds != nil {
				kinds = Kinds(c.name)
			}
			for _, k := range kinds {
				g := group{locale, c.name, k}
				if n := len(v.lib.groups[g]); n < MinPerKind {
					v.fail("", "", fmt.Errorf("%w: %s has %d, at least %d needed", ErrIncomplete, g, n, MinPerKind))
				}
			}
		}
	}
}

func validID(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validShortcut(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// describeJSONError adds the line and column to a decoding error when it
// knows the offset.
func describeJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%v (%s)", err, position(data, syn.Offset))
	case errors.As(err, &typ):
		return fmt.Sprintf("%v (%s)", err, position(data, typ.Offset))
	case errors.Is(err, io.EOF):
		return "empty file"
	}
	return err.Error()
}

// position turns a byte offset into "line L, column C", both from 1.
func position(data []byte, offset int64) string {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}
