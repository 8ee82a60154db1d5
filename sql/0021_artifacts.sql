-- Artifacts: typed JSON results (a 3D scene, a pipeline, a table, an image, any JSON)
-- attached to a message of their session, edited under optimistic version locking like
-- notes. Each accepted create and update also writes its row in artifact_versions, in the
-- same statement: every version is kept. The message is checked in that statement against
-- the session's gap-free counter (every id up to last_message_id exists and is never
-- deleted), as messages themselves are: no foreign key, and nothing added to a message's
-- own insert. An artifact's kind never changes. `size` is its data's encoded length in
-- bytes (what the gallery's pages are bounded by). An artifact created together with its
-- message keeps that message's client_msg_id: one such artifact per message, so a retry
-- of the create (the same client_msg_id) finds the first one instead of making another.
CREATE TABLE artifacts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id  text NOT NULL REFERENCES sessions (id),
    message_id  bigint NOT NULL CHECK (message_id > 0),
    kind        text NOT NULL CHECK (kind IN ('canvas3d', 'pipeline', 'table', 'image', 'json')),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    data        jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object' AND data->>'kind' = kind),
    size        integer NOT NULL CHECK (size >= 0),
    client_msg_id text,
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    creator     text NOT NULL,
    last_editor text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- the gallery: newest first, all kinds or one
CREATE INDEX artifacts_session_idx ON artifacts (session_id, id);
CREATE INDEX artifacts_session_kind_idx ON artifacts (session_id, kind, id);
CREATE INDEX artifacts_message_idx ON artifacts (session_id, message_id);
CREATE UNIQUE INDEX artifacts_made_with_message ON artifacts (session_id, message_id)
    WHERE client_msg_id IS NOT NULL;

CREATE TABLE artifact_versions (
    artifact_id bigint NOT NULL REFERENCES artifacts (id),
    version     integer NOT NULL CHECK (version >= 1),
    title       text NOT NULL,
    data        jsonb NOT NULL,
    editor      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (artifact_id, version)
);

CREATE FUNCTION artifact_versions_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'artifact versions are never deleted or changed';
END $$;
CREATE TRIGGER artifact_versions_kept BEFORE UPDATE OR DELETE ON artifact_versions
    FOR EACH ROW EXECUTE FUNCTION artifact_versions_are_kept();
