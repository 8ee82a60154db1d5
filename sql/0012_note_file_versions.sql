-- Every note version and file version, kept: a row per accepted note create or edit and
-- per file write, inserted by the change's own statement. `at_message_id` is the
-- session's `last_message_id` as that statement read it: a version written while message
-- m was the session's last message belongs to the state after message m, so the state
-- after message N is, per note and per file, its latest version with at_message_id <= N.
-- A note version keeps its content's length in characters (`size`), so listings need not
-- read the content. Append-only, like the activity log.

ALTER TABLE files ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);

CREATE TABLE note_versions (
    session_id    text NOT NULL,
    note_id       bigint NOT NULL,
    version       integer NOT NULL CHECK (version >= 1),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    content       text NOT NULL,
    size          integer NOT NULL CHECK (size = char_length(content)),
    editor        text NOT NULL,
    at_message_id bigint NOT NULL CHECK (at_message_id >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (note_id, version),
    FOREIGN KEY (session_id, note_id) REFERENCES notes (session_id, id)
);
CREATE INDEX note_versions_by_session ON note_versions (session_id, note_id, version);
CREATE TRIGGER note_versions_append_only BEFORE UPDATE OR DELETE
    ON note_versions FOR EACH ROW EXECUTE FUNCTION activity_is_append_only();

CREATE TABLE file_versions (
    session_id    text NOT NULL,
    path          text NOT NULL,
    version       integer NOT NULL CHECK (version >= 1),
    content       text NOT NULL,
    content_hash  text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    size          integer NOT NULL CHECK (size >= 0),
    editor        text NOT NULL,
    at_message_id bigint NOT NULL CHECK (at_message_id >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, path, version),
    FOREIGN KEY (session_id, path) REFERENCES files (session_id, path)
);
CREATE TRIGGER file_versions_append_only BEFORE UPDATE OR DELETE
    ON file_versions FOR EACH ROW EXECUTE FUNCTION activity_is_append_only();

-- What was there before this migration: its current state, as one version each.
INSERT INTO note_versions
    (session_id, note_id, version, title, content, size, editor, at_message_id, created_at)
SELECT n.session_id, n.id, n.version, n.title, n.content, char_length(n.content),
       n.last_editor, s.last_message_id, n.updated_at
  FROM notes n JOIN sessions s ON s.id = n.session_id;

INSERT INTO file_versions
    (session_id, path, version, content, content_hash, size, editor, at_message_id, created_at)
SELECT f.session_id, f.path, f.version, f.content, f.content_hash, f.size, f.last_editor,
       s.last_message_id, f.updated_at
  FROM files f JOIN sessions s ON s.id = f.session_id;
