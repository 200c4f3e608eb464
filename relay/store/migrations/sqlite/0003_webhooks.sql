-- Webhook endpoints with their signing secrets, events, the delivery queue
-- and the attempt log.

CREATE TABLE webhook_endpoints (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	url TEXT NOT NULL,
	description TEXT NOT NULL,
	-- JSON arrays of strings; empty means every event type / connection.
	-- Matched in Go at fan-out: an account has a handful of endpoints.
	event_types TEXT NOT NULL,
	connection_ids TEXT NOT NULL,
	enabled INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, id);

-- Kept in plain text: signing needs the secret itself, not a hash.
CREATE TABLE webhook_secrets (
	id INTEGER PRIMARY KEY,
	endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	secret TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	-- NULL for the current secret; set when a rotation retires it.
	expires_at INTEGER
) STRICT;
CREATE INDEX webhook_secrets_endpoint ON webhook_secrets (endpoint_id);

CREATE TABLE webhook_events (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	type TEXT NOT NULL,
	connection_id TEXT,
	payload TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
	id INTEGER PRIMARY KEY,
	endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	event_id TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
	status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	-- Lease of the replica that is sending it; NULL or past when free.
	locked_until INTEGER,
	last_attempt_at INTEGER,
	last_status_code INTEGER,
	last_error TEXT,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (endpoint_id, event_id)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
	id INTEGER PRIMARY KEY,
	delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
	endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	event_id TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
	attempt INTEGER NOT NULL,
	at INTEGER NOT NULL,
	status_code INTEGER NOT NULL,
	duration_us INTEGER NOT NULL,
	error TEXT NOT NULL,
	next_retry_at INTEGER
) STRICT;
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id);
