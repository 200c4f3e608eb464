// Package connectors reads and writes plant maintenance databases through
// mappings onto Plantbridge's unified model.
//
// A Connector is opened for one configured connection (system profile,
// driver, DSN, time zone, connection id). It discovers the schema, compiles
// the system's profile (package profiles) plus the connection's overrides
// into query plans checked against that schema, and then:
//
//   - Read streams the changed records of a model as batches, each with the
//     watermark to store in the same transaction as the batch;
//   - ReadByKey reads one record;
//   - Write creates or updates a record, or changes its status, in one
//     transaction, and returns the record read back;
//   - SetOverrides swaps in new per-connection mappings without a restart.
//
// The package knows nothing of HTTP or the tunnel. SQL text is built only by
// package dialect from identifiers checked against the discovered schema;
// values are always bound parameters.
package connectors

import (
	"context"
	"log/slog"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// Connector is one open connection to a maintenance system's database.
// Its methods are safe for concurrent use.
type Connector interface {
	// System returns the profile's system name, such as "maximo".
	System() string
	// Discover reads the database's tables, columns and indexes again.
	Discover(ctx context.Context) (*Schema, error)
	// Read streams the records of req.Model changed since req.Watermark.
	// emit is called with each batch in order; an error from emit stops the
	// read and is returned.
	Read(ctx context.Context, req ReadRequest, emit func(Batch) error) error
	// ReadByKey reads one record by remote id. A missing record is an error
	// wrapping ErrNotFound.
	ReadByKey(ctx context.Context, modelName, remoteID string) (*model.Record, error)
	// Write applies one write in one transaction and returns the record as
	// stored afterwards.
	Write(ctx context.Context, req WriteRequest) (*model.Record, error)
	// SetOverrides validates overrides against the profile and the
	// discovered schema and applies them to reads and writes that start
	// afterwards. When they are rejected the previous overrides stay in force.
	SetOverrides(ctx context.Context, o *Overrides) error
	// Models lists the models this connection serves: the profile's models
	// and the custom models of the overrides, sorted.
	Models() []string
	// Close closes the database handle.
	Close() error
}

// Schema is the discovered database schema.
type Schema = dialect.Schema

// Overrides are per-connection mapping changes; see package profiles.
type Overrides = profiles.Overrides

// MaxBatchRecords and MaxBatchBytes bound one batch.
const (
	MaxBatchRecords = 1000
	MaxBatchBytes   = 1 << 20
)

// ReadRequest asks for the records of one model.
type ReadRequest struct {
	// Model is the unified or custom model name.
	Model string
	// Watermark is the opaque value of the last stored batch; "" starts
	// from the beginning.
	Watermark string
	// Full ignores the watermark, reads every record inside HistoryWindow and
	// marks the last batch Final.
	Full bool
	// HistoryWindow limits a full re-sync to records changed within this
	// duration (by the model's history column); 0 reads everything.
	HistoryWindow time.Duration
	// BatchSize is the number of records per batch, at most 1000 (default).
	BatchSize int
	// Snapshot holds the row hashes of the last read, for models whose
	// watermark strategy is row_hash. It may be nil for other models.
	Snapshot Snapshot
}

// Batch is a group of records to store together with Watermark and Hashes in
// one transaction.
type Batch struct {
	Model   string
	Records []model.Record
	// Watermark is the value to store with this batch.
	Watermark string
	// Hashes are row-hash updates (remote id → hash; "" means forget the
	// key) to store with this batch.
	Hashes map[string]string
	// Final marks the last batch of a full re-sync: records of the model
	// that no batch of this re-sync carried were deleted in the source.
	Final bool
}

// Snapshot gives access to the row hashes stored from earlier batches.
type Snapshot interface {
	// Hash returns the stored hash of a record, and whether there is one.
	Hash(modelName, remoteID string) (string, bool, error)
	// Keys calls fn with every remote id that has a stored hash.
	Keys(modelName string, fn func(remoteID string) error) error
}

// WriteRequest is one write of one record.
type WriteRequest struct {
	// Model is the model written; the profile must declare the operation.
	Model string
	// Op is create, update or status.
	Op model.Op
	// RemoteID names the record for update and status.
	RemoteID string
	// Fields holds unified field values (JSON-decoded values are fine),
	// optionally remote_<enum> native codes and custom_fields.
	Fields map[string]any
	// Refs gives, for each reference field in Fields, the remote id of the
	// referenced record, which the caller resolves from the unified id. The
	// connector checks that the two agree.
	Refs map[string]string
	// Memo is written to history rows, such as the reason of a status change.
	Memo string
}

// Config configures Open.
type Config struct {
	// ConnectionID is the relay's id of the connection; record ids derive from it.
	ConnectionID string
	// System names the embedded profile: maximo, generic, ….
	System string
	// Driver is sqlite, postgres, sqlserver or oracle.
	Driver string
	// DSN is the driver's data source name.
	DSN string
	// SchemaName is the database schema (owner) to use; default the
	// connection's current schema.
	SchemaName string
	// Location is the time zone of the source's local times; default UTC.
	Location *time.Location
	// WriteUser is written to CHANGEBY-style columns; default "PLANTBRIDGE".
	WriteUser string
	// Profile replaces the embedded profile (tests, or a profile under development).
	Profile *profiles.Profile
	// Overrides are applied at open; if they are rejected Open fails.
	Overrides *Overrides
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives diagnostics; default discards.
	Logger *slog.Logger
}
