package chat

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/daogou/daogou/routing"
)

// The cluster's one queue: a sorted set of waiting conversations (score:
// when they started waiting), their requests in a hash, the places last told
// in another, and qdirty, the first place that may have moved since.

var (
	// claimQueuedScript takes a waiting conversation off the queue and
	// counts it on an agent, both or neither. KEYS: status, load, cap,
	// queue, qreq, told, qdirty. ARGV: agent id, conversation id. -1: the
	// conversation is no longer waiting; 0: the agent cannot take it.
	claimQueuedScript = redis.NewScript(`
local rank = redis.call('ZRANK', KEYS[4], ARGV[2])
if not rank then return -1 end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'online' then return 0 end
local cap = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local load = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if load >= cap then return 0 end
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[2])
redis.call('HDEL', KEYS[6], ARGV[2])
if rank < tonumber(redis.call('GET', KEYS[7]) or '0') then redis.call('SET', KEYS[7], rank) end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1`)

	// enqueueScript puts a conversation in the queue (once) and lowers the
	// first place that may have moved to its rank. KEYS: queue, qreq,
	// qdirty. ARGV: since (ms), conversation id, request, "back" to join
	// the back whatever since says.
	enqueueScript = redis.NewScript(`
local score = tonumber(ARGV[1])
if ARGV[4] == 'back' then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 0.001 end
end
if redis.call('ZADD', KEYS[1], 'NX', string.format('%.3f', score), ARGV[2]) == 1 then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
  if rank < tonumber(redis.call('GET', KEYS[3]) or '0') then redis.call('SET', KEYS[3], rank) end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`)

	// dequeueScript takes a conversation out of the queue; the places
	// behind it moved. KEYS: queue, qreq, told, qdirty. ARGV: conversation.
	dequeueScript = redis.NewScript(`
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if rank then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if rank < tonumber(redis.call('GET', KEYS[4]) or '0') then redis.call('SET', KEYS[4], rank) end
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1`)
)

func (d *RedisDirectory) Enqueue(ctx context.Context, e routing.Entry) error {
	req, err := json.Marshal(waiting{Req: e.Req, VisitorID: e.VisitorID})
	if err != nil {
		return err
	}
	back := ""
	if e.Back {
		back = "back"
	}
	return enqueueScript.Run(ctx, d.rdb, []string{d.k("queue"), d.k("qreq"), d.k("qdirty")}, ms(e.Since), e.ConversationID, req, back).Err()
}

func (d *RedisDirectory) Dequeue(ctx context.Context, convID string) error {
	return dequeueScript.Run(ctx, d.rdb, []string{d.k("queue"), d.k("qreq"), d.k("told"), d.k("qdirty")}, convID).Err()
}

// waiting is what the queue keeps of an entry besides its time.
type waiting struct {
	Req       routing.Request `json:"req"`
	VisitorID string          `json:"visitor_id"`
}

// entries reads the whole queue, oldest first.
func (d *RedisDirectory) entries(ctx context.Context) ([]routing.Entry, error) {
	pipe := d.rdb.Pipeline()
	zc := pipe.ZRangeWithScores(ctx, d.k("queue"), 0, -1)
	rc := pipe.HGetAll(ctx, d.k("qreq"))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]routing.Entry, 0, len(zc.Val()))
	for _, z := range zc.Val() {
		id := z.Member.(string)
		e := routing.Entry{ConversationID: id, Since: time.UnixMilli(int64(z.Score)).UTC()}
		var w waiting
		_ = json.Unmarshal([]byte(rc.Val()[id]), &w)
		e.Req, e.VisitorID = w.Req, w.VisitorID
		out = append(out, e)
	}
	return out, nil
}

// queuePage is how many waiting conversations Next reads at a time.
const queuePage = 256

func (d *RedisDirectory) Next(ctx context.Context) (routing.Entry, string, bool, error) {
	_, _, status, load, _, _, _, _ := d.keys()
	// Another instance draining at the same moment makes a claim fail now
	// and then: choose again from a fresh read, many times if need be.
	for range 64 {
		s, err := d.snapshot(ctx)
		if err != nil {
			return routing.Entry{}, "", false, err
		}
		if !anyFree(s.agents) {
			return routing.Entry{}, "", false, nil // nobody could take even the first
		}
		e, i, ok, err := d.oldestTakeable(ctx, s.agents)
		if err != nil || !ok {
			return routing.Entry{}, "", false, err
		}
		n, err := claimQueuedScript.Run(ctx, d.rdb, []string{status, load, d.k("cap"), d.k("queue"), d.k("qreq"), d.k("told"), d.k("qdirty")}, s.agents[i].ID, e.ConversationID).Int()
		if err != nil {
			return routing.Entry{}, "", false, err
		}
		if n == 1 {
			return e, s.agents[i].ID, true, nil
		}
	}
	return routing.Entry{}, "", false, nil
}

// oldestTakeable reads the queue a page at a time, oldest first, and stops
// at the first entry one of agents can take: a long queue is not read
// whole for each drain.
func (d *RedisDirectory) oldestTakeable(ctx context.Context, agents []routing.Agent) (routing.Entry, int, bool, error) {
	for from := int64(0); ; from += queuePage {
		zs, err := d.rdb.ZRangeWithScores(ctx, d.k("queue"), from, from+queuePage-1).Result()
		if err != nil || len(zs) == 0 {
			return routing.Entry{}, -1, false, err
		}
		ids := make([]string, len(zs))
		for k, z := range zs {
			ids[k], _ = z.Member.(string)
		}
		reqs, err := d.rdb.HMGet(ctx, d.k("qreq"), ids...).Result()
		if err != nil {
			return routing.Entry{}, -1, false, err
		}
		var q routing.Queue
		for k, z := range zs {
			e := routing.Entry{ConversationID: ids[k], Since: time.UnixMilli(int64(z.Score)).UTC()}
			var w waiting
			if raw, ok := reqs[k].(string); ok {
				_ = json.Unmarshal([]byte(raw), &w)
			}
			e.Req, e.VisitorID = w.Req, w.VisitorID
			q.Push(e)
		}
		if e, i, ok := q.Next(agents); ok {
			return e, i, true, nil
		}
		if len(zs) < queuePage {
			return routing.Entry{}, -1, false, nil
		}
	}
}

// anyFree reports whether some agent could take one more conversation.
func anyFree(agents []routing.Agent) bool {
	for _, a := range agents {
		if a.Status == routing.Online && a.Load < a.Capacity {
			return true
		}
	}
	return false
}

func (d *RedisDirectory) Place(ctx context.Context, convID string) (queuePlace, error) {
	rank, err := d.rdb.ZRank(ctx, d.k("queue"), convID).Result()
	if errors.Is(err, redis.Nil) {
		return queuePlace{ConversationID: convID}, nil
	}
	if err != nil {
		return queuePlace{ConversationID: convID}, err
	}
	return d.placeAt(ctx, convID, int(rank)+1)
}

func (d *RedisDirectory) Back(ctx context.Context) (queuePlace, error) {
	n, err := d.rdb.ZCard(ctx, d.k("queue")).Result()
	if err != nil {
		return queuePlace{}, err
	}
	return d.placeAt(ctx, "", int(n)+1)
}

// placeAt is position pos in the queue with its estimated wait.
func (d *RedisDirectory) placeAt(ctx context.Context, convID string, pos int) (queuePlace, error) {
	s, err := d.snapshot(ctx)
	if err != nil {
		return queuePlace{ConversationID: convID}, err
	}
	return queuePlace{ConversationID: convID, Position: pos, Wait: waitFor(pos, d.meanHandling(ctx), s.agents)}, nil
}

// movedScript finds, in one atomic step, the waiting conversations whose
// place differs from the one last told, records the new places, and stamps
// them with a version: of two answers racing to a shopper, the higher
// version is the newer truth. Only places from the first one that may have
// moved (qdirty, lowered by every enqueue and removal) are looked at, so a
// shopper joining the back of a long queue costs one place, not the queue.
// KEYS: queue, told, version, qdirty, qreq. Returns the version, then
// conversation, position and request triples.
var movedScript = redis.NewScript(`
local from = tonumber(redis.call('GET', KEYS[4]) or '0')
local ids = redis.call('ZRANGE', KEYS[1], from, -1)
redis.call('SET', KEYS[4], from + #ids)
local out = {}
for i, id in ipairs(ids) do
  local pos = from + i
  if redis.call('HGET', KEYS[2], id) ~= tostring(pos) then
    redis.call('HSET', KEYS[2], id, pos)
    table.insert(out, id)
    table.insert(out, pos)
    table.insert(out, redis.call('HGET', KEYS[5], id) or '')
  end
end
if #out == 0 then return {0} end
table.insert(out, 1, redis.call('INCR', KEYS[3]))
return out`)

func (d *RedisDirectory) Moved(ctx context.Context) ([]queuePlace, error) {
	res, err := movedScript.Run(ctx, d.rdb, []string{d.k("queue"), d.k("told"), d.k("queuever"), d.k("qdirty"), d.k("qreq")}).Slice()
	if err != nil || len(res) < 4 {
		return nil, err
	}
	version, _ := res[0].(int64)
	s, err := d.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	mean := d.meanHandling(ctx)
	out := make([]queuePlace, 0, (len(res)-1)/3)
	for i := 1; i+2 < len(res); i += 3 {
		id, _ := res[i].(string)
		pos, _ := res[i+1].(int64)
		raw, _ := res[i+2].(string)
		var w waiting
		_ = json.Unmarshal([]byte(raw), &w)
		out = append(out, queuePlace{ConversationID: id, VisitorID: w.VisitorID, Position: int(pos), Wait: waitFor(int(pos), mean, s.agents), Version: version})
	}
	return out, nil
}

func (d *RedisDirectory) QueueInfo(ctx context.Context) (int, time.Time, error) {
	pipe := d.rdb.Pipeline()
	nc := pipe.ZCard(ctx, d.k("queue"))
	oc := pipe.ZRangeWithScores(ctx, d.k("queue"), 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, time.Time{}, err
	}
	if len(oc.Val()) == 0 {
		return 0, time.Time{}, nil
	}
	return int(nc.Val()), time.UnixMilli(int64(oc.Val()[0].Score)).UTC(), nil
}
