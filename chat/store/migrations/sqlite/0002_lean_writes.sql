-- Fewer b-tree writes per new conversation and per rule event (measured in
-- docs/benchmarks.md): no query reads conversations by state alone (open
-- ones are found through the partial indexes), and event ids need not come
-- from sqlite_sequence (an INTEGER PRIMARY KEY still rises: nothing deletes
-- the newest event).
DROP INDEX conversations_state;

CREATE TABLE events_new (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id),
    agent_id        TEXT    NOT NULL,
    rule            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    elapsed_ms      INTEGER NOT NULL,
    at              INTEGER NOT NULL
) STRICT;
INSERT INTO events_new (id, conversation_id, agent_id, rule, kind, action, elapsed_ms, at)
    SELECT id, conversation_id, agent_id, rule, kind, action, elapsed_ms, at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_at ON events (at);
