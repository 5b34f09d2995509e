-- A repeated client_msg_id is found by the writer, which is the only one to
-- add messages: it remembers each cached conversation's client ids, read
-- with the conversation (sqlite_cache.go). The index was one of the three
-- pages every stored message changed at random (measured in
-- docs/benchmarks.md). PostgreSQL, with writers on several instances, keeps
-- its unique index.
DROP INDEX messages_client;
