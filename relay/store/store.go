// Package store keeps the relay's durable state: accounts and API keys,
// connections with their enrollment tokens and agent credentials, synced
// records, sync state, connection events, async jobs, idempotency keys and
// the webhook queue.
//
// One implementation over database/sql serves both databases the relay
// supports: SQLite (the embedded default, a file in the data dir) and
// PostgreSQL (production, and several relay replicas on one database). The
// SQL is shared; a small dialect value supplies what differs (placeholders,
// row locks, column types). Schema migrations are numbered SQL files per
// dialect, embedded in the binary and applied by Open.
//
// Every call that names an account scopes its query by that account: another
// account's object is ErrNotFound, never a different error, so that the API
// can answer 404 without revealing that the id exists. Calls that take only a
// connection id (records, sync state, connection events) trust their caller
// to have resolved the connection through GetConnection or
// AuthenticateAgent first.
//
// All times are UTC with microsecond precision, the precision both databases
// store.
package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// Errors that callers branch on. Methods wrap them with the step that failed,
// so test them with errors.Is.
var (
	// ErrNotFound means the object does not exist, is deleted, or belongs to
	// another account.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request contradicts stored state: an idempotency
	// key reused with a different request, a lease held by someone else, a
	// delivery that is already final.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized means a credential is unknown, wrong or revoked.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrTokenUsed means an enrollment token was already redeemed.
	ErrTokenUsed = errors.New("enrollment token already used")
	// ErrTokenExpired means an enrollment token is past its expiry.
	ErrTokenExpired = errors.New("enrollment token expired")
	// ErrInvalid means an argument is malformed: an empty name, settings
	// that are not a JSON object, a bad cursor, a limit over the maximum.
	ErrInvalid = errors.New("invalid argument")
)

// MaxPageSize is the largest page any list call returns.
const MaxPageSize = 1000

// DefaultPageSize is the page size of a list call that names none.
const DefaultPageSize = 100

// IdempotencyTTL is how long a stored response answers a repeated request.
const IdempotencyTTL = 24 * time.Hour

// Options configures a store. The zero value is usable.
type Options struct {
	// Now is the clock; time.Now when nil. Tests inject one to expire tokens
	// and leases without waiting.
	Now func() time.Time
	// Logger receives migration and maintenance messages; discarded when nil.
	Logger *slog.Logger
	// MaxOpenConns bounds the connection pool: PostgreSQL connections
	// (default 10), or SQLite read connections (default 2×GOMAXPROCS, at
	// least 4; SQLite always has exactly one write connection).
	MaxOpenConns int

	// schemaVersion stops migration at this version instead of the latest,
	// so that tests can open a database as an older relay left it.
	schemaVersion int
}

// Page asks for one page of a list that is walked by an opaque cursor.
type Page struct {
	// After is the cursor returned with the previous page; empty for the
	// first page.
	After string
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
}

// ErrorDetail is a stored error: a stable code for programs and a message for
// people.
type ErrorDetail struct {
	Code    string
	Message string
}

// Store is the relay's durable state. Implementations are safe for
// concurrent use, also by several processes on one PostgreSQL database.
type Store interface {
	// CreateAccount creates an account.
	CreateAccount(ctx context.Context, name string) (Account, error)
	// GetAccount returns an account.
	GetAccount(ctx context.Context, id string) (Account, error)
	// CreateAPIKey creates an API key for the account and returns it with
	// its plain text, which is not stored and cannot be shown again.
	CreateAPIKey(ctx context.Context, accountID, name string) (key APIKey, plain string, err error)
	// AuthenticateAPIKey returns the key and account of a plain API key;
	// ErrUnauthorized when the key is unknown or revoked.
	AuthenticateAPIKey(ctx context.Context, plain string) (APIKey, Account, error)
	// ListAPIKeys lists the account's keys, revoked ones included, oldest
	// first.
	ListAPIKeys(ctx context.Context, accountID string) ([]APIKey, error)
	// RevokeAPIKey revokes one of the account's keys. Revoking twice is not
	// an error.
	RevokeAPIKey(ctx context.Context, accountID, keyID string) error

	// CreateConnection creates a connection with a new agent id; the agent
	// enrolls with a token from CreateEnrollmentToken.
	CreateConnection(ctx context.Context, accountID string, c NewConnection) (Connection, error)
	// GetConnection returns one of the account's connections.
	GetConnection(ctx context.Context, accountID, id string) (Connection, error)
	// ListConnections lists the account's connections in creation order.
	ListConnections(ctx context.Context, accountID string, p Page) (list []Connection, next string, err error)
	// UpdateConnection changes the fields of u that are set.
	UpdateConnection(ctx context.Context, accountID, id string, u ConnectionUpdate) (Connection, error)
	// DeleteConnection deletes a connection and revokes its agent. Its
	// records stay until pruned, so that a mistaken delete can be undone by
	// an operator.
	DeleteConnection(ctx context.Context, accountID, id string) error

	// CreateEnrollmentToken creates a one-time token that enrolls an agent
	// for the connection until it expires after ttl. The plain token is
	// returned once and stored only as a hash.
	CreateEnrollmentToken(ctx context.Context, accountID, connectionID string, ttl time.Duration) (tok EnrollmentToken, plain string, err error)
	// RedeemEnrollmentToken consumes a token and issues the connection's
	// agent credential, replacing any earlier one. Exactly one of several
	// concurrent redeemers of a token succeeds; the others get ErrTokenUsed.
	// An expired token is ErrTokenExpired, an unknown one ErrUnauthorized.
	RedeemEnrollmentToken(ctx context.Context, plain string) (AgentCredential, error)
	// AuthenticateAgent returns the connection of an agent credential;
	// ErrUnauthorized when the id or secret is wrong or revoked.
	AuthenticateAgent(ctx context.Context, agentID, secret string) (Connection, error)
	// RevokeAgent revokes the agent credential of one of the account's
	// connections; the agent must enroll again.
	RevokeAgent(ctx context.Context, accountID, connectionID string) error

	// ApplyBatch upserts one sync batch of records of one model. It is
	// idempotent by (connection, batchID): a batch that was applied before
	// changes nothing and comes back with Duplicate set. Records whose
	// content changed get the batch's ModifiedAt, which is strictly greater
	// than every modified_at the connection had before; unchanged records
	// keep theirs. Records with RemoteWasDeleted are soft deletes.
	ApplyBatch(ctx context.Context, connectionID, batchID, modelName string, records []model.Record, opts ApplyOptions) (BatchResult, error)
	// ApplyEncodedBatch is ApplyBatch for records already encoded in their stored
	// form, as agents send them: the relay stores them without decoding.
	ApplyEncodedBatch(ctx context.Context, connectionID, batchID, modelName string, records []EncodedRecord, opts ApplyOptions) (BatchResult, error)
	// StartFullSync registers the start of a full re-sync. ApplyBatch with
	// ApplyOptions.FullSyncID does this implicitly; call it first when the
	// re-sync may send no batch at all (an emptied source table).
	StartFullSync(ctx context.Context, connectionID, modelName, fullSyncID string) error
	// MarkMissingDeleted ends a full re-sync: every live record of the model
	// that no batch has carried since the re-sync started becomes
	// remote_was_deleted with a new modified_at. It returns how many.
	MarkMissingDeleted(ctx context.Context, connectionID, modelName, fullSyncID string) (int, error)
	// RecordsClock returns the connection's record clock: the modified_at of
	// its last committed change (zero if none). A change committed later gets
	// a larger one, so a walk bounded by it never meets a record twice.
	RecordsClock(ctx context.Context, connectionID string) (time.Time, error)
	// ListRecords returns one page of a model's records in (modified_at, id)
	// order.
	ListRecords(ctx context.Context, q RecordQuery) (RecordPage, error)
	// GetRecord returns one record, deleted or not.
	GetRecord(ctx context.Context, connectionID, modelName, id string) (StoredRecord, error)

	// PutSyncState stores the sync state of one model of a connection.
	PutSyncState(ctx context.Context, st SyncState) error
	// ListSyncStates returns the sync states of a connection by model name.
	ListSyncStates(ctx context.Context, connectionID string) ([]SyncState, error)

	// AddConnectionEvent stores a tunnel event and returns it with its id.
	AddConnectionEvent(ctx context.Context, e ConnectionEvent) (ConnectionEvent, error)
	// ListConnectionEvents lists a connection's events, newest first.
	ListConnectionEvents(ctx context.Context, connectionID string, p Page) (list []ConnectionEvent, next string, err error)

	// CreateJob queues an async job on one of the account's connections.
	CreateJob(ctx context.Context, j NewJob) (Job, error)
	// GetJob returns one of the account's jobs.
	GetJob(ctx context.Context, accountID, jobID string) (Job, error)
	// ListJobResults lists the per-record results of one of the account's
	// jobs by input index.
	ListJobResults(ctx context.Context, accountID, jobID string, p Page) (list []JobResult, next string, err error)
	// JobInputs returns up to limit inputs of a job from index from on, for
	// the worker that processes it.
	JobInputs(ctx context.Context, jobID string, from, limit int) ([]JobInput, error)
	// ClaimJob gives the oldest queued job (or a running one whose lease
	// ran out) to worker for leaseFor. Each job goes to exactly one caller,
	// also across replicas. It returns nil when no job is waiting.
	ClaimJob(ctx context.Context, worker string, leaseFor time.Duration) (*Job, error)
	// RenewJobLease extends worker's lease; ErrConflict when the lease was
	// lost.
	RenewJobLease(ctx context.Context, jobID, worker string, leaseFor time.Duration) error
	// AppendJobResults stores a chunk of per-record results. Results for an
	// index that already has one are ignored, so a retried chunk counts once.
	AppendJobResults(ctx context.Context, jobID, worker string, results []JobResult) error
	// FinishJob ends worker's job as completed or failed.
	FinishJob(ctx context.Context, jobID, worker string, status JobStatus, jobErr *ErrorDetail) error

	// ReserveIdempotencyKey starts a write under an idempotency key. It
	// returns nil when the caller should perform the write and then save its
	// response, or the stored response of an earlier identical request.
	// ErrConflict when the key was used with another fingerprint or the
	// earlier request is still in progress.
	ReserveIdempotencyKey(ctx context.Context, accountID, key, fingerprint string) (*IdempotentResponse, error)
	// SaveIdempotentResponse stores the response of a reserved key.
	SaveIdempotentResponse(ctx context.Context, accountID, key string, resp IdempotentResponse) error
	// ReleaseIdempotencyKey drops a reservation whose write was not
	// performed, so that a retry may perform it.
	ReleaseIdempotencyKey(ctx context.Context, accountID, key string) error

	// CreateWebhookEndpoint creates an endpoint with a new signing secret.
	CreateWebhookEndpoint(ctx context.Context, accountID string, e NewWebhookEndpoint) (WebhookEndpoint, error)
	// GetWebhookEndpoint returns one of the account's endpoints.
	GetWebhookEndpoint(ctx context.Context, accountID, id string) (WebhookEndpoint, error)
	// ListWebhookEndpoints lists the account's endpoints in creation order.
	ListWebhookEndpoints(ctx context.Context, accountID string, p Page) (list []WebhookEndpoint, next string, err error)
	// UpdateWebhookEndpoint changes the fields of u that are set.
	UpdateWebhookEndpoint(ctx context.Context, accountID, id string, u WebhookEndpointUpdate) (WebhookEndpoint, error)
	// DeleteWebhookEndpoint deletes an endpoint with its queued deliveries
	// and attempt log.
	DeleteWebhookEndpoint(ctx context.Context, accountID, id string) error
	// RotateWebhookSecret adds a new signing secret; the current ones stay
	// valid for overlap so that receivers can switch without losing events.
	RotateWebhookSecret(ctx context.Context, accountID, id string, overlap time.Duration) (WebhookEndpoint, error)
	// EnqueueDeliveries stores an event and, in the same transaction, queues
	// one delivery for every enabled endpoint of the account subscribed to
	// it. It returns the event and the number of deliveries queued.
	EnqueueDeliveries(ctx context.Context, e NewWebhookEvent) (WebhookEvent, int, error)
	// ClaimDueDeliveries leases up to limit deliveries due at now for
	// leaseFor. Each due delivery goes to exactly one caller, also across
	// replicas; an unfinished lease expires and the delivery is due again.
	ClaimDueDeliveries(ctx context.Context, now time.Time, limit int, leaseFor time.Duration) ([]Delivery, error)
	// ClaimDeliveries is ClaimDueDeliveries with limits per endpoint: at
	// most c.PerEndpoint deliveries of one endpoint, none of the endpoints in
	// c.SkipEndpoints.
	ClaimDeliveries(ctx context.Context, c DeliveryClaim) ([]Delivery, error)
	// RecordAttempt logs one delivery attempt and moves the delivery on:
	// succeeded on a 2xx, due again at a.NextRetry, or failed when there is
	// no next retry. It updates the endpoint's Health in the same
	// transaction.
	RecordAttempt(ctx context.Context, deliveryID int64, a Attempt) (Attempt, error)
	// RecordAttempts records several attempts in one transaction, each as
	// RecordAttempt does: one commit for a sender that finishes many
	// deliveries at once. An attempt on a missing or finished delivery gets
	// its error (ErrNotFound, ErrConflict) in errs without undoing the
	// others; any other error undoes all and is returned as err.
	RecordAttempts(ctx context.Context, recs []AttemptRecord) (list []Attempt, errs []error, err error)
	// DisableFailingWebhookEndpoint disables the endpoint of a delivery if
	// it is enabled and every attempt to it has failed since the delivery's
	// first attempt, recording reason: called when a delivery runs out of
	// retries, it disables an endpoint that failed for the whole retry
	// window, but not one that was re-enabled or answered other deliveries
	// meanwhile. It returns the endpoint and whether this call disabled it,
	// so that of several replicas noticing the failure one reports it.
	DisableFailingWebhookEndpoint(ctx context.Context, deliveryID int64, reason string) (WebhookEndpoint, bool, error)
	// ListAttempts lists the attempt log of one of the account's endpoints,
	// newest first.
	ListAttempts(ctx context.Context, accountID, endpointID string, p Page) (list []Attempt, next string, err error)

	// Prune deletes what the policy says has expired.
	Prune(ctx context.Context, p PrunePolicy) (PruneResult, error)
	// Ping checks that the database answers, for readiness checks.
	Ping(ctx context.Context) error
	// Close closes the database. It is safe to call more than once.
	Close() error
}
