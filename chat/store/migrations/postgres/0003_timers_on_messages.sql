-- A message that changes nothing of its conversation but the last seq and
-- the timers is stored without a new version of the conversation's row: it
-- carries the conversation's timers as of itself (postgres_conv.go), and a
-- read takes the seq and the timers of the newest message when it is newer
-- than the row. NULL: the row was saved with the message.
ALTER TABLE messages ADD COLUMN conv_timers jsonb;
