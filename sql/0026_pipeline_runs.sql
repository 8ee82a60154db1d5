-- Pipeline runs: a pipeline artifact (at one version) run node by node, one job per node.
--
-- Every node's job is created when the run starts, reserving its estimated cost, so a
-- run that starts can always finish as far as credits go. A node whose upstream nodes
-- have not all succeeded yet has its job `waiting` (never claimed); it becomes `queued`
-- when they have, or `skipped` (its reservation released, nothing charged) when one of
-- them did not succeed or the run was cancelled. A node's state is its job's status
-- (`waiting` reads `pending`). The run's row is the lock every change of its nodes'
-- ends takes first, so two nodes ending at once advance the run one after the other.

DO $$
DECLARE c record;
BEGIN
    -- the job status CHECKs of 0024 (their names are PostgreSQL's choice)
    FOR c IN SELECT conname FROM pg_constraint
              WHERE conrelid = 'compute_jobs'::regclass AND contype = 'c'
                AND pg_get_constraintdef(oid) LIKE '%timed_out%'
    LOOP
        EXECUTE format('ALTER TABLE compute_jobs DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;

ALTER TABLE compute_jobs
    ADD CONSTRAINT compute_jobs_status_check CHECK (status IN
        ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out',
         'skipped')),
    ADD CONSTRAINT compute_jobs_finished_check CHECK (
        (status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'skipped'))
        = (finished_at IS NOT NULL AND cost_charged IS NOT NULL)),
    -- a waiting or skipped job was never claimed, and a skipped one charged nothing
    ADD CONSTRAINT compute_jobs_never_ran_check CHECK (
        status NOT IN ('waiting', 'skipped') OR (attempts = 0 AND coalesce(cost_charged, 0) = 0));

CREATE TABLE pipeline_runs (
    id               text PRIMARY KEY CHECK (id ~ '^run_[A-Za-z0-9_-]{21}$'),
    session_id       text NOT NULL REFERENCES sessions (id),
    artifact_id      bigint NOT NULL REFERENCES artifacts (id),
    artifact_version integer NOT NULL CHECK (artifact_version >= 1),
    title            text NOT NULL,
    pool_id          text NOT NULL REFERENCES compute_pools (id),
    requested_by     text NOT NULL,
    requested_role   text NOT NULL CHECK (requested_role IN ('agent_a', 'agent_b')),
    status           text NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    cancelled_by     text,
    cost_reserved    bigint NOT NULL CHECK (cost_reserved >= 0),
    log_count        integer NOT NULL DEFAULT 0 CHECK (log_count >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'running') = (finished_at IS NULL)),
    CHECK ((status = 'cancelled') <= (cancelled_by IS NOT NULL))
);
CREATE INDEX pipeline_runs_session_idx ON pipeline_runs (session_id, created_at, id);
CREATE INDEX pipeline_runs_open_idx ON pipeline_runs (session_id) WHERE status = 'running';

-- A run's nodes, in the artifact's order, each with its job and the nodes upstream of it.
CREATE TABLE pipeline_run_nodes (
    run_id   text NOT NULL REFERENCES pipeline_runs (id),
    node_id  text NOT NULL,
    position integer NOT NULL CHECK (position >= 0),
    type     text NOT NULL,
    label    text,
    upstream text[] NOT NULL DEFAULT '{}',
    job_id   text NOT NULL UNIQUE REFERENCES compute_jobs (id),
    PRIMARY KEY (run_id, node_id),
    UNIQUE (run_id, position)
);

-- The execution log: what happened to each node (and to the run: node_id NULL), in order.
CREATE TABLE pipeline_run_log (
    run_id  text NOT NULL REFERENCES pipeline_runs (id),
    seq     integer NOT NULL CHECK (seq >= 1),
    node_id text,
    status  text NOT NULL,
    result  jsonb,
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);
