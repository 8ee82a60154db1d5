-- Webhook endpoints and their delivery state.
--
-- An endpoint belongs to a person (`user_id`), optionally scoped to one session or one
-- space, or to one session (no `user_id`: registered by the session's agent A). Its
-- signing secrets are sealed like the vault's (hub.vault: AES-256-GCM, bound to the
-- endpoint and the secret's id); a rotated-away secret keeps signing until `expires_at`.
--
-- The outbox of message events is the messages table itself (gap-free ids per session,
-- allocated in commit order under the session row lock): a stream (endpoint, session)
-- keeps the id up to which everything was delivered, so the send path writes nothing
-- more for webhooks. Workers take streams with FOR UPDATE SKIP LOCKED and hold them by a
-- lease (`leased_by`, `leased_until`); a worker that dies loses its lease, not events.
CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY CHECK (id ~ '^whk_[A-Za-z0-9_-]{16,64}$'),
    user_id         text REFERENCES users (id),
    session_id      text REFERENCES sessions (id),
    space_id        text REFERENCES workspaces (id),
    url             text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types     text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 32),
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text CHECK (length(disabled_reason) <= 500),
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    -- a session's own endpoint is scoped to that session, never to a space
    CHECK (user_id IS NOT NULL OR (session_id IS NOT NULL AND space_id IS NULL)),
    CHECK (session_id IS NULL OR space_id IS NULL),
    CHECK (enabled = (disabled_reason IS NULL))
);
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, created_at)
    WHERE deleted_at IS NULL;
CREATE INDEX webhook_endpoints_session_idx ON webhook_endpoints (session_id, created_at)
    WHERE deleted_at IS NULL;

CREATE TABLE webhook_secrets (
    id          text PRIMARY KEY,
    endpoint_id text NOT NULL REFERENCES webhook_endpoints (id),
    key_id      text NOT NULL,
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX webhook_secrets_endpoint_idx ON webhook_secrets (endpoint_id);
CREATE UNIQUE INDEX webhook_secrets_current_key ON webhook_secrets (endpoint_id)
    WHERE expires_at IS NULL;

CREATE TABLE webhook_streams (
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id),
    session_id       text NOT NULL REFERENCES sessions (id),
    after_message_id bigint NOT NULL CHECK (after_message_id >= 0),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    leased_by        text,
    leased_until     timestamptz,
    PRIMARY KEY (endpoint_id, session_id),
    CHECK ((leased_by IS NULL) = (leased_until IS NULL))
);
CREATE INDEX webhook_streams_due_idx ON webhook_streams (next_attempt_at);

CREATE TABLE webhook_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id),
    webhook_id       text NOT NULL,
    session_id       text NOT NULL,
    event_type       text NOT NULL,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    status           integer,
    error            text CHECK (length(error) <= 500),
    latency_ms       integer NOT NULL CHECK (latency_ms >= 0),
    response_excerpt text NOT NULL DEFAULT '' CHECK (length(response_excerpt) <= 1024),
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, id DESC);
