package routing

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func entry(id string, sec int, req Request) Entry {
	return Entry{ConversationID: id, Since: t0.Add(time.Duration(sec) * time.Second), Req: req}
}

func ids(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ConversationID
	}
	return out
}

// checkConsistent asserts that Len, Entries, Oldest and every Position agree
// with want, the expected conversation ids oldest first.
func checkConsistent(t *testing.T, q *Queue, want []string) {
	t.Helper()
	if got := ids(q.Entries()); !slices.Equal(got, want) {
		t.Fatalf("Entries = %v, want %v", got, want)
	}
	if q.Len() != len(want) {
		t.Errorf("Len = %d, want %d", q.Len(), len(want))
	}
	for i, id := range want {
		if p := q.Position(id); p != i+1 {
			t.Errorf("Position(%s) = %d, want %d", id, p, i+1)
		}
	}
	o, ok := q.Oldest()
	if ok != (len(want) > 0) || (ok && o.ConversationID != want[0]) {
		t.Errorf("Oldest = %q, %v; want the first of %v", o.ConversationID, ok, want)
	}
}

func TestQueue(t *testing.T) {
	type op struct {
		push   string // conversation to push, or
		remove string // conversation to remove
		want   bool   // Remove's answer
		at     int    // the pushed entry's Since in seconds, when not 0 (else the op's index)
		back   bool   // the pushed entry's Back
	}
	for _, tc := range []struct {
		name string
		ops  []op
		want []string
		gone []string // Position 0
	}{
		{"zero value is empty", nil, nil, []string{"a"}},
		{"FIFO", []op{{push: "a"}, {push: "b"}, {push: "c"}}, []string{"a", "b", "c"}, nil},
		{"push twice keeps the first place", []op{{push: "a"}, {push: "b"}, {push: "a"}}, []string{"a", "b"}, nil},
		{"remove head", []op{{push: "a"}, {push: "b"}, {push: "c"}, {remove: "a", want: true}}, []string{"b", "c"}, []string{"a"}},
		{"remove middle", []op{{push: "a"}, {push: "b"}, {push: "c"}, {remove: "b", want: true}}, []string{"a", "c"}, []string{"b"}},
		{"remove tail", []op{{push: "a"}, {push: "b"}, {remove: "b", want: true}}, []string{"a"}, []string{"b"}},
		{"remove twice", []op{{push: "a"}, {remove: "a", want: true}, {remove: "a", want: false}}, nil, []string{"a"}},
		{"remove unknown", []op{{push: "a"}, {remove: "zz", want: false}}, []string{"a"}, []string{"zz"}},
		{"remove from empty", []op{{remove: "a", want: false}}, nil, []string{"a"}},
		{"pushed again after removal goes to the back", []op{
			{push: "a"}, {push: "b"}, {remove: "a", want: true}, {push: "c"}, {push: "a"},
		}, []string{"b", "c", "a"}, nil},
		{"an older entry goes ahead of newer ones", []op{
			{push: "a"}, {push: "b"}, {push: "c"}, {push: "old", at: -5}, {push: "mid", at: 1},
		}, []string{"old", "a", "b", "mid", "c"}, nil},
		{"back joins the back whatever its time", []op{
			{push: "a"}, {push: "b"}, {push: "late", at: -3, back: true}, {push: "c"},
		}, []string{"a", "b", "late", "c"}, nil},
		{"positions after several removals", []op{
			{push: "a"}, {push: "b"}, {push: "c"}, {push: "d"}, {push: "e"}, {push: "f"},
			{remove: "a", want: true}, {remove: "d", want: true}, {push: "g"}, {remove: "f", want: true},
			{remove: "b", want: true},
		}, []string{"c", "e", "g"}, []string{"a", "b", "d", "f"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q Queue
			for i, o := range tc.ops {
				if o.push != "" {
					at := i
					if o.at != 0 {
						at = o.at
					}
					e := entry(o.push, at, Request{})
					e.Back = o.back
					q.Push(e)
					continue
				}
				if got := q.Remove(o.remove); got != o.want {
					t.Errorf("op %d: Remove(%s) = %v, want %v", i, o.remove, got, o.want)
				}
			}
			checkConsistent(t, &q, tc.want)
			for _, id := range tc.gone {
				if p := q.Position(id); p != 0 {
					t.Errorf("Position(%s) = %d, want 0", id, p)
				}
			}
		})
	}
}

func TestQueuePushDuplicateKeepsFirstEntry(t *testing.T) {
	var q Queue
	q.Push(entry("a", 0, Request{Locale: "zh-CN"}))
	q.Push(entry("a", 9, Request{Locale: "en"}))
	got, _ := q.Oldest()
	if want := entry("a", 0, Request{Locale: "zh-CN"}); got != want {
		t.Errorf("Oldest = %+v, want %+v", got, want)
	}
}

func TestQueueEntriesIsACopy(t *testing.T) {
	var q Queue
	q.Push(entry("a", 0, Request{}))
	q.Push(entry("b", 1, Request{}))
	es := q.Entries()
	es[0].ConversationID = "x"
	checkConsistent(t, &q, []string{"a", "b"})
}

func TestQueueNext(t *testing.T) {
	agents := []Agent{
		ag("zh", 0, 2, 0, "zh-CN", "sales"),
		ag("en", 0, 2, 5, "en"),
		ag("full", 3, 3, 0, "fr"),
	}
	fr := Request{Locale: "fr"}
	for _, tc := range []struct {
		name      string
		entries   []Entry
		agents    []Agent
		wantID    string // "" when nothing can be taken
		wantAgent int
	}{
		{"empty queue", nil, agents, "", -1},
		{"oldest first", []Entry{
			entry("c1", 0, Request{Locale: "en"}), entry("c2", 1, Request{Locale: "zh-CN"}),
		}, agents, "c1", 1},
		{"skips a locale no free agent speaks", []Entry{
			entry("c1", 0, fr), entry("c2", 1, fr), entry("c3", 2, Request{Locale: "zh-CN"}),
		}, agents, "c3", 0},
		{"skips a skill nobody has", []Entry{
			entry("c1", 0, Request{Skill: "refunds"}), entry("c2", 1, Request{Locale: "en"}),
		}, agents, "c2", 1},
		{"skips an entry whose only agent is excluded", []Entry{
			entry("c1", 0, Request{Locale: "zh-CN", Exclude: "zh"}), entry("c2", 1, Request{Locale: "zh-CN"}),
		}, agents, "c2", 0},
		{"an entry that failed with one exclusion does not hide one without", []Entry{
			entry("c1", 0, Request{Locale: "en", Exclude: "en"}), entry("c2", 1, Request{Locale: "en", Exclude: "zh"}),
		}, agents, "c2", 1},
		{"agent chosen as Assign chooses", []Entry{
			entry("c1", 0, Request{Topic: "sales", Prefer: "en"}),
		}, agents, "c1", 1},
		{"nobody free", []Entry{
			entry("c1", 0, fr), entry("c2", 1, Request{Locale: "zh-CN"}),
		}, []Agent{ag("zh", 2, 2, 0, "zh-CN"), with(ag("x", 0, 2, 0), Away)}, "", -1},
		{"no agents", []Entry{entry("c1", 0, Request{})}, nil, "", -1},
		{"found behind more unroutable needs than the memo holds", append(
			unroutable(failedMemo+3), entry("ok", 99, Request{Locale: "en"}),
		), agents, "ok", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q Queue
			for _, e := range tc.entries {
				q.Push(e)
			}
			e, i, ok := q.Next(tc.agents)
			if ok != (tc.wantID != "") || e.ConversationID != tc.wantID || i != tc.wantAgent {
				t.Errorf("Next = %q, %d, %v; want %q, %d", e.ConversationID, i, ok, tc.wantID, tc.wantAgent)
			}
			if ok && e != tc.entries[slices.IndexFunc(tc.entries, func(x Entry) bool { return x.ConversationID == tc.wantID })] {
				t.Errorf("Next returned %+v, not the queued entry", e)
			}
			if q.Len() != len(tc.entries) {
				t.Errorf("Next changed Len to %d, want %d", q.Len(), len(tc.entries))
			}
		})
	}
}

// unroutable is n entries, each in a different locale nobody speaks.
func unroutable(n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		out[i] = entry(fmt.Sprintf("u%d", i), i, Request{Locale: fmt.Sprintf("xx-%d", i)})
	}
	return out
}

func BenchmarkQueueNext(b *testing.B) {
	agents := benchAgents(500)
	for i := range agents {
		if len(agents[i].Skills) == 0 {
			agents[i].Skills = []string{"zh-CN"} // no generalist takes everything
		}
	}
	var q Queue
	// 200 waiting: the first 150 in locales no agent speaks, or for a skill
	// nobody has, then routable ones.
	for i := range 200 {
		req := Request{Locale: "zh-CN", Topic: "sales"}
		switch {
		case i < 150 && i%3 == 0:
			req = Request{Locale: "fr"}
		case i < 150 && i%3 == 1:
			req = Request{Locale: "ja"}
		case i < 150:
			req = Request{Locale: "en", Skill: "refunds"}
		}
		q.Push(entry(fmt.Sprintf("conv-%d", i), i, req))
	}
	b.ReportAllocs()
	var ok bool
	for b.Loop() {
		_, _, ok = q.Next(agents)
	}
	if !ok {
		b.Fatal("nothing routable")
	}
}
