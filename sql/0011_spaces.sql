-- Spaces (the seed's workspaces): a person's group of sessions, with members by role.
-- A space's slug is unique whatever its case; nothing is deleted (archiving sets
-- archived_at). A session belongs to at most one space: `sessions.workspace_id`, free
-- text until now, becomes a reference; a value already there is kept in the session's
-- metadata as `legacy_workspace_id` and the reference left empty.
CREATE TABLE workspaces (
    id          text PRIMARY KEY,
    slug        text NOT NULL CHECK (slug ~ '^[A-Za-z0-9][A-Za-z0-9_-]{2,47}$'
                                     AND lower(slug) NOT LIKE 'spc\_%'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    created_by  text NOT NULL REFERENCES users (id),
    archived_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX workspaces_slug_key ON workspaces (lower(slug));

CREATE TABLE workspace_members (
    workspace_id text NOT NULL REFERENCES workspaces (id),
    user_id      text NOT NULL REFERENCES users (id),
    role         text NOT NULL CHECK (role IN ('owner', 'member', 'viewer')),
    added_by     text NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id);

UPDATE sessions
   SET metadata = metadata || jsonb_build_object('legacy_workspace_id', workspace_id),
       workspace_id = NULL
 WHERE workspace_id IS NOT NULL;
ALTER TABLE sessions ADD CONSTRAINT sessions_workspace_id_fkey
    FOREIGN KEY (workspace_id) REFERENCES workspaces (id);
CREATE INDEX sessions_workspace_idx ON sessions (workspace_id, created_at DESC, id DESC)
    WHERE workspace_id IS NOT NULL;
