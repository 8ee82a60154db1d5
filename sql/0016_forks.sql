-- Forks: a session made from another at one of its messages. The fork records its origin
-- (the session and the message it was forked at); both or neither. A fork's history is
-- the origin's messages 1..forked_at_message_id, so that id is within the fork's own
-- log. The origin lists its forks newest first (the partial index).
ALTER TABLE sessions
    ADD COLUMN forked_from_id       text REFERENCES sessions (id),
    ADD COLUMN forked_at_message_id bigint CHECK (forked_at_message_id >= 0),
    ADD CONSTRAINT sessions_fork_origin_check
        CHECK ((forked_from_id IS NULL) = (forked_at_message_id IS NULL)
               AND forked_from_id IS DISTINCT FROM id
               AND (forked_at_message_id IS NULL OR forked_at_message_id <= last_message_id));
CREATE INDEX sessions_forks_idx ON sessions (forked_from_id, created_at DESC, id DESC)
    WHERE forked_from_id IS NOT NULL;
