-- Async jobs with their inputs and per-record results, and idempotency keys.

CREATE TABLE jobs (
	id text PRIMARY KEY,
	account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	connection_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	model text NOT NULL,
	op text NOT NULL,
	status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
	total integer NOT NULL,
	processed integer NOT NULL DEFAULT 0,
	succeeded integer NOT NULL DEFAULT 0,
	failed integer NOT NULL DEFAULT 0,
	error_code text,
	error_message text,
	worker text,
	lease_until timestamptz,
	attempts integer NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	started_at timestamptz,
	finished_at timestamptz
);
CREATE INDEX jobs_account ON jobs (account_id, id);
CREATE INDEX jobs_claim ON jobs (status, created_at, id);

CREATE TABLE job_inputs (
	job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	idx integer NOT NULL,
	body json NOT NULL,
	PRIMARY KEY (job_id, idx)
);

CREATE TABLE job_results (
	job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	idx integer NOT NULL,
	status_code integer NOT NULL,
	record_id text NOT NULL,
	error_code text,
	error_message text,
	record json,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (job_id, idx)
);

CREATE TABLE idempotency_keys (
	account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	idem_key text NOT NULL,
	fingerprint text NOT NULL,
	-- NULL while the first request is in progress.
	status_code integer,
	body bytea,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	-- Until when the in-progress request holds the key; after that a retry
	-- may take it over (the first request's process died).
	locked_until timestamptz,
	PRIMARY KEY (account_id, idem_key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
