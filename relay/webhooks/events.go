package webhooks

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
)

// Event types (DESIGN.md §7). The data of each is the struct named after it:
// sync.completed carries SyncCompletedData, and so on.
const (
	// EventSyncCompleted: a sync of one model of a connection finished.
	EventSyncCompleted = "sync.completed"
	// EventSyncFailed: a sync of one model of a connection failed.
	EventSyncFailed = "sync.failed"
	// EventConnectionAuthRequired: the agent's database login was refused
	// (a wrong or expired password); the connection stays in
	// reauth_required until the credentials are fixed.
	EventConnectionAuthRequired = "connection.auth_required"
	// EventConnectionStatusChanged: a connection went online, offline,
	// degraded or reauth_required. Offline is raised only after a grace
	// period, so that a short reconnect does not page anyone.
	EventConnectionStatusChanged = "connection.status_changed"
	// EventSystemError: something an account's integration needs to know
	// about that has no event of its own, such as a webhook endpoint that
	// was disabled after failing for the whole retry window.
	EventSystemError = "system.error"
	// EventJobCompleted: an async bulk write finished, completed or failed.
	EventJobCompleted = "job.completed"
)

// Connection states that connection.status_changed reports.
const (
	StatusOnline         = "online"
	StatusOffline        = "offline"
	StatusDegraded       = "degraded"
	StatusReauthRequired = "reauth_required"
)

// SystemErrorEndpointDisabled is the system.error code of a webhook endpoint
// disabled after failing for the whole retry window.
const SystemErrorEndpointDisabled = "WEBHOOK_ENDPOINT_DISABLED"

// ErrorData is an error in event data: a stable code for programs and a
// message for people.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SyncCompletedData is the data of sync.completed.
type SyncCompletedData struct {
	// Model is the unified model synced, such as "work_orders".
	Model string `json:"model"`
	// FullSync is true for a full re-sync, false for an incremental one.
	FullSync bool `json:"full_sync"`
	// IsInitialSync is true for the connection's first sync of the model.
	IsInitialSync bool `json:"is_initial_sync"`
	// RecordsSynced counts the records created or changed by this sync.
	RecordsSynced int64 `json:"records_synced"`
	// RecordsDeleted counts the records marked remote_was_deleted.
	RecordsDeleted int64     `json:"records_deleted"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at"`
	// NextSyncAt is when the next sync of the model is planned, if known.
	NextSyncAt *time.Time `json:"next_sync_at,omitempty"`
}

// SyncFailedData is the data of sync.failed.
type SyncFailedData struct {
	Model    string `json:"model"`
	FullSync bool   `json:"full_sync"`
	// RecordsSynced counts the records stored before the failure; they are
	// kept.
	RecordsSynced int64     `json:"records_synced"`
	Error         ErrorData `json:"error"`
	StartedAt     time.Time `json:"started_at"`
	FailedAt      time.Time `json:"failed_at"`
	// NextSyncAt is when the sync is tried again, if planned.
	NextSyncAt *time.Time `json:"next_sync_at,omitempty"`
}

// ConnectionAuthRequiredData is the data of connection.auth_required.
type ConnectionAuthRequiredData struct {
	// Error is what the plant database answered, such as code
	// DB_AUTH_FAILED.
	Error ErrorData `json:"error"`
	// Since is when the login was first refused.
	Since time.Time `json:"since"`
}

// ConnectionStatusChangedData is the data of connection.status_changed.
type ConnectionStatusChangedData struct {
	// From and To are connection states: online, offline, degraded,
	// reauth_required (From may also be pending_enrollment).
	From string `json:"from"`
	To   string `json:"to"`
	// Reason says why, for people; empty when there is nothing to add.
	Reason    string    `json:"reason,omitempty"`
	ChangedAt time.Time `json:"changed_at"`
}

// SystemErrorData is the data of system.error.
type SystemErrorData struct {
	// Code is stable, such as WEBHOOK_ENDPOINT_DISABLED.
	Code    string `json:"code"`
	Message string `json:"message"`
	// EndpointID is the webhook endpoint concerned, if any.
	EndpointID string `json:"endpoint_id,omitempty"`
	// Details depend on the code. For WEBHOOK_ENDPOINT_DISABLED: url,
	// failing_since, last_error.
	Details map[string]any `json:"details,omitempty"`
}

// JobCompletedData is the data of job.completed.
type JobCompletedData struct {
	JobID string `json:"job_id"`
	Model string `json:"model"`
	// Operation is the write, such as "create" or "update".
	Operation string `json:"operation"`
	// Status is "completed" or "failed" (the job as a whole; per-record
	// failures are counted in Failed).
	Status    string `json:"status"`
	Total     int    `json:"total"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	// Error says why a failed job failed as a whole.
	Error      *ErrorData `json:"error,omitempty"`
	FinishedAt time.Time  `json:"finished_at"`
}

// EventType describes an event type for documentation (the OpenAPI
// document) and for test sends.
type EventType struct {
	Type        string
	Description string
	// Data is a zero value of the data struct, for schema generation.
	Data any
	// Example is sample data, sent by the test endpoint.
	Example any
}

var exampleTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// eventTypes is the catalogue, in documentation order.
var eventTypes = []EventType{
	{
		Type:        EventSyncCompleted,
		Description: "A sync of one model of a connection finished.",
		Data:        SyncCompletedData{},
		Example: SyncCompletedData{Model: "work_orders", RecordsSynced: 1250, RecordsDeleted: 3,
			StartedAt: exampleTime.Add(-42 * time.Second), FinishedAt: exampleTime, NextSyncAt: ptr(exampleTime.Add(5 * time.Minute))},
	},
	{
		Type:        EventSyncFailed,
		Description: "A sync of one model of a connection failed; records stored before the failure are kept.",
		Data:        SyncFailedData{},
		Example: SyncFailedData{Model: "work_orders", RecordsSynced: 400,
			Error:     ErrorData{Code: "SOURCE_ERROR", Message: "the plant database ended the query: ORA-01555 snapshot too old"},
			StartedAt: exampleTime.Add(-90 * time.Second), FailedAt: exampleTime, NextSyncAt: ptr(exampleTime.Add(time.Minute))},
	},
	{
		Type:        EventConnectionAuthRequired,
		Description: "The plant database refused the agent's login; update the connection's credentials on the agent.",
		Data:        ConnectionAuthRequiredData{},
		Example: ConnectionAuthRequiredData{Error: ErrorData{Code: "DB_AUTH_FAILED",
			Message: "login failed for user MAXIMO: password expired"}, Since: exampleTime},
	},
	{
		Type:        EventConnectionStatusChanged,
		Description: "A connection went online, offline (after a grace period), degraded or reauth_required.",
		Data:        ConnectionStatusChangedData{},
		Example: ConnectionStatusChangedData{From: StatusOnline, To: StatusOffline,
			Reason: "agent disconnected and did not reconnect within 60 seconds", ChangedAt: exampleTime},
	},
	{
		Type:        EventSystemError,
		Description: "Something the integration needs to know about that has no event of its own, such as a disabled webhook endpoint.",
		Data:        SystemErrorData{},
		Example: SystemErrorData{Code: SystemErrorEndpointDisabled, EndpointID: "ep_example",
			Message: "webhook endpoint disabled: every delivery failed for 24h0m0s",
			Details: map[string]any{"url": "https://example.com/hooks", "failing_since": exampleTime.Add(-24 * time.Hour),
				"last_error": "HTTP 503"}},
	},
	{
		Type:        EventJobCompleted,
		Description: "An async bulk write finished.",
		Data:        JobCompletedData{},
		Example: JobCompletedData{JobID: "job_example", Model: "work_orders", Operation: "update", Status: "completed",
			Total: 500, Succeeded: 498, Failed: 2, FinishedAt: exampleTime},
	},
}

// EventTypes returns the catalogue of event types, in documentation order.
func EventTypes() []EventType { return slices.Clone(eventTypes) }

// EventTypeNames returns the names of the event types, in documentation
// order.
func EventTypeNames() []string {
	names := make([]string, len(eventTypes))
	for i, t := range eventTypes {
		names[i] = t.Type
	}
	return names
}

// KnownEventType reports whether t is an event type.
func KnownEventType(t string) bool {
	return slices.ContainsFunc(eventTypes, func(e EventType) bool { return e.Type == t })
}

func exampleData(t string) (any, bool) {
	for _, e := range eventTypes {
		if e.Type == t {
			return e.Example, true
		}
	}
	return nil, false
}

func ptr[T any](v T) *T { return &v }

// Message is the body of every webhook request (DESIGN.md §7).
type Message struct {
	// ID is the event id, also the webhook-id header: the same on every
	// retry, so that receivers can drop duplicates.
	ID   string `json:"id"`
	Type string `json:"type"`
	// Timestamp is when the event happened (RFC 3339, UTC, microseconds),
	// not when it was sent.
	Timestamp string `json:"timestamp"`
	// ConnectionID is the connection the event is about; null for events
	// about the account.
	ConnectionID *string         `json:"connection_id"`
	Data         json.RawMessage `json:"data"`
}

// timestampLayout has a fixed number of digits, so that a message's body is
// the same bytes whenever it is built.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// messageBody builds the body of an event's webhook requests. It depends
// only on the stored event, so every attempt, on every replica, sends the
// same bytes.
func messageBody(ev store.WebhookEvent) ([]byte, error) {
	m := Message{ID: ev.ID, Type: ev.Type, Timestamp: ev.CreatedAt.UTC().Format(timestampLayout), Data: ev.Payload}
	if ev.ConnectionID != "" {
		m.ConnectionID = &ev.ConnectionID
	}
	if len(m.Data) == 0 {
		m.Data = json.RawMessage("{}")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message %s: %w", ev.ID, err)
	}
	return b, nil
}

// encodeData encodes event data, which must be a JSON object.
func encodeData(data any) (json.RawMessage, error) {
	if data == nil {
		return json.RawMessage("{}"), nil
	}
	var b []byte
	switch d := data.(type) {
	case json.RawMessage:
		b = d
	case []byte:
		b = d
	default:
		var err error
		if b, err = json.Marshal(data); err != nil {
			return nil, fmt.Errorf("encode event data: %w", err)
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("event data must be a JSON object")
	}
	return json.RawMessage(b), nil
}
