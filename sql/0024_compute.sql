-- Compute: credit pools, their ledger, runner keys and jobs.
--
-- A pool belongs to a person or to a space and holds integer credits: `balance` is what
-- may still be reserved, `reserved` what running or queued jobs hold, `spent` what
-- finished jobs were charged. Every change of them is a ledger row written in the same
-- transaction: `amount` is the row's change of `balance`, `reserved_change` its change
-- of `reserved`, so the balance is the sum of `amount` and the reservations the sum of
-- `reserved_change`, always. A reservation is one conditional UPDATE (`balance >= n`);
-- the CHECK below makes an overdraft impossible even for a bug.

CREATE TABLE compute_pools (
    id             text PRIMARY KEY CHECK (id ~ '^pol_[A-Za-z0-9_-]{21}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    owner_user_id  text REFERENCES users (id),
    owner_space_id text REFERENCES workspaces (id),
    created_by     text NOT NULL REFERENCES users (id),
    balance        bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    reserved       bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    spent          bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((owner_user_id IS NULL) <> (owner_space_id IS NULL))
);
CREATE INDEX compute_pools_user_idx ON compute_pools (owner_user_id, created_at)
    WHERE owner_user_id IS NOT NULL;
CREATE INDEX compute_pools_space_idx ON compute_pools (owner_space_id, created_at)
    WHERE owner_space_id IS NOT NULL;

-- The pool a session's jobs draw on (set by agent A; see README, Compute).
CREATE TABLE compute_session_pools (
    session_id text PRIMARY KEY REFERENCES sessions (id),
    pool_id    text NOT NULL REFERENCES compute_pools (id),
    set_by     text NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);

-- Runner keys: a program that claims jobs of some kinds, for its owner's pools. Stored
-- as the SHA-256 of the key's text, like user and agent keys.
CREATE TABLE runner_keys (
    id             text PRIMARY KEY,
    owner_user_id  text REFERENCES users (id),
    owner_space_id text REFERENCES workspaces (id),
    created_by     text NOT NULL REFERENCES users (id),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    kinds          text[] NOT NULL CHECK (cardinality(kinds) BETWEEN 1 AND 32),
    key_hash       bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    CHECK ((owner_user_id IS NULL) <> (owner_space_id IS NULL))
);
CREATE INDEX runner_keys_user_idx ON runner_keys (owner_user_id, created_at);
CREATE INDEX runner_keys_space_idx ON runner_keys (owner_space_id, created_at);

CREATE TABLE compute_jobs (
    id                 text PRIMARY KEY CHECK (id ~ '^job_[A-Za-z0-9_-]{21}$'),
    session_id         text NOT NULL REFERENCES sessions (id),
    pool_id            text NOT NULL REFERENCES compute_pools (id),
    -- the pool's owner ('user:<id>' or 'space:<id>'; a pool never changes owner): whose
    -- runners serve the job, kept here so a claim reads one index in queue order
    pool_owner         text NOT NULL CHECK (pool_owner ~ '^(user|space):'),
    kind               text NOT NULL CHECK (kind ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    input              jsonb,
    input_attachments  text[] NOT NULL DEFAULT '{}',
    requested_by       text NOT NULL,
    requested_role     text NOT NULL CHECK (requested_role IN ('agent_a', 'agent_b')),
    client_job_id      text CHECK (length(client_job_id) BETWEEN 1 AND 128),
    status             text NOT NULL DEFAULT 'queued' CHECK (status IN
                           ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    progress           smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    progress_message   text NOT NULL DEFAULT '' CHECK (length(progress_message) <= 500),
    output             jsonb,
    output_attachments text[] NOT NULL DEFAULT '{}',
    output_artifacts   bigint[] NOT NULL DEFAULT '{}',
    error              text CHECK (length(error) <= 2000),
    cost_reserved      bigint NOT NULL CHECK (cost_reserved >= 0),
    cost_used          bigint NOT NULL DEFAULT 0 CHECK (cost_used BETWEEN 0 AND cost_reserved),
    cost_charged       bigint CHECK (cost_charged BETWEEN 0 AND cost_reserved),
    cost_refunded      bigint NOT NULL DEFAULT 0
                           CHECK (cost_refunded BETWEEN 0 AND coalesce(cost_charged, 0)),
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts BETWEEN 0 AND max_attempts),
    max_attempts       integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
    runner_key_id      text REFERENCES runner_keys (id),
    lease_until        timestamptz,
    log_count          integer NOT NULL DEFAULT 0 CHECK (log_count >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'running') = (lease_until IS NOT NULL)),
    CHECK ((status = 'running') <= (runner_key_id IS NOT NULL)),
    CHECK ((status IN ('succeeded', 'failed', 'cancelled', 'timed_out'))
           = (finished_at IS NOT NULL AND cost_charged IS NOT NULL))
);
-- The queue (each owner's, oldest first) and the leases the sweeper looks at.
CREATE INDEX compute_jobs_queue ON compute_jobs (pool_owner, created_at, id)
    WHERE status = 'queued';
CREATE INDEX compute_jobs_leases ON compute_jobs (lease_until) WHERE status = 'running';
CREATE INDEX compute_jobs_session_idx ON compute_jobs (session_id, created_at, id);
-- One job per requester and client_job_id: a retried create finds the first.
CREATE UNIQUE INDEX compute_jobs_client_id ON compute_jobs (session_id, requested_by, client_job_id)
    WHERE client_job_id IS NOT NULL;

CREATE TABLE compute_job_logs (
    job_id  text NOT NULL REFERENCES compute_jobs (id),
    seq     integer NOT NULL CHECK (seq >= 1),
    attempt integer NOT NULL CHECK (attempt >= 1),
    level   text NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error')),
    text    text NOT NULL CHECK (length(text) <= 4000),
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE compute_ledger (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id         text NOT NULL REFERENCES compute_pools (id),
    kind            text NOT NULL CHECK (kind IN ('grant', 'reserve', 'settle', 'release', 'refund')),
    amount          bigint NOT NULL,
    reserved_change bigint NOT NULL,
    balance_after   bigint NOT NULL CHECK (balance_after >= 0),
    job_id          text REFERENCES compute_jobs (id),
    actor           text NOT NULL,
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (
        (kind = 'grant' AND amount > 0 AND reserved_change = 0 AND job_id IS NULL)
        OR (kind = 'reserve' AND amount < 0 AND reserved_change = -amount AND job_id IS NOT NULL)
        OR (kind = 'settle' AND amount = 0 AND reserved_change < 0 AND job_id IS NOT NULL)
        OR (kind = 'release' AND amount > 0 AND reserved_change = -amount AND job_id IS NOT NULL)
        OR (kind = 'refund' AND amount > 0 AND reserved_change = 0 AND job_id IS NOT NULL)
    )
);
CREATE INDEX compute_ledger_pool_idx ON compute_ledger (pool_id, id);
CREATE TRIGGER compute_ledger_append_only BEFORE UPDATE OR DELETE ON compute_ledger
    FOR EACH ROW EXECUTE FUNCTION activity_is_append_only();
