-- Attachments: binary content uploaded to a session, kept once per session by its
-- SHA-256 (a blob), named by any number of uploads (an attachment: an id, a file name and
-- the MIME type the uploader declared). The embedded store keeps a blob's bytes here in
-- chunks of at most 256 KiB, written in the transaction that records the blob; another
-- store (S3-compatible) would keep them elsewhere under the same key (session, sha256),
-- leaving attachment_chunks empty. A raster image's thumbnail is made once, when its blob
-- is first stored, and kept beside it (NULL: none could be made).
--
-- What a session stores counts towards its quota once per blob; `attachment_usage` is
-- that sum, moved by a conditional update in the storing transaction, so concurrent
-- uploads cannot overdraw it. Messages name attachments in `attachment_ids` (NULL for a
-- message without any), checked in the statement that inserts the message.
CREATE TABLE attachment_blobs (
    session_id text NOT NULL REFERENCES sessions (id),
    sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       bigint NOT NULL CHECK (size >= 0),
    thumbnail  bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, sha256)
);

CREATE TABLE attachment_chunks (
    session_id text NOT NULL,
    sha256     text NOT NULL,
    seq        integer NOT NULL CHECK (seq >= 0),
    data       bytea NOT NULL CHECK (length(data) BETWEEN 1 AND 262144),
    PRIMARY KEY (session_id, sha256, seq),
    FOREIGN KEY (session_id, sha256) REFERENCES attachment_blobs (session_id, sha256)
);
-- already compressed more often than not: stored out of line without trying again
ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE attachments (
    id            text PRIMARY KEY CHECK (id ~ '^att_[A-Za-z0-9_-]{21}$'),
    session_id    text NOT NULL,
    sha256        text NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    content_type  text NOT NULL CHECK (length(content_type) BETWEEN 3 AND 255),
    size          bigint NOT NULL CHECK (size >= 0),
    uploader      text NOT NULL,
    uploader_role text NOT NULL CHECK (uploader_role IN ('agent_a', 'agent_b')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (session_id, sha256) REFERENCES attachment_blobs (session_id, sha256)
);
CREATE INDEX attachments_session_idx ON attachments (session_id, created_at, id);

CREATE TABLE attachment_usage (
    session_id text PRIMARY KEY REFERENCES sessions (id),
    bytes      bigint NOT NULL CHECK (bytes >= 0)
);

CREATE FUNCTION attachments_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attachments are never deleted or changed';
END $$;
CREATE TRIGGER attachments_kept BEFORE UPDATE OR DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_are_kept();
CREATE TRIGGER attachment_chunks_kept BEFORE UPDATE OR DELETE ON attachment_chunks
    FOR EACH ROW EXECUTE FUNCTION attachments_are_kept();

ALTER TABLE messages ADD COLUMN attachment_ids text[]
    CHECK (cardinality(attachment_ids) BETWEEN 1 AND 32);
