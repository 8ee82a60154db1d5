-- A client_msg_id names a retry of one author's message: two participants who happen to
-- pick the same id each get their own message.
DROP INDEX messages_client_msg_id;
CREATE UNIQUE INDEX messages_client_msg_id ON messages (session_id, author_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
