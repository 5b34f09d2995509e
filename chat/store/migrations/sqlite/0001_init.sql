-- Daogou schema for SQLite. Times are INTEGER unix milliseconds (UTC);
-- JSON is TEXT. Tables are STRICT so a wrong type fails loudly.

CREATE TABLE agents (
    id            TEXT    PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    skills        TEXT    NOT NULL DEFAULT '[]',
    capacity      INTEGER NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
    hash       TEXT    PRIMARY KEY,
    agent_id   TEXT    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX tokens_agent ON tokens (agent_id);

CREATE TABLE visitors (
    id         TEXT    PRIMARY KEY,
    token_hash TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE conversations (
    id           TEXT    PRIMARY KEY,
    visitor_id   TEXT    NOT NULL REFERENCES visitors (id),
    visitor_name TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    agent_id     TEXT    NOT NULL,
    locale       TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    context      TEXT,
    opened_at    INTEGER NOT NULL,
    closed_at    INTEGER,
    outcome      TEXT    NOT NULL,
    last_seq     INTEGER NOT NULL DEFAULT 0,
    assigned_at  INTEGER,
    timers       TEXT    NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX conversations_visitor ON conversations (visitor_id, opened_at);
CREATE INDEX conversations_state ON conversations (state);
-- A visitor has at most one conversation that is not closed.
CREATE UNIQUE INDEX conversations_visitor_open ON conversations (visitor_id) WHERE state <> 'closed';
CREATE INDEX conversations_open ON conversations (opened_at) WHERE state <> 'closed';

CREATE TABLE messages (
    id              TEXT    PRIMARY KEY,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    author_kind     TEXT    NOT NULL,
    author_id       TEXT    NOT NULL,
    author_name     TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    auto            INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    client_msg_id   TEXT,
    script_id       TEXT    NOT NULL,
    UNIQUE (conversation_id, seq)
) STRICT;

CREATE UNIQUE INDEX messages_client ON messages (conversation_id, author_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id),
    agent_id        TEXT    NOT NULL,
    rule            TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    elapsed_ms      INTEGER NOT NULL,
    at              INTEGER NOT NULL
) STRICT;

CREATE INDEX events_at ON events (at);
