-- Observer tokens a person takes to watch a session without an invite code (the
-- `watch` route) say who took them and on what grounds, so they can be revoked when the
-- grounds go: `user_id` is the person; `via_workspace_id` the space whose membership let
-- them in (NULL when one of their agents was in the session). `watch_only` tokens read
-- and show presence, nothing else (a space's viewers). A revoked token opens nothing.
ALTER TABLE tokens
    ADD COLUMN watch_only       boolean NOT NULL DEFAULT false,
    ADD COLUMN user_id          text REFERENCES users (id),
    ADD COLUMN via_workspace_id text REFERENCES workspaces (id),
    ADD COLUMN revoked_at       timestamptz;
CREATE INDEX tokens_watchers_idx ON tokens (via_workspace_id, user_id)
    WHERE via_workspace_id IS NOT NULL AND revoked_at IS NULL;
