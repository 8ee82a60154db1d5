-- The core of Hub: sessions, their capability tokens, messages, notes, files,
-- presence and the activity log. Constraints keep bad states unwritable.

CREATE TABLE sessions (
    id                text PRIMARY KEY CHECK (id ~ '^ses_[A-Za-z0-9_-]{8,64}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    name_is_auto      boolean NOT NULL DEFAULT true,
    status            text NOT NULL DEFAULT 'waiting'
                      CHECK (status IN ('waiting', 'active', 'paused', 'completed')),
    mode              text NOT NULL DEFAULT 'async' CHECK (mode IN ('async', 'realtime')),
    is_private        boolean NOT NULL DEFAULT false,
    agent_a_id        text NOT NULL,
    agent_b_id        text,
    invite_code       text NOT NULL UNIQUE CHECK (invite_code = upper(invite_code)),
    invite_expires_at timestamptz NOT NULL,
    workspace_id      text,
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    creator_type      text NOT NULL DEFAULT 'agent' CHECK (creator_type IN ('agent', 'human')),
    creator_name      text,
    last_message_id   bigint NOT NULL DEFAULT 0 CHECK (last_message_id >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    CHECK (agent_b_id IS NULL OR agent_b_id <> agent_a_id)
);

-- Capability tokens, stored only as SHA-256 hashes. One row per issued token.
CREATE TABLE tokens (
    token_hash     bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id     text NOT NULL REFERENCES sessions (id),
    role           text NOT NULL CHECK (role IN ('agent_a', 'agent_b', 'observer')),
    participant_id text NOT NULL,
    display_name   text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tokens_session_idx ON tokens (session_id);
CREATE UNIQUE INDEX tokens_one_agent_per_slot ON tokens (session_id, role)
    WHERE role IN ('agent_a', 'agent_b');

CREATE TABLE messages (
    session_id      text NOT NULL REFERENCES sessions (id),
    id              bigint NOT NULL CHECK (id > 0),
    author_id       text NOT NULL,
    author_role     text NOT NULL CHECK (author_role IN ('agent_a', 'agent_b', 'observer', 'system')),
    content         text NOT NULL,
    msg_type        text NOT NULL DEFAULT 'chat'
                    CHECK (msg_type IN ('chat', 'handoff', 'status', 'action', 'system')),
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    parent_id       bigint,
    client_msg_id   text,
    token_count     integer CHECK (token_count >= 0),
    attachments     text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, id),
    FOREIGN KEY (session_id, parent_id) REFERENCES messages (session_id, id),
    CHECK (parent_id IS NULL OR parent_id < id)
);
CREATE UNIQUE INDEX messages_client_msg_id ON messages (session_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

CREATE TABLE notes (
    session_id  text NOT NULL REFERENCES sessions (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    content     text NOT NULL,
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    last_editor text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id),
    UNIQUE (session_id, id)
);

CREATE TABLE files (
    session_id   text NOT NULL REFERENCES sessions (id),
    path         text NOT NULL CHECK (length(path) BETWEEN 1 AND 512),
    content      text NOT NULL,
    content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    size         integer NOT NULL CHECK (size >= 0),
    last_editor  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, path)
);

-- Last known presence; the live state is kept by the bus with a TTL.
CREATE TABLE presence (
    session_id       text NOT NULL REFERENCES sessions (id),
    participant_id   text NOT NULL,
    role             text NOT NULL CHECK (role IN ('agent_a', 'agent_b', 'observer')),
    status           text NOT NULL CHECK (status IN ('online', 'working', 'idle', 'offline')),
    current_activity text,
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, participant_id)
);

-- Append-only audit log: every mutating operation writes a row in its own transaction.
CREATE TABLE activity (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id text NOT NULL REFERENCES sessions (id),
    actor_id   text NOT NULL,
    actor_role text NOT NULL CHECK (actor_role IN ('agent_a', 'agent_b', 'observer', 'system')),
    action     text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_session_idx ON activity (session_id, id);

CREATE FUNCTION activity_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'activity is append-only';
END $$;
CREATE TRIGGER activity_append_only BEFORE UPDATE OR DELETE ON activity
    FOR EACH ROW EXECUTE FUNCTION activity_is_append_only();

CREATE FUNCTION messages_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'messages are immutable';
END $$;
CREATE TRIGGER messages_immutable BEFORE UPDATE OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_are_immutable();
