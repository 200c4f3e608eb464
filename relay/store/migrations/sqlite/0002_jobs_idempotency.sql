-- Async jobs with their inputs and per-record results, and idempotency keys.

CREATE TABLE jobs (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	model TEXT NOT NULL,
	op TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
	total INTEGER NOT NULL,
	processed INTEGER NOT NULL DEFAULT 0,
	succeeded INTEGER NOT NULL DEFAULT 0,
	failed INTEGER NOT NULL DEFAULT 0,
	error_code TEXT,
	error_message TEXT,
	worker TEXT,
	lease_until INTEGER,
	attempts INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	started_at INTEGER,
	finished_at INTEGER
) STRICT;
CREATE INDEX jobs_account ON jobs (account_id, id);
CREATE INDEX jobs_claim ON jobs (status, created_at, id);

CREATE TABLE job_inputs (
	job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	idx INTEGER NOT NULL,
	body TEXT NOT NULL,
	PRIMARY KEY (job_id, idx)
) STRICT;

CREATE TABLE job_results (
	job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	idx INTEGER NOT NULL,
	status_code INTEGER NOT NULL,
	record_id TEXT NOT NULL,
	error_code TEXT,
	error_message TEXT,
	record TEXT,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (job_id, idx)
) STRICT;

CREATE TABLE idempotency_keys (
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	idem_key TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	-- NULL while the first request is in progress.
	status_code INTEGER,
	body BLOB,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	-- Until when the in-progress request holds the key; after that a retry
	-- may take it over (the first request's process died).
	locked_until INTEGER,
	PRIMARY KEY (account_id, idem_key)
) STRICT;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
