-- The approval requests still undecided, each with the time it expires: what the
-- expiry sweeper reads. Before, it read every approval request ever made (the partial
-- index of 0020 holds decided ones too) and looked each one's decision up; now a
-- decided request costs it nothing. The schema keeps the table exact, like an index:
-- a request gets its row in the transaction that inserts it (any way a message is
-- inserted, forks' copies too), and loses it in the one that records its decision.

CREATE TABLE approval_deadlines (
    session_id text NOT NULL,
    message_id bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, message_id),
    FOREIGN KEY (session_id, message_id) REFERENCES messages (session_id, id)
);

CREATE INDEX approval_deadlines_due ON approval_deadlines (expires_at);

-- A request's expiry as the domain computes it (`expires_in` seconds after it was
-- written; 3600 when the request names none, the domain's default).
CREATE FUNCTION approval_request_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO approval_deadlines (session_id, message_id, expires_at)
    VALUES (NEW.session_id, NEW.id, NEW.created_at + make_interval(
        secs => COALESCE((NEW.metadata->'approval'->>'expires_in')::float8, 3600)));
    RETURN NULL;
END $$;
CREATE TRIGGER approval_requests_have_deadlines AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.msg_type = 'action' AND NEW.metadata ? 'approval')
    EXECUTE FUNCTION approval_request_deadline();

CREATE FUNCTION approval_decided() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM approval_deadlines
     WHERE session_id = NEW.session_id AND message_id = NEW.message_id;
    RETURN NULL;
END $$;
CREATE TRIGGER decided_approvals_have_no_deadline AFTER INSERT ON approval_decisions
    FOR EACH ROW EXECUTE FUNCTION approval_decided();

INSERT INTO approval_deadlines (session_id, message_id, expires_at)
SELECT m.session_id, m.id, m.created_at + make_interval(
           secs => COALESCE((m.metadata->'approval'->>'expires_in')::float8, 3600))
  FROM messages m
 WHERE m.msg_type = 'action' AND m.metadata ? 'approval'
   AND NOT EXISTS (SELECT 1 FROM approval_decisions d
                    WHERE d.session_id = m.session_id AND d.message_id = m.id);
