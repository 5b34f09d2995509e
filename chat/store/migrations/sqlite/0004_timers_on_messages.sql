-- A message that changes nothing of its conversation but the last seq and
-- the timers is stored without rewriting the conversation's row: it carries
-- the conversation's timers as of itself (sqlite_writer.go), and a read
-- takes the seq and the timers of the newest message when it is newer than
-- the row. The row was one of the two pages every stored message changed at
-- random (docs/benchmarks.md). NULL: the row was saved with the message.
ALTER TABLE messages ADD COLUMN conv_timers TEXT;
