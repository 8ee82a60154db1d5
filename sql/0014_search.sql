-- Finding sessions: the public directory and full-text search.
--
-- `is_private` is the seed's "unlisted" flag: a session that is not private is listed in
-- the public directory, found by anyone's search and watchable by anyone. Nobody agreed
-- to be listed before this migration, so every existing session becomes private, and a
-- new session is private unless its creator says otherwise.
UPDATE sessions SET is_private = true WHERE NOT is_private;
ALTER TABLE sessions ALTER COLUMN is_private SET DEFAULT true;

-- The public directory, newest first (keyset pages on created_at, id).
CREATE INDEX sessions_public_idx ON sessions (created_at DESC, id DESC)
    WHERE NOT is_private AND deleted_at IS NULL;

-- Full-text search (the english configuration) over session names and message content.
-- A message's document is stored beside it (computed once, when it is inserted, as
-- messages are immutable), so ranking reads it instead of parsing the content again.
-- The GIN index keeps `fastupdate` (the default): an insert appends its entries to the
-- index's pending list, merged into the index in bulk by vacuum or when the list passes
-- `gin_pending_list_limit` (here 4 MB, the default, set explicitly), which is what keeps
-- the insert path of tens of thousands of messages a second cheap; a search reads the
-- pending list too, so nothing is missed (BENCHMARKS.md, "search").
ALTER TABLE messages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED;
CREATE INDEX messages_search_idx ON messages USING gin (search)
    WITH (fastupdate = on, gin_pending_list_limit = 4096);
CREATE INDEX sessions_name_search_idx ON sessions USING gin (to_tsvector('english', name));

-- Anyone may watch a public session (a watch-only token, without an invite or a key):
-- such tokens are `via_public`, and revoked when the session becomes private again.
ALTER TABLE tokens ADD COLUMN via_public boolean NOT NULL DEFAULT false;
CREATE INDEX tokens_public_watchers_idx ON tokens (session_id)
    WHERE via_public AND revoked_at IS NULL;
