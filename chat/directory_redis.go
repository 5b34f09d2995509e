package chat

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"

	"github.com/daogou/daogou/chat/store"
	"github.com/daogou/daogou/routing"
)

// Cluster presence settings.
const (
	heartbeatEvery = time.Second     // an instance renews its lease this often
	leaseFor       = 5 * time.Second // an instance silent this long is dead
	handlingKept   = 50              // handling times kept for wait estimates
)

// RedisDirectory is the Directory of a cluster: every instance on the same
// Redis and prefix shares presence, load and the queue. Each instance holds a
// lease (renewed every second, dead after five); an agent's consoles are
// counted per instance, so the consoles of a dead instance stop counting as
// soon as its lease runs out. Loads change only through Lua scripts that
// check capacity and count in one step.
type RedisDirectory struct {
	rdb      redis.UniversalClient
	lease    redis.UniversalClient // the lease's own connections (see NewRedisDirectory)
	ownLease bool                  // lease was made here, and is closed with the directory
	p        string                // key prefix
	instance string
	log      *zap.Logger

	mu       sync.Mutex
	profiles map[string]profileCache // parsed profiles by id, reused while unchanged
	local    map[string]int          // consoles on this instance, by agent

	stop chan struct{}
	wg   sync.WaitGroup
}

type profileCache struct {
	raw string
	a   store.Agent
}

// NewRedisDirectory shares the directory through rdb under prefix; instance
// names this process (unique in the cluster).
//
// The lease is renewed and the dead are reaped over connections of their
// own (a second client with the same options, when rdb is a plain
// client): with the shared pool busy carrying a burst of traffic, a
// renewal waiting for a connection missed its second, and after five such
// the other instances took this one for dead (measured in
// docs/benchmarks.md, seventh round).
func NewRedisDirectory(rdb redis.UniversalClient, prefix, instance string, log *zap.Logger) *RedisDirectory {
	d := &RedisDirectory{rdb: rdb, lease: rdb, p: prefix, instance: instance, log: log, profiles: make(map[string]profileCache), local: make(map[string]int), stop: make(chan struct{})}
	if c, ok := rdb.(*redis.Client); ok {
		o := *c.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns = 2, 0, 2
		// The copy would register the shared client's notification
		// handlers again (go-redis logs the clash); the lease needs none.
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		d.lease, d.ownLease = redis.NewClient(&o), true
	}
	return d
}

func (d *RedisDirectory) k(name string) string { return d.p + name }

// Keys of the directory.
func (d *RedisDirectory) keys() (agents, caps, status, load, idle, since, sessions, instances string) {
	return d.k("agents"), d.k("cap"), d.k("status"), d.k("load"), d.k("idle"), d.k("since"), d.k("sessions"), d.k("instances")
}

var (
	// claimScript counts a conversation on an online agent with room.
	// KEYS: status, load, cap. ARGV: agent id.
	claimScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'online' then return 0 end
local cap = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local load = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if load >= cap then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1`)

	// releaseScript uncounts a conversation; at zero the agent is idle
	// from now. KEYS: load, idle. ARGV: agent id, now (ms).
	releaseScript = redis.NewScript(`
local load = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if load <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if load == 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1`)

	// onlineScript brings an agent online unless it chose a status.
	// KEYS: status, since, idle, load. ARGV: agent id, now (ms).
	onlineScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], ARGV[1])
if st and st ~= 'offline' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'online')
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0') == 0 then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) end
return 1`)

	// offlineScript takes an agent offline once; KEYS: status. ARGV: id.
	offlineScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], ARGV[1])
if not st or st == 'offline' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'offline')
return 1`)
)

func ms(t time.Time) int64 { return t.UnixMilli() }

// Start registers this instance's lease and keeps it renewed; onGone is
// called (on one surviving instance) with the agents whose consoles went
// with a dead instance, and onBack after Redis answers again following a
// failure.
func (d *RedisDirectory) Start(ctx context.Context, onGone func(orphans []string), onBack func()) error {
	if err := d.heartbeat(ctx); err != nil {
		return err
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-d.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), heartbeatEvery)
			err := d.heartbeat(ctx)
			var (
				reaped  int
				orphans []string
			)
			if err == nil {
				reaped, orphans, err = d.reap(ctx)
			}
			cancel()
			switch {
			case err != nil && !failing:
				failing = true
				d.log.Warn("cluster directory unreachable", zap.Error(err))
			case err == nil && failing:
				failing = false
				d.log.Info("cluster directory back")
				onBack()
			}
			if reaped > 0 {
				onGone(orphans)
			}
		}
	}()
	return nil
}

// heartbeat renews this instance's lease. When the lease had gone (Redis
// lost it, or another instance reaped this one during an outage), the
// consoles connected here are counted again, and their agents are online.
func (d *RedisDirectory) heartbeat(ctx context.Context) error {
	added, err := d.lease.ZAdd(ctx, d.k("instances"), redis.Z{Score: float64(ms(time.Now().Add(leaseFor))), Member: d.instance}).Result()
	if err != nil || added == 0 {
		return err
	}
	d.mu.Lock()
	local := make(map[string]int, len(d.local))
	for id, n := range d.local {
		local[id] = n
	}
	d.mu.Unlock()
	_, _, status, load, idle, since, _, _ := d.keys()
	now := ms(time.Now())
	for id, n := range local {
		if err := d.lease.HSet(ctx, d.k("sessions"), d.sessionField(id), n).Err(); err != nil {
			return err
		}
		if err := onlineScript.Run(ctx, d.lease, []string{status, since, idle, load}, id, now).Err(); err != nil {
			return err
		}
	}
	if len(local) > 0 {
		d.log.Info("lease taken again: consoles counted again", zap.Int("agents", len(local)))
	}
	return nil
}

// countLocal keeps this instance's own tally of its consoles.
func (d *RedisDirectory) countLocal(id string, delta int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := d.local[id] + delta; n > 0 {
		d.local[id] = n
	} else {
		delete(d.local, id)
	}
}

// reap removes instances whose lease ran out; the instance that removes one
// forgets its consoles, and returns how many it reaped and the agents whose
// consoles went with them.
func (d *RedisDirectory) reap(ctx context.Context) (int, []string, error) {
	dead, err := d.lease.ZRangeByScore(ctx, d.k("instances"), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms(time.Now()), 10)}).Result()
	if err != nil || len(dead) == 0 {
		return 0, nil, err
	}
	var orphans []string
	reaped := 0
	for _, inst := range dead {
		n, err := d.lease.ZRem(ctx, d.k("instances"), inst).Result()
		if err != nil {
			return reaped, orphans, err
		}
		if n == 0 {
			continue // another instance reaped it
		}
		reaped++
		d.log.Warn("instance lease expired", zap.String("instance", inst))
		sessions, err := d.lease.HGetAll(ctx, d.k("sessions")).Result()
		if err != nil {
			return reaped, orphans, err
		}
		for field := range sessions {
			agentID, owner, _ := strings.Cut(field, "|")
			if owner == inst {
				d.lease.HDel(ctx, d.k("sessions"), field)
				orphans = append(orphans, agentID)
			}
		}
	}
	return reaped, orphans, nil
}

// Close gives up this instance's lease and stops the heartbeat; the
// consoles it counted stop counting at once.
func (d *RedisDirectory) Close() error {
	select {
	case <-d.stop:
		return nil
	default:
		close(d.stop)
	}
	d.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sessions, err := d.rdb.HGetAll(ctx, d.k("sessions")).Result()
	if err == nil {
		for field := range sessions {
			if strings.HasSuffix(field, "|"+d.instance) {
				d.rdb.HDel(ctx, d.k("sessions"), field)
			}
		}
	}
	err = d.lease.ZRem(ctx, d.k("instances"), d.instance).Err()
	if d.ownLease {
		d.lease.Close()
	}
	return err
}

func (d *RedisDirectory) Upsert(ctx context.Context, a store.Agent) error {
	raw, err := json.Marshal(profile{ID: a.ID, Email: a.Email, Name: a.Name, Role: a.Role, Skills: a.Skills, Capacity: a.Capacity, Created: ms(a.CreatedAt)})
	if err != nil {
		return err
	}
	_, err = d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, d.k("agents"), a.ID, raw)
		p.HSet(ctx, d.k("cap"), a.ID, a.Capacity)
		p.HSetNX(ctx, d.k("status"), a.ID, string(routing.Offline))
		return nil
	})
	return err
}

// profile is an account as kept in Redis.
type profile struct {
	ID       string   `json:"id"`
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	Skills   []string `json:"skills"`
	Capacity int      `json:"capacity"`
	Created  int64    `json:"created"`
}

func (d *RedisDirectory) sessionField(agentID string) string { return agentID + "|" + d.instance }

func (d *RedisDirectory) Connect(ctx context.Context, id string, now time.Time) (bool, error) {
	d.countLocal(id, 1)
	if err := d.rdb.HIncrBy(ctx, d.k("sessions"), d.sessionField(id), 1).Err(); err != nil {
		return false, err
	}
	_, _, status, load, idle, since, _, _ := d.keys()
	n, err := onlineScript.Run(ctx, d.rdb, []string{status, since, idle, load}, id, ms(now)).Int()
	return n == 1, err
}

func (d *RedisDirectory) Disconnect(ctx context.Context, id string, now time.Time) (bool, error) {
	d.countLocal(id, -1)
	n, err := d.rdb.HIncrBy(ctx, d.k("sessions"), d.sessionField(id), -1).Result()
	if err != nil {
		return false, err
	}
	if n <= 0 {
		d.rdb.HDel(ctx, d.k("sessions"), d.sessionField(id))
	}
	live, err := d.liveSessions(ctx, id)
	return live == 0, err
}

// liveSessions counts an agent's consoles on instances whose lease holds.
func (d *RedisDirectory) liveSessions(ctx context.Context, id string) (int, error) {
	snap, err := d.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	return snap.sessions[id], nil
}

func (d *RedisDirectory) Expire(ctx context.Context, id string, _ time.Time) (bool, error) {
	live, err := d.liveSessions(ctx, id)
	if err != nil || live > 0 {
		return false, err
	}
	n, err := offlineScript.Run(ctx, d.rdb, []string{d.k("status")}, id).Int()
	return n == 1, err
}

func (d *RedisDirectory) SetStatus(ctx context.Context, id string, st routing.Status, now time.Time) error {
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, d.k("status"), id, string(st))
		if st == routing.Online {
			p.HSet(ctx, d.k("since"), id, ms(now))
		}
		return nil
	})
	return err
}

// snap is the directory as read in one round trip.
type snap struct {
	agents   []routing.Agent // routing's view: offline without a live console
	views    []agentView
	sessions map[string]int
}

func (d *RedisDirectory) snapshot(ctx context.Context) (snap, error) {
	agentsK, _, statusK, loadK, idleK, sinceK, sessionsK, instancesK := d.keys()
	pipe := d.rdb.Pipeline()
	agentsC := pipe.HGetAll(ctx, agentsK)
	statusC := pipe.HGetAll(ctx, statusK)
	loadC := pipe.HGetAll(ctx, loadK)
	idleC := pipe.HGetAll(ctx, idleK)
	sinceC := pipe.HGetAll(ctx, sinceK)
	sessionsC := pipe.HGetAll(ctx, sessionsK)
	instC := pipe.ZRangeWithScores(ctx, instancesK, 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return snap{}, err
	}
	now := ms(time.Now())
	alive := map[string]bool{}
	for _, z := range instC.Val() {
		alive[z.Member.(string)] = int64(z.Score) > now
	}
	s := snap{sessions: map[string]int{}}
	for field, v := range sessionsC.Val() {
		agentID, inst, _ := strings.Cut(field, "|")
		if n, _ := strconv.Atoi(v); n > 0 && alive[inst] {
			s.sessions[agentID] += n
		}
	}
	profiles := d.profilesOf(agentsC.Val())
	for _, a := range profiles {
		st := routing.Status(statusC.Val()[a.ID])
		if st == "" {
			st = routing.Offline
		}
		load, _ := strconv.Atoi(loadC.Val()[a.ID])
		idle, _ := strconv.ParseInt(idleC.Val()[a.ID], 10, 64)
		since, _ := strconv.ParseInt(sinceC.Val()[a.ID], 10, 64)
		v := agentView{Agent: a, Status: st, Load: load, Sessions: s.sessions[a.ID]}
		if st != routing.Offline && since > 0 {
			v.OnlineSince = store.At(time.UnixMilli(since).UTC())
		}
		s.views = append(s.views, v)
		rst := st
		if v.Sessions == 0 || a.Role != AccountAgent {
			rst = routing.Offline
		}
		s.agents = append(s.agents, routing.Agent{ID: a.ID, Status: rst, Skills: a.Skills, Capacity: a.Capacity, Load: load, IdleSince: time.UnixMilli(idle)})
	}
	return s, nil
}

// profilesOf parses the accounts (reusing unchanged ones), oldest first.
func (d *RedisDirectory) profilesOf(raw map[string]string) []store.Agent {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]store.Agent, 0, len(raw))
	for id, r := range raw {
		c, ok := d.profiles[id]
		if !ok || c.raw != r {
			var p profile
			if json.Unmarshal([]byte(r), &p) != nil {
				continue
			}
			if p.Skills == nil {
				p.Skills = []string{}
			}
			c = profileCache{raw: r, a: store.Agent{ID: p.ID, Email: p.Email, Name: p.Name, Role: p.Role, Skills: p.Skills, Capacity: p.Capacity, CreatedAt: time.UnixMilli(p.Created).UTC()}}
			d.profiles[id] = c
		}
		out = append(out, c.a)
	}
	slices.SortFunc(out, func(a, b store.Agent) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// claim counts a conversation on agent id, atomically against capacity.
func (d *RedisDirectory) claim(ctx context.Context, id string) (bool, error) {
	_, _, status, load, _, _, _, _ := d.keys()
	n, err := claimScript.Run(ctx, d.rdb, []string{status, load, d.k("cap")}, id).Int()
	return n == 1, err
}

// Assign chooses with routing on a snapshot, then claims atomically; when
// another instance took the last place first, it chooses again.
func (d *RedisDirectory) Assign(ctx context.Context, req routing.Request) (string, bool, error) {
	for range 5 {
		s, err := d.snapshot(ctx)
		if err != nil {
			return "", false, err
		}
		i := routing.Assign(req, s.agents)
		if i < 0 {
			return "", false, nil
		}
		ok, err := d.claim(ctx, s.agents[i].ID)
		if err != nil || ok {
			return s.agents[i].ID, ok, err
		}
	}
	return "", false, nil
}

func (d *RedisDirectory) Take(ctx context.Context, id string) (bool, error) {
	s, err := d.snapshot(ctx)
	if err != nil || s.sessions[id] == 0 {
		return false, err
	}
	return d.claim(ctx, id)
}

func (d *RedisDirectory) Release(ctx context.Context, id string, now time.Time) error {
	return releaseScript.Run(ctx, d.rdb, []string{d.k("load"), d.k("idle")}, id, ms(now)).Err()
}

func (d *RedisDirectory) Handled(ctx context.Context, dur time.Duration) error {
	_, err := d.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, d.k("handling"), dur.Milliseconds())
		p.LTrim(ctx, d.k("handling"), 0, handlingKept-1)
		return nil
	})
	return err
}

func (d *RedisDirectory) meanHandling(ctx context.Context) time.Duration {
	vals, err := d.rdb.LRange(ctx, d.k("handling"), 0, -1).Result()
	if err != nil {
		return routing.DefaultHandling
	}
	var h routing.Handling
	for i := len(vals) - 1; i >= 0; i-- {
		if n, err := strconv.ParseInt(vals[i], 10, 64); err == nil {
			h.Add(time.Duration(n) * time.Millisecond)
		}
	}
	return h.Mean()
}

func (d *RedisDirectory) Views(ctx context.Context) ([]agentView, error) {
	s, err := d.snapshot(ctx)
	return s.views, err
}

func (d *RedisDirectory) View(ctx context.Context, id string) (agentView, bool) {
	views, err := d.Views(ctx)
	if err != nil {
		return agentView{}, false
	}
	for _, v := range views {
		if v.ID == id {
			return v, true
		}
	}
	return agentView{}, false
}

// Rebuild writes the accounts, and the loads and the queue as the store
// has them (the store is the truth; Redis may have restarted empty).
func (d *RedisDirectory) Rebuild(ctx context.Context, agents []store.Agent, open []store.Conversation) error {
	for _, a := range agents {
		if err := d.Upsert(ctx, a); err != nil {
			return err
		}
	}
	loads := map[string]any{}
	for _, a := range agents {
		loads[a.ID] = 0
	}
	queued := map[string]bool{}
	for _, c := range open {
		switch c.State {
		case store.Assigned:
			if n, ok := loads[c.AgentID].(int); ok {
				loads[c.AgentID] = n + 1
			}
		case store.Queued:
			queued[c.ID] = true
			if err := d.Enqueue(ctx, queueEntry(c)); err != nil {
				return err
			}
		}
	}
	if len(loads) > 0 {
		if err := d.rdb.HSet(ctx, d.k("load"), loads).Err(); err != nil {
			return err
		}
	}
	entries, err := d.entries(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !queued[e.ConversationID] {
			if err := d.Dequeue(ctx, e.ConversationID); err != nil {
				return err
			}
		}
	}
	return nil
}
