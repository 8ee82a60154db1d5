-- A retry id for starting a pipeline run, like a job's `client_job_id`: one run per
-- requester and client_run_id, so a retried start finds the first run and reserves
-- nothing more.

ALTER TABLE pipeline_runs
    ADD COLUMN client_run_id text CHECK (length(client_run_id) BETWEEN 1 AND 128);

CREATE UNIQUE INDEX pipeline_runs_client_id
    ON pipeline_runs (session_id, requested_by, client_run_id)
    WHERE client_run_id IS NOT NULL;
