-- Session templates: blueprints a session is created from (name, description, default
-- mode and privacy, metadata, seed notes and files, an opening system message). A template
-- belongs to a person or to a space (exactly one); its slug is unique per owner whatever
-- its case. Every edit is a new version (append-only, like configuration revisions); the
-- template names its current one, which must exist when the transaction commits. Nothing
-- is deleted: archiving sets archived_at. A session records the template version it was
-- created from.
CREATE TABLE templates (
    id              text PRIMARY KEY CHECK (id ~ '^tpl_[A-Za-z0-9_-]{21}$'),
    owner_user_id   text REFERENCES users (id),
    owner_space_id  text REFERENCES workspaces (id),
    slug            text NOT NULL CHECK (slug ~ '^[A-Za-z0-9][A-Za-z0-9_-]{2,47}$'),
    is_public       boolean NOT NULL DEFAULT false,
    current_version integer NOT NULL DEFAULT 1 CHECK (current_version >= 1),
    created_by      text NOT NULL REFERENCES users (id),
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((owner_user_id IS NULL) <> (owner_space_id IS NULL))
);
CREATE UNIQUE INDEX templates_user_slug_key ON templates (owner_user_id, lower(slug))
    WHERE owner_user_id IS NOT NULL;
CREATE UNIQUE INDEX templates_space_slug_key ON templates (owner_space_id, lower(slug))
    WHERE owner_space_id IS NOT NULL;
CREATE INDEX templates_user_idx ON templates (owner_user_id, created_at DESC, id DESC)
    WHERE owner_user_id IS NOT NULL;
CREATE INDEX templates_space_idx ON templates (owner_space_id, created_at DESC, id DESC)
    WHERE owner_space_id IS NOT NULL;
CREATE INDEX templates_public_idx ON templates (created_at DESC, id DESC)
    WHERE is_public AND archived_at IS NULL;

CREATE TABLE template_versions (
    template_id     text NOT NULL REFERENCES templates (id),
    version         integer NOT NULL CHECK (version >= 1),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    mode            text CHECK (mode IN ('async', 'realtime')),
    is_private      boolean,
    is_public       boolean NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    notes           jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(notes) = 'array'),
    files           jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(files) = 'array'),
    opening_message text CHECK (length(opening_message) BETWEEN 1 AND 64000),
    author_id       text NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);
CREATE TRIGGER template_versions_append_only BEFORE UPDATE OR DELETE
    ON template_versions FOR EACH ROW EXECUTE FUNCTION activity_is_append_only();

ALTER TABLE templates ADD CONSTRAINT templates_current_version_fkey
    FOREIGN KEY (id, current_version) REFERENCES template_versions (template_id, version)
    DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE sessions
    ADD COLUMN template_id      text,
    ADD COLUMN template_version integer,
    ADD CONSTRAINT sessions_template_fkey FOREIGN KEY (template_id, template_version)
        REFERENCES template_versions (template_id, version),
    ADD CHECK ((template_id IS NULL) = (template_version IS NULL));
