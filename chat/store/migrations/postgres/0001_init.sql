-- Daogou schema for PostgreSQL. Times are timestamptz (kept to the
-- millisecond by the store); JSON is jsonb. The ord columns keep insertion
-- order for lists whose times tie.

CREATE TABLE agents (
    id            text        PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    name          text        NOT NULL,
    role          text        NOT NULL,
    skills        text[]      NOT NULL DEFAULT '{}',
    capacity      integer     NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    ord           bigint      GENERATED ALWAYS AS IDENTITY
);

CREATE TABLE tokens (
    hash       text        PRIMARY KEY,
    agent_id   text        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);

CREATE INDEX tokens_agent ON tokens (agent_id);

CREATE TABLE visitors (
    id         text        PRIMARY KEY,
    token_hash text        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE conversations (
    id           text        PRIMARY KEY,
    visitor_id   text        NOT NULL REFERENCES visitors (id),
    visitor_name text        NOT NULL,
    state        text        NOT NULL,
    agent_id     text        NOT NULL,
    locale       text        NOT NULL,
    topic        text        NOT NULL,
    context      jsonb,
    opened_at    timestamptz NOT NULL,
    closed_at    timestamptz,
    outcome      text        NOT NULL,
    last_seq     bigint      NOT NULL DEFAULT 0,
    assigned_at  timestamptz,
    timers       jsonb       NOT NULL DEFAULT '{}',
    ord          bigint      GENERATED ALWAYS AS IDENTITY
);

CREATE INDEX conversations_visitor ON conversations (visitor_id, opened_at);
CREATE INDEX conversations_state ON conversations (state);
-- A visitor has at most one conversation that is not closed.
CREATE UNIQUE INDEX conversations_visitor_open ON conversations (visitor_id) WHERE state <> 'closed';
CREATE INDEX conversations_open ON conversations (opened_at) WHERE state <> 'closed';

CREATE TABLE messages (
    id              text        PRIMARY KEY,
    conversation_id text        NOT NULL REFERENCES conversations (id),
    seq             bigint      NOT NULL,
    author_kind     text        NOT NULL,
    author_id       text        NOT NULL,
    author_name     text        NOT NULL,
    kind            text        NOT NULL,
    text            text        NOT NULL,
    auto            boolean     NOT NULL,
    created_at      timestamptz NOT NULL,
    client_msg_id   text,
    script_id       text        NOT NULL,
    UNIQUE (conversation_id, seq)
);

CREATE UNIQUE INDEX messages_client ON messages (conversation_id, author_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

CREATE TABLE events (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id text        NOT NULL REFERENCES conversations (id),
    agent_id        text        NOT NULL,
    rule            text        NOT NULL,
    kind            text        NOT NULL,
    action          text        NOT NULL,
    elapsed_ms      bigint      NOT NULL,
    at              timestamptz NOT NULL
);

CREATE INDEX events_at ON events (at);
