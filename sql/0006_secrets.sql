-- The credentials vault: named third-party secrets a person keeps, sealed with
-- AES-256-GCM by the hub (hub/vault.py) before they reach the database. A row holds the
-- id of the key that sealed it, the nonce and the ciphertext with its tag: no plaintext
-- column, so a dump of the database alone reveals no secret. Deleting a secret deletes
-- its row (the audit log keeps its name and when).
CREATE TABLE secrets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id),
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    key_id       text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
    nonce        bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext   bytea NOT NULL CHECK (length(ciphertext) BETWEEN 17 AND 65552),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    UNIQUE (user_id, name)
);
-- `hub secrets rotate` looks for the rows not yet under the newest key.
CREATE INDEX secrets_key_idx ON secrets (key_id, id);
