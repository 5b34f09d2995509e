package scripts

import (
	"errors"
	"strconv"
	"strings"
)

// Errors from Render and Fill. Every error they return wraps exactly one of
// these; the API answers the first two with bad_request.
var (
	// ErrUnknownVar means vars has a key that is not one of Placeholders().
	// The error names every such key.
	ErrUnknownVar = errors.New("unknown var")
	// ErrMissingVar means the text uses a placeholder that vars gives no
	// value for. The error names every such placeholder.
	ErrMissingVar = errors.New("missing var")
	// ErrUnknownScript means no script has the id given to Render.
	ErrUnknownScript = errors.New("unknown script")
)

// Problems found by Load and Embedded. Each one comes as a *LoadError that
// wraps one of these, so callers and tests can tell them apart with errors.Is.
var (
	// ErrNoFiles means the directory holds no *.json file at all.
	ErrNoFiles = errors.New("no script files")
	// ErrBadFile means a file cannot be read or is not a {"scripts":[…]}
	// object: a syntax error, a field of the wrong type, an unknown field,
	// data after the object, or no scripts in it.
	ErrBadFile = errors.New("malformed file")
	// ErrDuplicateID means two scripts, in the same file or not, share an id.
	ErrDuplicateID = errors.New("duplicate id")
	// ErrBadField means an id, title or text is empty or malformed, a text
	// is longer than MaxTextLen characters, or vars was written by hand.
	ErrBadField = errors.New("bad field")
	// ErrBadLocale means a locale is not one of Locales(), or differs from
	// the locale that the file's name gives (zh-CN.json holds zh-CN only).
	ErrBadLocale = errors.New("bad locale")
	// ErrUnknownCategory means a category is not one of Categories().
	ErrUnknownCategory = errors.New("unknown category")
	// ErrBadKind means a kind is not one of Kinds(category), or is missing
	// where the category requires one, or is given where it has none.
	ErrBadKind = errors.New("bad kind")
	// ErrUnknownPlaceholder means a text holds something written like a
	// placeholder, {lowercase_name}, that is not one of Placeholders().
	ErrUnknownPlaceholder = errors.New("unknown placeholder")
	// ErrPlaceholderRule means a text breaks its kind's placeholder rule: it
	// leaves out a placeholder the kind requires (the welcome names the shop,
	// queue messages give the position and the wait), or it uses one that
	// the server cannot fill in a message it sends itself.
	ErrPlaceholderRule = errors.New("placeholder rule")
	// ErrBadShortcut means a shortcut is empty or not made of [a-z0-9_-].
	ErrBadShortcut = errors.New("bad shortcut")
	// ErrDuplicateShortcut means two scripts of one locale share a shortcut.
	ErrDuplicateShortcut = errors.New("duplicate shortcut")
	// ErrIncomplete means a locale has fewer than MinPerKind scripts for
	// some category and kind.
	ErrIncomplete = errors.New("too few scripts")
)

// LoadError is one problem found while loading a library. Load returns all
// of them at once, joined with errors.Join.
type LoadError struct {
	// File is the path inside the fs.FS, "" for a problem of the whole
	// library (too few scripts of a kind).
	File string
	// ID is the script's id, "" when the problem is not about one script.
	ID string
	// Err wraps one of the sentinel errors above and says what is wrong.
	Err error
}

// Error reads like `scripts: en.json: script "en.probe.open.2": bad kind: …`.
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("scripts: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.ID != "" {
		b.WriteString("script ")
		b.WriteString(strconv.Quote(e.ID))
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap gives the wrapped problem, so errors.Is finds the sentinel.
func (e *LoadError) Unwrap() error { return e.Err }

// LoadErrors lists the problems inside an error returned by Load or
// Embedded, in the order they were found; nil when err holds none.
func LoadErrors(err error) []*LoadError {
	var out []*LoadError
	var walk func(error)
	walk = func(err error) {
		if le, ok := err.(*LoadError); ok {
			out = append(out, le)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
