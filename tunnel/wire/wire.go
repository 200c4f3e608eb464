// Package wire is the contract between agent and relay inside the tunnel: the paths
// each side serves, the JSON bodies, and the error shape. Both sides import it, so a
// change to the protocol is a change to one file that both compilers check.
//
// The protocol is plain HTTP/1.1 over tunnel streams (see package tunnel). Every call
// the relay makes carries the API request's id in X-Request-Id, and the agent logs it
// with everything it does for that call.
package wire

import (
	"encoding/json"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// HeaderRequestID carries the relay's request id into the agent's logs.
const HeaderRequestID = "X-Request-Id"

// Paths the relay serves to agents (the agent calls http://relay/…).
const (
	// PathStatus takes an AgentStatus; answers 204.
	PathStatus = "/v1/agent/status"
	// PathBatches takes a Batch; answers 200 with a BatchAck once the batch is
	// durably stored. A batch id seen before is acknowledged again without effect.
	PathBatches = "/v1/agent/batches"
	// PathSyncState takes a SyncState; answers 204. The agent sends it through its
	// outbox, so that "done" arrives after the batches of the run it describes.
	PathSyncState = "/v1/agent/sync-state"
)

// EnrollPath is served by the relay on its public listener (not in a tunnel): the agent
// exchanges a one-time enrollment token for its credential before it has a tunnel.
const EnrollPath = "/v1/agents/enroll"

// Paths the agent serves to the relay (the relay calls http://agent/…).
const (
	// PathInfo answers an Info.
	PathInfo = "/v1/agent/info"
	// PathSyncs takes a SyncRequest; answers 202 with the accepted SyncRequest.
	PathSyncs = "/v1/agent/syncs"
	// PathMappings answers (GET) or replaces (PUT) the connection's mapping overrides,
	// a profiles.Overrides document. A PUT that fails validation is a 400
	// VALIDATION_FAILED and leaves the previous overrides in force.
	PathMappings = "/v1/agent/mappings"
	// PathSchema answers the discovered schema (connectors.Schema).
	PathSchema = "/v1/agent/schema"
	// PathWrites takes a WriteBatch; answers 200 with WriteResults, one per write.
	PathWrites = "/v1/agent/writes"
	// PathPassthrough takes a PassthroughRequest; answers a PassthroughResult.
	PathPassthrough = "/v1/agent/passthrough"
	// PathDiagnostics answers a diagnostics snapshot (free-form JSON object).
	PathDiagnostics = "/v1/agent/diagnostics"
)

// Error is the body of every non-2xx answer on either side. Code is one of the API's
// error codes (INVALID_REQUEST, VALIDATION_FAILED, NOT_FOUND, CONNECTION_UNREACHABLE,
// REAUTH_REQUIRED, SOURCE_RATE_LIMITED, SOURCE_ERROR, …), so the relay passes it on
// unchanged. Message is safe to show to an API consumer: never driver text.
type Error struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// FieldError points at one invalid field of a write.
type FieldError = model.FieldError

// ErrorBody wraps Error as it travels: {"error": {...}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

// EnrollRequest redeems an enrollment token.
type EnrollRequest struct {
	Token    string `json:"token"`
	Hostname string `json:"hostname,omitempty"`
	Version  string `json:"version,omitempty"`
	OS       string `json:"os,omitempty"`
}

// EnrollResponse is the agent's credential. Secret is shown this once.
type EnrollResponse struct {
	AgentID      string `json:"agent_id"`
	ConnectionID string `json:"connection_id"`
	Secret       string `json:"secret"`
}

// Batch is one outbox batch of one model on its way to the relay.
type Batch struct {
	// BatchID is unique per agent and stable across re-sends.
	BatchID string `json:"batch_id"`
	Model   string `json:"model"`
	// FullSyncID is set on every batch of a full re-sync.
	FullSyncID string `json:"full_sync_id,omitempty"`
	// FullSyncDone marks the last batch of a full re-sync: the relay marks every record
	// of the model that the re-sync did not carry as remote_was_deleted.
	FullSyncDone bool `json:"full_sync_done,omitempty"`
	// Records in the flat unified form; may be empty on a FullSyncDone batch.
	Records []json.RawMessage `json:"records"`
}

// BatchAck acknowledges a stored batch.
type BatchAck struct {
	BatchID   string `json:"batch_id"`
	Duplicate bool   `json:"duplicate"`
	Records   int    `json:"records"`
	Changed   int    `json:"changed"`
	// Deleted counts records marked deleted at the end of a full re-sync.
	Deleted int `json:"deleted,omitempty"`
}

// Sync statuses, as the API shows them.
const (
	SyncSyncing = "syncing"
	SyncDone    = "done"
	SyncFailed  = "failed"
	SyncPaused  = "paused"
)

// SyncState is the sync state of one model, as the agent knows it.
type SyncState struct {
	Model                string     `json:"model"`
	Status               string     `json:"status"`
	Full                 bool       `json:"full,omitempty"`
	LastSyncStart        *time.Time `json:"last_sync_start,omitempty"`
	LastSyncFinished     *time.Time `json:"last_sync_finished,omitempty"`
	LastSuccessfulSyncAt *time.Time `json:"last_successful_sync_at,omitempty"`
	NextSyncStart        *time.Time `json:"next_sync_start,omitempty"`
	IsInitialSync        bool       `json:"is_initial_sync"`
	// RecordsSynced counts the records the run read (so far, while syncing).
	RecordsSynced int64  `json:"records_synced"`
	Error         *Error `json:"error,omitempty"`
}

// Database states the agent reports.
const (
	DBUnknown          = "unknown" // not checked yet, or no connection configured
	DBReachable        = "reachable"
	DBUnreachable      = "unreachable"
	DBAuthFailed       = "auth_failed"
	DBPermissionDenied = "permission_denied"
	DBBusy             = "busy"
)

// AgentStatus is what the agent reports about itself, on every connect, every 30
// seconds, and whenever its database or buffer state changes.
type AgentStatus struct {
	AgentID      string         `json:"agent_id"`
	ConnectionID string         `json:"connection_id,omitempty"`
	Version      string         `json:"version"`
	Hostname     string         `json:"hostname,omitempty"`
	OS           string         `json:"os"`
	System       string         `json:"system,omitempty"`
	StartedAt    time.Time      `json:"started_at"`
	Database     DatabaseStatus `json:"database"`
	Buffer       BufferStatus   `json:"buffer"`
	Models       []ModelStatus  `json:"models,omitempty"`
}

// DatabaseStatus is the plant database as the agent last found it.
type DatabaseStatus struct {
	State string `json:"state"`
	// Table is the table a permission_denied concerns, when known.
	Table     string     `json:"table,omitempty"`
	Error     *Error     `json:"error,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	// Circuit is closed, open or half_open: open while the agent rests a failing database.
	Circuit string `json:"circuit,omitempty"`
}

// BufferStatus is the agent's outbox.
type BufferStatus struct {
	Batches  int64 `json:"batches"`
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	// Full means reading is paused until the relay takes batches again.
	Full bool `json:"full"`
}

// ModelStatus is the progress of one model's current or last run.
type ModelStatus struct {
	Model           string     `json:"model"`
	Status          string     `json:"status"`
	RowsRead        int64      `json:"rows_read"`
	BatchesBuffered int64      `json:"batches_buffered"`
	RowsPerSecond   float64    `json:"rows_per_second"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	NextSyncStart   *time.Time `json:"next_sync_start,omitempty"`
}

// SyncRequest asks for a manual sync: incremental, or full when Full is set. No models
// means every model.
type SyncRequest struct {
	Models []string `json:"models"`
	Full   bool     `json:"full"`
}

// WriteBatch is a list of writes of one model, applied one by one, each in its own
// transaction.
type WriteBatch struct {
	Model  string  `json:"model"`
	Writes []Write `json:"writes"`
}

// Write is one write: create, update or status (model.Op).
type Write struct {
	Op       string         `json:"op"`
	RemoteID string         `json:"remote_id,omitempty"`
	Fields   map[string]any `json:"fields"`
	// Refs maps each reference field to the remote id the relay resolved it to.
	Refs map[string]string `json:"refs,omitempty"`
	Memo string            `json:"memo,omitempty"`
}

// WriteResults answers a WriteBatch: Results[i] belongs to Writes[i].
type WriteResults struct {
	Results []WriteResult `json:"results"`
}

// WriteResult is the record as stored after a write, or why the write failed.
type WriteResult struct {
	Record json.RawMessage `json:"record,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// PassthroughRequest is one read-only SQL statement with bound parameters.
type PassthroughRequest struct {
	SQL    string `json:"sql"`
	Params []any  `json:"params,omitempty"`
	// MaxRows caps the rows returned (default 100, at most 10,000).
	MaxRows int `json:"max_rows,omitempty"`
	// TimeoutMS caps the statement's run time (default 10,000, at most 60,000).
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

// PassthroughResult is the answer of a passthrough statement.
type PassthroughResult struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"`
}
