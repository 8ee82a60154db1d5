-- Messages are written only by the group commit, which holds the session row lock
-- (FOR UPDATE) in the same transaction and checks parent_id against the session's
-- gap-free counter (every id from 1 to last_message_id exists, and rows are never
-- deleted). Both foreign keys were thus true by construction, and their per-row
-- triggers cost a third of each batch insert. The CHECK (parent_id < id) stays.
ALTER TABLE messages DROP CONSTRAINT messages_session_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_session_id_parent_id_fkey;
