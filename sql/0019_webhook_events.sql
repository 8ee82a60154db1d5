-- The webhook outbox of a session's changes other than messages (notes, files, status,
-- deletion, ratings), and the delivery log's kind of attempt.
--
-- A change writes its row in its own transaction (`hub.store.changes.outbox`), and only
-- while some endpoint (enabled or not, not deleted) has a filter that takes its type:
-- with no endpoint, nothing is written. Ids are gap-free per session and allocated in
-- commit order: the id comes from the session's head row, updated (and so locked until
-- commit) by the change, so "everything after id N" is exact, as for messages. A stream
-- (endpoint, session) keeps `after_event_id` beside `after_message_id`.
CREATE TABLE webhook_event_heads (
    session_id    text PRIMARY KEY REFERENCES sessions (id),
    last_event_id bigint NOT NULL CHECK (last_event_id >= 1),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_events (
    session_id  text NOT NULL REFERENCES sessions (id),
    id          bigint NOT NULL CHECK (id >= 1),
    event_type  text NOT NULL CHECK (length(event_type) <= 64),
    payload     text NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, id)
);
CREATE INDEX webhook_events_time_idx ON webhook_events (occurred_at);

ALTER TABLE webhook_streams
    ADD COLUMN after_event_id bigint NOT NULL DEFAULT 0 CHECK (after_event_id >= 0);

-- An attempt is an event's (the worker's), a test event's (no session) or a manual
-- redelivery's.
ALTER TABLE webhook_attempts
    ADD COLUMN kind text NOT NULL DEFAULT 'event' CHECK (kind IN ('event', 'test', 'redelivery')),
    ALTER COLUMN session_id DROP NOT NULL;
CREATE INDEX webhook_attempts_time_idx ON webhook_attempts (created_at);
CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (endpoint_id, webhook_id);
