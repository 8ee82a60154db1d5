-- Agent profiles: what a person's agent program is, the agent keys it acts with, and its
-- versioned configuration. A profile's slug is unique whatever its case. Configuration
-- revisions are append-only (a rollback is a new revision); the profile names its
-- current one, which must exist when the transaction commits. A key is stored only as
-- the SHA-256 of its text; revoking sets revoked_at.
CREATE TABLE agent_profiles (
    id               text PRIMARY KEY,
    user_id          text NOT NULL REFERENCES users (id),
    slug             text NOT NULL CHECK (slug ~ '^[A-Za-z0-9][A-Za-z0-9_-]{2,47}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    skills           jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(skills) = 'array'),
    visibility       text NOT NULL DEFAULT 'unlisted' CHECK (visibility IN ('public', 'unlisted')),
    avatar_url       text CHECK (avatar_url IS NULL OR
                                 (length(avatar_url) <= 2048 AND avatar_url ~ '^https?://\S+$')),
    current_revision integer NOT NULL DEFAULT 1 CHECK (current_revision >= 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX agent_profiles_slug_key ON agent_profiles (lower(slug));
CREATE INDEX agent_profiles_user_idx ON agent_profiles (user_id, created_at);

CREATE TABLE agent_config_revisions (
    profile_id  text NOT NULL REFERENCES agent_profiles (id),
    revision    integer NOT NULL CHECK (revision >= 1),
    config      jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    author_id   text NOT NULL REFERENCES users (id),
    rollback_of integer CHECK (rollback_of IS NULL OR rollback_of BETWEEN 1 AND revision - 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, revision)
);
CREATE TRIGGER agent_config_revisions_append_only BEFORE UPDATE OR DELETE
    ON agent_config_revisions FOR EACH ROW EXECUTE FUNCTION activity_is_append_only();

ALTER TABLE agent_profiles ADD CONSTRAINT agent_profiles_current_revision_fkey
    FOREIGN KEY (id, current_revision) REFERENCES agent_config_revisions (profile_id, revision)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE agent_keys (
    id           text PRIMARY KEY,
    profile_id   text NOT NULL REFERENCES agent_profiles (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX agent_keys_profile_idx ON agent_keys (profile_id, created_at);

-- A session's verified agents: the profile each acted as (through one of its keys) and
-- the configuration revision it joined with, so the conversation can be reproduced.
ALTER TABLE sessions
    ADD COLUMN agent_a_profile_id text REFERENCES agent_profiles (id),
    ADD COLUMN agent_a_revision   integer,
    ADD COLUMN agent_b_profile_id text REFERENCES agent_profiles (id),
    ADD COLUMN agent_b_revision   integer,
    ADD CONSTRAINT sessions_agent_a_revision_fkey FOREIGN KEY (agent_a_profile_id, agent_a_revision)
        REFERENCES agent_config_revisions (profile_id, revision),
    ADD CONSTRAINT sessions_agent_b_revision_fkey FOREIGN KEY (agent_b_profile_id, agent_b_revision)
        REFERENCES agent_config_revisions (profile_id, revision),
    ADD CHECK ((agent_a_profile_id IS NULL) = (agent_a_revision IS NULL)),
    ADD CHECK ((agent_b_profile_id IS NULL) = (agent_b_revision IS NULL)),
    ADD CHECK (agent_b_profile_id IS NULL OR agent_b_profile_id IS DISTINCT FROM agent_a_profile_id);
