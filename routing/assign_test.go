package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// ag builds an online agent idle since t0 plus idle minutes.
func ag(id string, load, capacity, idle int, skills ...string) Agent {
	return Agent{
		ID: id, Status: Online, Skills: skills, Capacity: capacity, Load: load,
		IdleSince: t0.Add(time.Duration(idle) * time.Minute),
	}
}

func with(a Agent, s Status) Agent { a.Status = s; return a }

// assignCase is one decision: want is the index in agents, -1 for none.
type assignCase struct {
	name   string
	req    Request
	agents []Agent
	want   int
}

// assignCases are the decisions both Assign and Pool.Assign must make.
func assignCases() []assignCase {
	zh := Request{Locale: "zh-CN"}
	return []assignCase{
		{"nil list", zh, nil, -1},
		{"empty list", zh, []Agent{}, -1},
		{"offline is never chosen", zh, []Agent{with(ag("a", 0, 5, 0), Offline)}, -1},
		{"away is never chosen", zh, []Agent{with(ag("a", 0, 5, 0), Away)}, -1},
		{"online chosen over idler offline and away", zh, []Agent{
			with(ag("a", 0, 5, 0), Offline), with(ag("b", 0, 5, 0), Away), ag("c", 4, 5, 9),
		}, 2},
		{"unknown status is not online", zh, []Agent{with(ag("a", 0, 5, 0), "busy")}, -1},
		{"full agent skipped", zh, []Agent{ag("a", 3, 3, 0), ag("b", 4, 5, 9)}, 1},
		{"over capacity skipped", zh, []Agent{ag("a", 4, 3, 0)}, -1},
		{"zero capacity skipped", zh, []Agent{ag("a", 0, 0, 0)}, -1},
		{"zero capacity skipped even with a bad negative load", zh, []Agent{ag("a", -1, 0, 0)}, -1},
		{"excluded agent skipped though best", Request{Exclude: "a"}, []Agent{
			ag("a", 0, 5, 0), ag("b", 4, 5, 9),
		}, 1},
		{"only the excluded agent", Request{Exclude: "a"}, []Agent{ag("a", 0, 5, 0)}, -1},
		{"skill required", Request{Skill: "after_sales"}, []Agent{
			ag("a", 0, 5, 0, "zh-CN", "sales"), ag("b", 4, 5, 9, "zh-CN", "after_sales"),
		}, 1},
		{"skill nobody lists", Request{Skill: "refunds"}, []Agent{
			ag("a", 0, 5, 0, "zh-CN", "sales"),
		}, -1},
		{"skill and locale both required", Request{Locale: "en", Skill: "sales"}, []Agent{
			ag("a", 0, 5, 0, "zh-CN", "sales"), ag("b", 0, 5, 0, "en"), ag("c", 4, 5, 9, "en", "sales"),
		}, 2},
		{"locale required", zh, []Agent{ag("a", 0, 5, 0, "en"), ag("b", 4, 5, 9, "zh-CN")}, 1},
		{"locale nobody speaks", Request{Locale: "fr"}, []Agent{
			ag("a", 0, 5, 0, "en"), ag("b", 0, 5, 0, "zh-CN"),
		}, -1},
		{"locale is exact", Request{Locale: "zh"}, []Agent{ag("a", 0, 5, 0, "zh-CN")}, -1},
		{"no locale asked: any agent", Request{}, []Agent{ag("a", 2, 5, 0, "en"), ag("b", 1, 5, 0, "zh-CN")}, 1},
		{"agent with no skills takes any locale", Request{Locale: "fr"}, []Agent{
			ag("a", 0, 5, 0, "en"), ag("b", 4, 5, 9),
		}, 1},
		{"agent with no skills takes a skill transfer", Request{Locale: "en", Skill: "after_sales"}, []Agent{
			ag("a", 0, 5, 0, "en", "sales"), ag("b", 4, 5, 9),
		}, 1},
		{"topic wins over lower load", Request{Locale: "zh-CN", Topic: "after_sales"}, []Agent{
			ag("a", 0, 5, 0, "zh-CN", "sales"), ag("b", 4, 5, 9, "zh-CN", "after_sales"),
		}, 1},
		{"no-skills agent is not preferred for a topic", Request{Topic: "sales"}, []Agent{
			ag("a", 0, 5, 0), ag("b", 3, 5, 9, "sales"),
		}, 1},
		{"topic is a preference, not a requirement", Request{Locale: "zh-CN", Topic: "after_sales"}, []Agent{
			ag("a", 3, 5, 0, "zh-CN", "sales"), ag("b", 1, 5, 9, "zh-CN"),
		}, 1},
		{"among topic agents lowest load wins", Request{Topic: "sales"}, []Agent{
			ag("a", 0, 5, 0, "en"), ag("b", 3, 5, 0, "sales"), ag("c", 2, 5, 9, "sales"),
		}, 2},
		{"lowest ratio, not lowest load", zh, []Agent{
			ag("a", 1, 2, 0), ag("b", 2, 8, 9), // 1/2 against 2/8
		}, 1},
		{"ratio by cross-multiplication", zh, []Agent{
			ag("a", 1, 3, 0), ag("b", 3, 10, 9), // 0.333 against 0.3
		}, 1},
		{"equal ratios with different capacities: longest idle", zh, []Agent{
			ag("a", 1, 2, 5), ag("b", 2, 4, 1), // both half full, b idle since earlier
		}, 1},
		{"idle tie-break picks the later index when it idled longer", zh, []Agent{
			ag("a", 0, 5, 3), ag("b", 0, 5, 2), ag("c", 0, 5, 1),
		}, 2},
		{"complete tie: lower index", zh, []Agent{ag("a", 1, 5, 1), ag("b", 1, 5, 1)}, 0},
		{"prefer eligible wins over everything", Request{Locale: "zh-CN", Topic: "sales", Prefer: "b"}, []Agent{
			ag("a", 0, 5, 0, "zh-CN", "sales"), ag("b", 4, 5, 9, "zh-CN"),
		}, 1},
		{"prefer full falls back to the ranking", Request{Prefer: "b"}, []Agent{
			ag("a", 2, 5, 0), ag("b", 5, 5, 0), ag("c", 1, 5, 9),
		}, 2},
		{"prefer away falls back", Request{Prefer: "a"}, []Agent{
			with(ag("a", 0, 5, 0), Away), ag("b", 1, 5, 9),
		}, 1},
		{"prefer without the locale falls back", Request{Locale: "en", Prefer: "a"}, []Agent{
			ag("a", 0, 5, 0, "zh-CN"), ag("b", 1, 5, 9, "en"),
		}, 1},
		{"prefer that is excluded falls back", Request{Prefer: "a", Exclude: "a"}, []Agent{
			ag("a", 0, 5, 0), ag("b", 1, 5, 9),
		}, 1},
		{"prefer unknown id falls back", Request{Prefer: "zz"}, []Agent{ag("a", 1, 5, 0), ag("b", 0, 5, 9)}, 1},
	}
}

func TestAssign(t *testing.T) {
	for _, tc := range assignCases() {
		t.Run(tc.name, func(t *testing.T) {
			if got := Assign(tc.req, tc.agents); got != tc.want {
				t.Errorf("Assign = %d, want %d", got, tc.want)
			}
		})
	}
}

// reference is Assign written the obvious way: filter, then sort.
func reference(req Request, agents []Agent) int {
	lists := func(a Agent, s string) bool { return slices.Contains(a.Skills, s) }
	var eligible []int
	for i, a := range agents {
		if a.Status != Online || a.Capacity <= 0 || a.Load >= a.Capacity || (req.Exclude != "" && a.ID == req.Exclude) {
			continue
		}
		if len(a.Skills) > 0 && ((req.Locale != "" && !lists(a, req.Locale)) || (req.Skill != "" && !lists(a, req.Skill))) {
			continue
		}
		if req.Prefer != "" && a.ID == req.Prefer {
			return i
		}
		eligible = append(eligible, i)
	}
	if len(eligible) == 0 {
		return -1
	}
	rank := func(i int) (bool, float64, time.Time) {
		a := agents[i]
		return req.Topic != "" && lists(a, req.Topic), float64(a.Load) / float64(a.Capacity), a.IdleSince
	}
	slices.SortStableFunc(eligible, func(x, y int) int {
		xt, xr, xi := rank(x)
		yt, yr, yi := rank(y)
		switch {
		case xt != yt && xt:
			return -1
		case xt != yt:
			return 1
		case xr != yr && xr < yr:
			return -1
		case xr != yr:
			return 1
		}
		return xi.Compare(yi)
	})
	return eligible[0]
}

func TestAssignMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	for n := range 2000 {
		agents := make([]Agent, rng.IntN(12))
		for i := range agents {
			capacity := rng.IntN(5)
			agents[i] = Agent{
				ID:        fmt.Sprintf("a%d", i),
				Status:    Status(pick(string(Online), string(Online), string(Away), string(Offline))),
				Capacity:  capacity,
				Load:      rng.IntN(capacity + 2),
				IdleSince: t0.Add(time.Duration(rng.IntN(4)) * time.Minute),
			}
			for range rng.IntN(4) {
				agents[i].Skills = append(agents[i].Skills, pick("zh-CN", "en", "sales", "after_sales"))
			}
		}
		req := Request{
			Locale:  pick("", "zh-CN", "en"),
			Topic:   pick("", "sales", "after_sales"),
			Skill:   pick("", "", "", "after_sales"),
			Prefer:  pick("", "", "a0", "a3"),
			Exclude: pick("", "", "a1", "a3"),
		}
		if got, want := Assign(req, agents), reference(req, agents); got != want {
			t.Fatalf("case %d: Assign(%+v, %+v) = %d, reference %d", n, req, agents, got, want)
		}
	}
}

func TestAssignDoesNotAllocate(t *testing.T) {
	agents := benchAgents(500)
	req := Request{Locale: "zh-CN", Topic: "after_sales", Skill: "after_sales", Exclude: "agent-7"}
	if n := testing.AllocsPerRun(100, func() { Assign(req, agents) }); n != 0 {
		t.Errorf("Assign allocates %v times per call", n)
	}
}

func TestSlots(t *testing.T) {
	agents := []Agent{
		ag("a", 5, 5, 0, "zh-CN"),             // full still counts: busy capacity serves the queue
		ag("b", 0, 3, 0, "en"),                // wrong locale
		ag("c", 1, 2, 0),                      // generalist
		with(ag("d", 0, 4, 0, "zh-CN"), Away), // not online
		ag("e", 0, 6, 0, "zh-CN", "sales"),
	}
	for _, tc := range []struct {
		name string
		req  Request
		want int
	}{
		{"locale", Request{Locale: "zh-CN"}, 5 + 2 + 6},
		{"any", Request{}, 5 + 3 + 2 + 6},
		{"skill", Request{Locale: "zh-CN", Skill: "sales"}, 2 + 6},
		{"excluded agent does not serve", Request{Locale: "zh-CN", Exclude: "e"}, 5 + 2},
		{"nobody", Request{Locale: "fr", Skill: "refunds", Exclude: "c"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Slots(tc.req, agents); got != tc.want {
				t.Errorf("Slots = %d, want %d", got, tc.want)
			}
		})
	}
}

// benchAgents is a mixed floor: a fifth offline or away, a few full,
// locales and topics in several combinations, some generalists.
func benchAgents(n int) []Agent {
	skillSets := [][]string{
		{"zh-CN", "sales"},
		{"zh-CN", "after_sales"},
		{"en", "sales", "after_sales"},
		{"zh-CN", "en", "sales"},
		{"en"},
		nil,
		{"zh-CN", "en", "sales", "after_sales", "complaints"},
	}
	agents := make([]Agent, n)
	for i := range agents {
		status := Online
		switch i % 10 {
		case 3:
			status = Away
		case 7:
			status = Offline
		}
		capacity := 3 + i%6
		agents[i] = Agent{
			ID:        fmt.Sprintf("agent-%d", i),
			Status:    status,
			Skills:    skillSets[i%len(skillSets)],
			Capacity:  capacity,
			Load:      (i * 7) % (capacity + 1),
			IdleSince: t0.Add(time.Duration((i*37)%600) * time.Second),
		}
	}
	return agents
}

func BenchmarkAssign(b *testing.B) {
	agents := benchAgents(500)
	req := Request{Locale: "zh-CN", Topic: "after_sales", Exclude: "agent-11"}
	b.ReportAllocs()
	var got int
	for b.Loop() {
		got = Assign(req, agents)
	}
	if got < 0 {
		b.Fatal("no agent chosen")
	}
}
