package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// MappingsFile is the file in the state directory that holds the connection's mapping
// overrides as the relay last set them (a profiles.Overrides document in JSON).
const MappingsFile = "mappings.json"

// source opens the maintenance system's connector on first use, so that a database
// that is down when the agent starts delays reads instead of stopping the agent. It
// applies the mapping overrides kept in the state directory on every open.
type source struct {
	cfg     *ConnectionConfig
	agentID string
	// stateDir holds MappingsFile.
	stateDir string
	// log may be nil (discard).
	log *slog.Logger

	mu   sync.Mutex // guards the fields below
	conn connectors.Connector
	// loaded tells whether MappingsFile has been read into persisted.
	loaded bool
	// persisted are the overrides in MappingsFile; nil: none.
	persisted *connectors.Overrides
	// inForce are the overrides the open connector applies; nil: none.
	inForce *connectors.Overrides
	// rejected says why the persisted overrides are not in force, when they are not.
	rejected *mappingsRejection
}

// mappingsRejection records persisted overrides that the database no longer fits (a
// column was dropped, the profile changed), or a MappingsFile that cannot be read.
type mappingsRejection struct {
	At       time.Time `json:"at"`
	Problems []string  `json:"problems"`
}

func (s *source) logger() *slog.Logger {
	if s.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.log
}

func (s *source) get(ctx context.Context) (connectors.Connector, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(ctx)
}

func (s *source) getLocked(ctx context.Context) (connectors.Connector, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	s.loadLocked()
	c, err := connectors.Open(ctx, connectors.Config{
		ConnectionID: s.agentID,
		System:       s.cfg.System,
		Driver:       s.cfg.Driver,
		// Read again on every open: a fixed password takes effect on the next retry.
		DSN:      s.cfg.CurrentDSN(),
		Location: s.cfg.Location(),
		Logger:   s.log,
	})
	if err != nil {
		return nil, err
	}
	s.inForce = nil
	if o := s.persisted; o != nil {
		// Applied after the open rather than through Config.Overrides, which would fail
		// the open: overrides that no longer fit must not stop the agent from syncing
		// with the profile's own mapping.
		if err := c.SetOverrides(ctx, o); err != nil {
			s.rejected = &mappingsRejection{At: time.Now().UTC(), Problems: overrideProblems(err)}
			s.logger().Error("MAPPING OVERRIDES NOT APPLIED: they no longer fit this database; the agent syncs "+
				"with the profile's mapping alone until the relay sets overrides that fit",
				"file", s.mappingsPath(), "problems", s.rejected.Problems)
		} else {
			s.inForce, s.rejected = o, nil
			s.logger().Info("mapping overrides applied", "file", s.mappingsPath())
		}
	}
	s.conn = c
	return c, nil
}

// loadLocked reads MappingsFile once. A file that cannot be read or parsed is reported
// like overrides that do not fit: loudly, and the agent runs without it.
func (s *source) loadLocked() {
	if s.loaded {
		return
	}
	s.loaded = true
	o, err := readMappings(s.mappingsPath())
	if err != nil {
		s.rejected = &mappingsRejection{At: time.Now().UTC(), Problems: []string{err.Error()}}
		s.logger().Error("MAPPING OVERRIDES NOT APPLIED: the file cannot be read; the agent syncs with the "+
			"profile's mapping alone until the relay sets overrides again", "file", s.mappingsPath(), "err", err)
		return
	}
	s.persisted = o
}

func (s *source) mappingsPath() string { return filepath.Join(s.stateDir, MappingsFile) }

// readMappings reads a mappings file; a missing file means no overrides.
func readMappings(path string) (*connectors.Overrides, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	o, err := profiles.ParseOverrides(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// overrides returns the overrides in force, or while the database has not been opened
// yet, those that will be applied when it is.
func (s *source) overrides() *connectors.Overrides {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return s.inForce
	}
	s.loadLocked()
	return s.persisted
}

// models lists the models of the open connector; nil before the database is opened.
func (s *source) models() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	return s.conn.Models()
}

// mappingsProblem says why the persisted overrides are not in force; nil when they are
// (or there are none).
func (s *source) mappingsProblem() *mappingsRejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// errSourceReset means the connector was closed (after a database failure) while a
// mapping change was being checked.
var errSourceReset = &connectors.Error{Class: connectors.Unreachable, Op: "set overrides",
	Err: errors.New("the database connection was reset while the overrides were checked")}

// Errors of setOverrides besides the database's.
var (
	// errRejected: the overrides do not fit the profile or the schema.
	errRejected = errors.New("overrides rejected")
	// errPersist: the overrides could not be written to the state directory.
	errPersist = errors.New("persist overrides")
)

// setOverrides validates o against the profile and the database's current schema,
// applies it, and persists doc (o's canonical form) so that it survives restarts. When
// o is rejected, or cannot be persisted, the previous overrides stay in force.
func (s *source) setOverrides(ctx context.Context, o *connectors.Overrides, doc []byte) error {
	c, err := s.get(ctx)
	if err != nil {
		return err
	}
	// Discovering again lets overrides name a column the plant added since the agent
	// started; it also proves the database is there before anything is persisted.
	if _, err := c.Discover(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c {
		return errSourceReset
	}
	prev := s.inForce
	if err := c.SetOverrides(ctx, o); err != nil {
		return fmt.Errorf("%w: %w", errRejected, err)
	}
	if err := writeFileDurably(s.mappingsPath(), doc); err != nil {
		if rerr := c.SetOverrides(ctx, prev); rerr != nil {
			// The previous overrides compiled a moment ago; if they no longer do, the
			// connector is unusable until it is opened again.
			s.logger().Error("restore previous overrides", "err", rerr)
			s.conn.Close()
			s.conn = nil
		}
		return fmt.Errorf("%w: %w", errPersist, err)
	}
	s.loaded, s.persisted, s.inForce, s.rejected = true, o, o, nil
	return nil
}

// overrideProblems lists the problems of rejected overrides, each "path: what".
func overrideProblems(err error) []string {
	var probs profiles.Problems
	if errors.As(err, &probs) {
		return slices.Clone(probs)
	}
	return []string{err.Error()}
}

// writeFileDurably replaces path with data (mode 0600) through a temporary file, an
// fsync and a rename, then syncs the directory, so that after a crash the file holds
// either the old or the new document, never part of one.
func writeFileDurably(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename there is nothing left to remove
	if err := f.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing; NTFS journals the rename
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *source) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// errEnough stops a read once the sample is complete.
var errEnough = errors.New("sample complete")

// serveSample answers GET /v1/agent/models/{model}/sample?limit=N: the first records of a
// model, read from the source and mapped onto the unified model.
func (a *Agent) serveSample(w http.ResponseWriter, r *http.Request) {
	if a.source == nil {
		a.fail(w, r, errNoConnection)
		return
	}
	limit := 5
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > connectors.MaxBatchRecords {
			a.fail(w, r, invalid("limit must be 1 to 1000"))
			return
		}
		limit = n
	}
	c, err := a.source.get(r.Context())
	if err != nil {
		a.fail(w, r, sourceFailure(err))
		return
	}
	name := r.PathValue("model")
	if !slices.Contains(c.Models(), name) {
		a.fail(w, r, &relayError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "this connection has no model " + strconv.Quote(name)})
		return
	}
	var records []model.Record
	err = c.Read(r.Context(), connectors.ReadRequest{Model: name, Full: true, BatchSize: limit}, func(b connectors.Batch) error {
		records = append(records, b.Records...)
		return errEnough
	})
	if err != nil && !errors.Is(err, errEnough) {
		a.fail(w, r, sourceFailure(err))
		return
	}
	if r.URL.Query().Get("include_remote_data") != "true" {
		for i := range records {
			records[i].RemoteData = nil
		}
	}
	if records == nil {
		records = []model.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": records})
}

// relayError is an answer to the relay other than 2xx: a wire.Error, its HTTP status,
// and the internal cause, which is logged with the request id and never sent (driver
// text can name hosts and users).
type relayError struct {
	status int
	code   string
	msg    string
	fields []wire.FieldError
	cause  error
}

func (e *relayError) wire() *wire.Error {
	return &wire.Error{Code: e.code, Message: e.msg, Fields: e.fields}
}

var errNoConnection = &relayError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "this agent has no connection configured"}

func invalid(msg string, fields ...wire.FieldError) *relayError {
	return &relayError{status: http.StatusBadRequest, code: "INVALID_REQUEST", msg: msg, fields: fields}
}

func internal(cause error) *relayError {
	return &relayError{status: http.StatusInternalServerError, code: "INTERNAL", msg: "the agent failed to serve the request; its log has the details", cause: cause}
}

// sourceFailure describes a database failure by its class, for the relay.
func sourceFailure(err error) *relayError {
	e := &relayError{cause: err}
	var ce *connectors.Error
	table := ""
	if errors.As(err, &ce) && ce.Table != "" {
		table = " " + ce.Table
	}
	switch connectors.Classify(err) {
	case connectors.Unreachable:
		e.status, e.code, e.msg = http.StatusServiceUnavailable, "CONNECTION_UNREACHABLE", "the plant database is unreachable"
	case connectors.AuthFailed:
		e.status, e.code, e.msg = http.StatusServiceUnavailable, "REAUTH_REQUIRED", "the plant database refused the agent's login"
	case connectors.PermissionDenied:
		e.status, e.code, e.msg = http.StatusBadGateway, "SOURCE_ERROR", "the agent's database user lacks a permission on table"+table
		if table == "" {
			e.msg = "the agent's database user lacks a permission on a mapped table"
		}
	case connectors.Busy:
		e.status, e.code, e.msg = http.StatusServiceUnavailable, "SOURCE_RATE_LIMITED", "the plant database is busy"
	case connectors.BadRequest:
		e.status, e.code, e.msg = http.StatusBadRequest, "INVALID_REQUEST", "the request does not fit this connection's mapping"
	default:
		e.status, e.code, e.msg = http.StatusBadGateway, "SOURCE_ERROR", "the plant database returned an error"
	}
	return e
}

// fail answers the relay with e and logs it with the request id; the cause only goes to
// the log.
func (a *Agent) fail(w http.ResponseWriter, r *http.Request, e *relayError) {
	log := a.logFor(r)
	attrs := []any{"status", e.status, "code", e.code}
	if e.cause != nil {
		attrs = append(attrs, "err", e.cause)
	}
	if e.status >= 500 {
		log.Warn("relay call failed", attrs...)
	} else {
		log.Info("relay call refused", append(attrs, "message", e.msg)...)
	}
	writeJSON(w, e.status, wire.ErrorBody{Error: *e.wire()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

// decodeBody reads a JSON body strictly: at most limit bytes, no unknown fields,
// numbers kept exact, nothing after the object. Its errors are answers to the relay.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) *relayError {
	body, rerr := readBody(w, r, limit)
	if rerr != nil {
		return rerr
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return invalid("malformed JSON body: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("malformed JSON body: data after the JSON value")
	}
	return nil
}

// readBody reads a body of at most limit bytes; a larger one is a 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *relayError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &relayError{status: http.StatusRequestEntityTooLarge, code: "PAYLOAD_TOO_LARGE",
				msg: fmt.Sprintf("the body is larger than %d bytes", limit)}
		}
		return nil, invalid("the body could not be read")
	}
	return body, nil
}
