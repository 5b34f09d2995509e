package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// poolOf sets agents into a new pool in order.
func poolOf(agents []Agent) *Pool {
	p := &Pool{}
	for _, a := range agents {
		p.Set(a)
	}
	return p
}

// wantID is the ID Assign picks from agents, "" for none.
func wantID(req Request, agents []Agent) string {
	if i := Assign(req, agents); i >= 0 {
		return agents[i].ID
	}
	return ""
}

// checkPool verifies the index against the agents it should hold, in
// insertion order: every free agent in exactly its lists, each list sorted.
func checkPool(t *testing.T, p *Pool, agents []Agent) {
	t.Helper()
	if p.Len() != len(agents) {
		t.Fatalf("Len = %d, want %d", p.Len(), len(agents))
	}
	var want [listCount][]int32
	last := int32(-1)
	for _, a := range agents {
		s, ok := p.index[a.ID]
		if !ok {
			t.Fatalf("%s not indexed", a.ID)
		}
		if s <= last {
			t.Fatalf("%s in slot %d after slot %d: insertion order lost", a.ID, s, last)
		}
		last = s
		got, _ := p.Get(a.ID)
		if got.Status != a.Status || got.Load != a.Load || got.Capacity != a.Capacity ||
			!got.IdleSince.Equal(a.IdleSince) || !slices.Equal(got.Skills, a.Skills) {
			t.Fatalf("Get(%s) = %+v, want %+v", a.ID, got, a)
		}
		if !a.free("") {
			continue
		}
		want[allList] = append(want[allList], s)
		if len(a.Skills) == 0 {
			want[generalList] = append(want[generalList], s)
		}
		for _, sk := range a.Skills {
			if b, ok := p.skills[sk]; ok && b < maskBits && !slices.Contains(want[b], s) {
				want[b] = append(want[b], s)
			}
		}
	}
	for k := range p.lists {
		l := p.lists[k]
		for i := 1; i < len(l); i++ {
			if r := p.rank(l[i]); p.cmp(l[i-1], &r) >= 0 {
				t.Fatalf("list %d out of order at %d: %v", k, i, l)
			}
		}
		got := slices.Clone(l)
		slices.Sort(got)
		if !slices.Equal(got, want[k]) {
			t.Fatalf("list %d holds slots %v, want %v", k, got, want[k])
		}
	}
}

func TestPoolAssign(t *testing.T) {
	for _, tc := range assignCases() {
		t.Run(tc.name, func(t *testing.T) {
			p := poolOf(tc.agents)
			id, ok := p.Assign(tc.req)
			want := ""
			if tc.want >= 0 {
				want = tc.agents[tc.want].ID
			}
			if id != want || ok != (want != "") {
				t.Errorf("Assign = %q, %v; want %q", id, ok, want)
			}
			checkPool(t, p, tc.agents)
		})
	}
}

// sets is a setup that Sets each agent in turn.
func sets(agents ...Agent) func(*Pool) {
	return func(p *Pool) {
		for _, a := range agents {
			p.Set(a)
		}
	}
}

func TestPoolSetAndRemove(t *testing.T) {
	any := Request{}
	for _, tc := range []struct {
		name string
		run  func(p *Pool)
		req  Request
		want string
	}{
		{"empty pool", sets(), any, ""},
		{"update keeps the place of the first Set", sets(ag("a", 1, 5, 1), ag("b", 1, 5, 1), ag("a", 1, 5, 1, "en")), any, "a"},
		{"removed and set again goes last", func(p *Pool) {
			p.Set(ag("a", 1, 5, 1))
			p.Set(ag("b", 1, 5, 1))
			p.Remove("a")
			p.Set(ag("a", 1, 5, 1))
		}, any, "b"},
		{"remove of an unknown id is a no-op", func(p *Pool) {
			p.Set(ag("a", 1, 5, 1))
			p.Remove("zz")
		}, any, "a"},
		{"removed agent is never chosen", func(p *Pool) {
			p.Set(ag("a", 0, 5, 0))
			p.Set(ag("b", 4, 5, 9))
			p.Remove("a")
		}, any, "b"},
		{"a load rise moves an agent back", sets(ag("a", 0, 5, 0), ag("b", 1, 5, 9), ag("a", 2, 5, 0)), any, "b"},
		{"full agent leaves the lists", sets(ag("a", 0, 1, 0), ag("a", 1, 1, 0)), any, ""},
		{"going away leaves the lists, coming back rejoins", sets(ag("a", 0, 5, 0), ag("b", 3, 5, 9), with(ag("a", 0, 5, 0), Away), ag("a", 2, 5, 0)), any, "a"},
		{"skills change: dropped skill no longer matches", sets(ag("a", 0, 5, 0, "en"), ag("a", 0, 5, 0, "zh-CN")), Request{Locale: "en"}, ""},
		{"skills change: becomes a generalist", sets(ag("a", 0, 5, 0, "zh-CN"), ag("a", 0, 5, 0)), Request{Locale: "en"}, "a"},
		{"skills change: stops being a generalist", sets(ag("a", 0, 5, 0), ag("a", 0, 5, 0, "zh-CN")), Request{Locale: "en"}, ""},
		{"locale nobody ever listed: generalists only", sets(ag("a", 0, 5, 0, "en"), ag("b", 4, 5, 9)), Request{Locale: "fr", Topic: "en"}, "b"},
		{"locale nobody ever listed, excluded generalist", sets(ag("a", 0, 5, 0, "en"), ag("b", 4, 5, 9)), Request{Locale: "fr", Exclude: "b"}, ""},
		{"topic nobody ever listed is no preference", sets(ag("a", 2, 5, 0, "en"), ag("b", 1, 5, 9)), Request{Locale: "en", Topic: "refunds"}, "b"},
		{"topic agent without the skill loses to a generalist", sets(ag("a", 0, 5, 0, "sales"), ag("b", 4, 5, 9)), Request{Locale: "en", Topic: "sales"}, "b"},
		{"generalist beats the best skilled agent on load", sets(ag("a", 2, 5, 0, "en", "sales"), ag("b", 1, 5, 9)), Request{Locale: "en", Skill: "sales"}, "b"},
		{"skilled agent beats a generalist on idle", sets(ag("b", 1, 5, 9), ag("a", 1, 5, 0, "en", "sales")), Request{Locale: "en", Skill: "sales"}, "a"},
		{"full tie between skilled and generalist: insertion order", sets(ag("b", 1, 5, 1), ag("a", 1, 5, 1, "en")), Request{Locale: "en"}, "b"},
		{"shortest list walked still needs every bit", sets(ag("a", 0, 5, 0, "en"), ag("b", 0, 5, 0, "en", "sales", "sales"), ag("c", 0, 5, 0, "zh-CN", "sales")), Request{Locale: "zh-CN", Skill: "sales"}, "c"},
		{"empty skill string is not a generalist", sets(ag("a", 0, 5, 0, "")), Request{Locale: "en"}, ""},
		{"excluded head of a list: the next one", sets(ag("a", 0, 5, 0, "en", "sales"), ag("b", 1, 5, 0, "en", "sales")), Request{Topic: "sales", Exclude: "a"}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pool{}
			tc.run(p)
			if id, ok := p.Assign(tc.req); id != tc.want || ok != (tc.want != "") {
				t.Errorf("Assign = %q, %v; want %q", id, ok, tc.want)
			}
		})
	}
}

func TestPoolGetCopies(t *testing.T) {
	skills := []string{"en", "sales"}
	var p Pool
	p.Set(ag("a", 0, 5, 0, skills...))
	skills[0] = "zh-CN" // the caller's slice is the caller's
	if id, _ := p.Assign(Request{Locale: "en"}); id != "a" {
		t.Fatalf("Assign after the caller changed its slice = %q", id)
	}
	got, ok := p.Get("a")
	if !ok || !slices.Equal(got.Skills, []string{"en", "sales"}) {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	got.Skills[0] = "fr"
	if again, _ := p.Get("a"); again.Skills[0] != "en" {
		t.Fatal("Get shares the pool's skills")
	}
	if _, ok := p.Get("zz"); ok {
		t.Fatal("Get of an unknown id")
	}
}

// poolSteps drives a pool and a slice of the same agents with random changes
// and checks every decision against Assign on the slice.
func poolSteps(t *testing.T, seed uint64, steps int, skills []string, requested []string) {
	rng := rand.New(rand.NewPCG(seed, 7))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	var (
		p      Pool
		agents []Agent // in insertion order, as Assign sees them
	)
	find := func(id string) int {
		return slices.IndexFunc(agents, func(a Agent) bool { return a.ID == id })
	}
	ids := make([]string, 60)
	for i := range ids {
		ids[i] = fmt.Sprintf("a%d", i)
	}
	names := append(slices.Clip(requested), "", "")        // locales and topics
	hard := append(slices.Clip(requested), "", "", "", "") // skills, mostly unset
	who := append(slices.Clip(ids[:8]), "", "", "", "")    // prefer and exclude
	for step := range steps {
		id := pick(ids)
		i := find(id)
		switch op := rng.IntN(10); {
		case op == 0 && i >= 0:
			p.Remove(id)
			agents = slices.Delete(agents, i, i+1)
		case op < 5 && i >= 0: // a load change, as routing makes most
			a := agents[i]
			a.Load = max(a.Load+rng.IntN(3)-1, 0)
			if rng.IntN(3) == 0 {
				a.IdleSince = t0.Add(time.Duration(rng.IntN(5)) * time.Minute)
			}
			agents[i] = a
			p.Set(a)
		default:
			capacity := rng.IntN(5)
			a := Agent{
				ID:        id,
				Status:    []Status{Online, Online, Online, Away, Offline}[rng.IntN(5)],
				Capacity:  capacity,
				Load:      rng.IntN(capacity+2) - rng.IntN(2),
				IdleSince: t0.Add(time.Duration(rng.IntN(5)) * time.Minute),
			}
			for range rng.IntN(4) {
				a.Skills = append(a.Skills, pick(skills))
			}
			if i >= 0 {
				agents[i] = a
			} else {
				agents = append(agents, a)
			}
			p.Set(a)
		}
		if step%50 == 0 {
			checkPool(t, &p, agents)
		}
		for range 3 {
			req := Request{
				Locale:  pick(names),
				Topic:   pick(names),
				Skill:   pick(hard),
				Prefer:  pick(who),
				Exclude: pick(who),
			}
			got, ok := p.Assign(req)
			if want := wantID(req, agents); got != want || ok != (want != "") {
				t.Fatalf("step %d: Pool.Assign(%+v) = %q, %v; Assign chose %q among %+v", step, req, got, ok, want, agents)
			}
		}
	}
	checkPool(t, &p, agents)
}

func TestPoolMatchesAssign(t *testing.T) {
	skills := []string{"zh-CN", "en", "sales", "after_sales", "complaints", ""}
	requested := []string{"zh-CN", "en", "sales", "after_sales", "refunds", "fr"} // the last two nobody lists
	for seed := range uint64(4) {
		poolSteps(t, seed, 5000, skills, requested)
	}
}

func TestPoolPastSixtyFourSkills(t *testing.T) {
	// 80 skills: requests naming one of the last 16 to be seen take the
	// fallback, the others the index, with agents listing both kinds.
	skills := make([]string, 80)
	for i := range skills {
		skills[i] = fmt.Sprintf("s%d", i)
	}
	var p Pool
	for i, sk := range skills { // intern them in order
		p.Set(ag(fmt.Sprintf("seed%d", i), 0, 1, 0, sk))
	}
	for i := range skills {
		p.Remove(fmt.Sprintf("seed%d", i))
	}
	if b := p.skills["s70"]; b < maskBits {
		t.Fatalf("s70 has bit %d", b)
	}
	p.Set(ag("a", 1, 5, 0, "s70", "s1"))
	p.Set(ag("b", 0, 5, 0, "s71", "s1"))
	p.Set(ag("c", 2, 5, 0))
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Skill: "s70"}, "a"},
		{Request{Topic: "s70"}, "a"},
		{Request{Locale: "s1", Topic: "s70"}, "a"},
		{Request{Skill: "s72"}, "c"},
		{Request{Skill: "s1"}, "b"},
		{Request{Skill: "s70", Exclude: "a"}, "c"},
		{Request{Skill: "s70", Exclude: "a", Prefer: "b"}, "c"},
		{Request{Locale: "s1", Skill: "s71", Exclude: "b"}, "c"},
	} {
		if got, ok := p.Assign(tc.req); got != tc.want || !ok {
			t.Errorf("Assign(%+v) = %q, %v; want %q", tc.req, got, ok, tc.want)
		}
	}

	var wide []string
	for i := 0; i < len(skills); i += 4 {
		wide = append(wide, skills[i])
	}
	wide = append(wide, skills[1], skills[2], "refunds")
	for seed := range uint64(3) {
		poolSteps(t, 10+seed, 5000, skills, wide)
	}
}

func TestPoolDoesNotAllocate(t *testing.T) {
	agents := benchAgents(500)
	p := poolOf(agents)
	reqs := []Request{
		{Locale: "zh-CN", Topic: "after_sales", Exclude: "agent-11"},
		{Locale: "zh-CN", Topic: "after_sales", Skill: "after_sales", Exclude: "agent-7"},
		{Locale: "en", Prefer: "agent-4"},
		{Locale: "fr"},
		{},
	}
	for _, req := range reqs {
		if n := testing.AllocsPerRun(100, func() { p.Assign(req) }); n != 0 {
			t.Errorf("Assign(%+v) allocates %v times per call", req, n)
		}
	}
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		a := &agents[i%len(agents)]
		i++
		a.Load = (a.Load + 1) % (a.Capacity + 1)
		p.Set(*a)
	}); n != 0 {
		t.Errorf("Set of a load allocates %v times per call", n)
	}
	checkPool(t, p, agents)
}

func BenchmarkPoolAssign(b *testing.B) {
	p := poolOf(benchAgents(500))
	req := Request{Locale: "zh-CN", Topic: "after_sales", Exclude: "agent-11"}
	b.ReportAllocs()
	var ok bool
	for b.Loop() {
		_, ok = p.Assign(req)
	}
	if !ok {
		b.Fatal("no agent chosen")
	}
}

// BenchmarkPoolSet is an assignment and its release: two Sets, one load up,
// one load back, on the agent Assign picks.
func BenchmarkPoolSet(b *testing.B) {
	agents := benchAgents(500)
	p := poolOf(agents)
	at := make(map[string]int, len(agents))
	for i, a := range agents {
		at[a.ID] = i
	}
	// Rotate through the requests so the chosen agent changes.
	reqs := []Request{
		{Locale: "zh-CN", Topic: "after_sales", Exclude: "agent-11"},
		{Locale: "en", Topic: "sales"},
		{Locale: "zh-CN"},
		{},
	}
	chosen := make([]int, len(reqs))
	for i, req := range reqs {
		id, _ := p.Assign(req)
		chosen[i] = at[id]
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		a := agents[chosen[n%len(chosen)]]
		n++
		a.Load++
		p.Set(a)
		a.Load--
		p.Set(a)
	}
}
