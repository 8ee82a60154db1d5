-- Forks carry the uploads and artifacts of messages 1..N (issue 15, after issue 17).
--
-- An upload keeps its id in a fork, so the fork's messages and artifacts name it as the
-- origin's did: an attachment is identified within its session, (session_id, id).
-- A fork's blob is a row of its own (its quota counts it) whose bytes stay where they
-- were stored: `stored_in` names the session whose chunks (or object key) hold them
-- (NULL: this session's own). Blobs and chunks are never deleted, so the bytes outlive
-- every blob row that points at them.
ALTER TABLE attachments DROP CONSTRAINT attachments_pkey;
ALTER TABLE attachments ADD PRIMARY KEY (session_id, id);

ALTER TABLE attachment_blobs ADD COLUMN stored_in text REFERENCES sessions (id)
    CHECK (stored_in IS DISTINCT FROM session_id);

-- An artifact version is tied, like a note or file version, to the session's
-- last_message_id as the statement that wrote it read it (the writer holds the session
-- row FOR SHARE, so the tie is exact), and keeps its data's encoded size: the state
-- after message N is, per artifact of messages 1..N, its latest version with
-- at_message_id <= N. Versions written before this migration are NULL in both: such a
-- version counts as written at its artifact's message (the earliest it could have been).
ALTER TABLE artifact_versions
    ADD COLUMN at_message_id bigint CHECK (at_message_id >= 0),
    ADD COLUMN size integer CHECK (size >= 0);
