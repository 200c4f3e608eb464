-- Accounts, API keys, connections, enrollment, records, sync state and
-- connection events. Times are INTEGER microseconds since the Unix epoch
-- (UTC), booleans INTEGER 0/1, JSON documents TEXT. STRICT tables reject a
-- value of the wrong type instead of storing it.

CREATE TABLE accounts (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	prefix TEXT NOT NULL,
	key_hash BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
) STRICT;
CREATE INDEX api_keys_account ON api_keys (account_id, id);

CREATE TABLE connections (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	system TEXT NOT NULL,
	settings TEXT NOT NULL,
	agent_id TEXT NOT NULL UNIQUE,
	agent_secret_hash BLOB,
	agent_enrolled_at INTEGER,
	-- The last modified_at given to a record of this connection; the next
	-- one is strictly greater.
	records_clock INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	deleted_at INTEGER
) STRICT;
CREATE INDEX connections_account ON connections (account_id, id);

CREATE TABLE enrollment_tokens (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	token_hash BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at INTEGER
) STRICT;
CREATE INDEX enrollment_tokens_connection ON enrollment_tokens (connection_id);
CREATE INDEX enrollment_tokens_expires ON enrollment_tokens (expires_at);

CREATE TABLE records (
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	model TEXT NOT NULL,
	id TEXT NOT NULL,
	remote_id TEXT NOT NULL,
	-- The JSON of model.Record without the relay's own fields, which are
	-- the columns below.
	body TEXT NOT NULL,
	content_hash BLOB NOT NULL,
	remote_was_deleted INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	modified_at INTEGER NOT NULL,
	-- The relay time of the last batch that carried the record, changed or
	-- not: a full re-sync deletes what it did not see since it started.
	seen_at INTEGER NOT NULL,
	PRIMARY KEY (connection_id, model, id)
) STRICT;
-- The keyset walk of the list endpoint: (modified_at, id) within a model.
CREATE INDEX records_modified ON records (connection_id, model, modified_at, id);

CREATE TABLE record_batches (
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	batch_id TEXT NOT NULL,
	model TEXT NOT NULL,
	records INTEGER NOT NULL,
	changed INTEGER NOT NULL,
	modified_at INTEGER NOT NULL,
	applied_at INTEGER NOT NULL,
	PRIMARY KEY (connection_id, batch_id)
) STRICT;
CREATE INDEX record_batches_applied ON record_batches (applied_at);

CREATE TABLE full_syncs (
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	model TEXT NOT NULL,
	full_sync_id TEXT NOT NULL,
	started_at INTEGER NOT NULL,
	finished_at INTEGER,
	deleted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (connection_id, model, full_sync_id)
) STRICT;

CREATE TABLE sync_states (
	connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
	model TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('syncing', 'done', 'failed', 'paused')),
	last_sync_start INTEGER,
	last_sync_finished INTEGER,
	last_successful_sync_at INTEGER,
	next_sync_start INTEGER,
	is_initial_sync INTEGER NOT NULL,
	records_synced INTEGER NOT NULL,
	error_code TEXT,
	error_message TEXT,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (connection_id, model)
) STRICT;

-- No foreign key: failed logins name connections that may not exist.
CREATE TABLE connection_events (
	id INTEGER PRIMARY KEY,
	connection_id TEXT,
	agent_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	remote_addr TEXT NOT NULL,
	rtt_us INTEGER NOT NULL,
	reason TEXT NOT NULL,
	detail TEXT NOT NULL,
	at INTEGER NOT NULL
) STRICT;
CREATE INDEX connection_events_connection ON connection_events (connection_id, id);
CREATE INDEX connection_events_at ON connection_events (at);
