-- Approvals: an approval request is an `action` message whose metadata carries
-- `approval`; its decision (approved, rejected, or expired) is recorded here once, in
-- the transaction that writes the system message replying to the request. The primary
-- key makes "the first decision wins" hold across every hub process.

CREATE TABLE approval_decisions (
    session_id          text NOT NULL REFERENCES sessions (id),
    message_id          bigint NOT NULL CHECK (message_id > 0),
    decision            text NOT NULL CHECK (decision IN ('approved', 'rejected', 'expired')),
    decided_by          text,
    decided_role        text CHECK (decided_role IN ('agent_a', 'agent_b', 'observer')),
    comment             text CHECK (length(comment) <= 2000),
    decided_at          timestamptz NOT NULL DEFAULT now(),
    decision_message_id bigint NOT NULL CHECK (decision_message_id > message_id),
    PRIMARY KEY (session_id, message_id),
    FOREIGN KEY (session_id, message_id) REFERENCES messages (session_id, id),
    FOREIGN KEY (session_id, decision_message_id) REFERENCES messages (session_id, id),
    CHECK ((decision = 'expired') = (decided_by IS NULL)),
    CHECK ((decided_by IS NULL) = (decided_role IS NULL))
);

-- The requests themselves, found without reading the rest of the log (listing a
-- session's approvals; the expiry sweeper). Only `action` messages asking for approval
-- enter it: other messages pay nothing but evaluating the predicate.
CREATE INDEX messages_approval_requests ON messages (session_id, id)
    WHERE msg_type = 'action' AND metadata ? 'approval';
