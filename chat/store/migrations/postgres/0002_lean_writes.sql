-- No query reads conversations by state alone (open ones are found through
-- the partial indexes): one index fewer to write per new conversation and
-- per state change.
DROP INDEX IF EXISTS conversations_state;
