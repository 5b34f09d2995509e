package scripts

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The known placeholder names. In a text they are written in braces:
// {shopper_name}.
const (
	VarShopperName   = "shopper_name"   // the shopper's display name
	VarAgentName     = "agent_name"     // the assigned agent's display name
	VarShopName      = "shop_name"      // the shop's name, as configured
	VarWaitMinutes   = "wait_minutes"   // a whole number of minutes, see WaitMinutes
	VarQueuePosition = "queue_position" // 1 for the next in line
)

// Placeholders returns the known placeholder names.
func Placeholders() []string {
	return []string{VarShopperName, VarAgentName, VarShopName, VarWaitMinutes, VarQueuePosition}
}

func isKnown(name string) bool {
	switch name {
	case VarShopperName, VarAgentName, VarShopName, VarWaitMinutes, VarQueuePosition:
		return true
	}
	return false
}

// WaitMinutes formats a wait for {wait_minutes}: whole minutes rounded up,
// never less than 1, so a queue message never promises "0 minutes".
func WaitMinutes(d time.Duration) string {
	m := (d + time.Minute - 1) / time.Minute
	if m < 1 {
		m = 1
	}
	return strconv.FormatInt(int64(m), 10)
}

// nextToken finds the first {name} at or after from whose name is made of
// [a-z_]: the shape of a placeholder, known or not. It returns the bounds of
// the whole token, braces included, and ok false when there is none.
func nextToken(text string, from int) (start, end int, name string, ok bool) {
	for from < len(text) {
		i := strings.IndexByte(text[from:], '{')
		if i < 0 {
			return 0, 0, "", false
		}
		start = from + i
		j := start + 1
		for j < len(text) && (text[j] >= 'a' && text[j] <= 'z' || text[j] == '_') {
			j++
		}
		if j > start+1 && j < len(text) && text[j] == '}' {
			return start, j + 1, text[start+1 : j], true
		}
		from = start + 1
	}
	return 0, 0, "", false
}

// placeholdersIn lists the known placeholders a text uses, in order of first
// use, and the unknown names written like placeholders; vars is never nil.
func placeholdersIn(text string) (vars, unknown []string) {
	vars = []string{}
	for pos := 0; ; {
		_, end, name, ok := nextToken(text, pos)
		if !ok {
			return vars, unknown
		}
		pos = end
		switch {
		case !isKnown(name):
			if !slices.Contains(unknown, name) {
				unknown = append(unknown, name)
			}
		case !slices.Contains(vars, name):
			vars = append(vars, name)
		}
	}
}

// Fill puts the values of vars in place of the placeholders in text. Only
// {name} with a known name is a placeholder; every other brace is literal
// text and stays as it is. Values go in verbatim, without escaping: clients
// show messages as text.
//
// A key of vars that is not a known placeholder is an error wrapping
// ErrUnknownVar, even when the text does not use it, so typos are caught; a
// placeholder of the text without a value in vars is one wrapping
// ErrMissingVar. Each names every offending name. Known keys the text does
// not use are fine.
func Fill(text string, vars map[string]string) (string, error) {
	out, err := fill(text, vars)
	if err != nil {
		return "", fmt.Errorf("scripts: %w", err)
	}
	return out, nil
}

func fill(text string, vars map[string]string) (string, error) {
	var unknown []string
	for k := range vars {
		if !isKnown(k) {
			unknown = append(unknown, k)
		}
	}
	if unknown != nil {
		slices.Sort(unknown)
		return "", fmt.Errorf("%w %s", ErrUnknownVar, quoteAll(unknown))
	}
	var b strings.Builder
	var missing []string
	last := 0
	for pos := 0; ; {
		start, end, name, ok := nextToken(text, pos)
		if !ok {
			break
		}
		pos = end
		if !isKnown(name) {
			continue
		}
		v, ok := vars[name]
		if !ok {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text) + 32)
		}
		b.WriteString(text[last:start])
		b.WriteString(v)
		last = end
	}
	if missing != nil {
		return "", fmt.Errorf("%w %s", ErrMissingVar, quoteAll(missing))
	}
	if last == 0 {
		return text, nil
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
