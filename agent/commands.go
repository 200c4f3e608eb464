package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// commandRoutes adds the relay's commands to mux: mapping overrides, schema discovery,
// writes, read-only passthrough SQL and diagnostics (see package wire for the paths).
func (a *Agent) commandRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+wire.PathMappings, a.serveGetMappings)
	mux.HandleFunc("PUT "+wire.PathMappings, a.servePutMappings)
	mux.HandleFunc("GET "+wire.PathSchema, a.serveSchema)
	mux.HandleFunc("POST "+wire.PathWrites, a.serveWrites)
	mux.HandleFunc("POST "+wire.PathPassthrough, a.servePassthrough)
	mux.HandleFunc("GET "+wire.PathDiagnostics, a.serveDiagnostics)
}

// Request ids.

type logKey struct{}

// maxRequestID bounds a request id taken from the relay.
const maxRequestID = 128

// withRequestIDs gives every relay call a logger carrying its request id (the relay's
// X-Request-Id, or one made here when the relay sent none), echoes the id in the
// answer, and logs one line per call: method, path, status, duration, request id.
func (a *Agent) withRequestIDs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := cleanRequestID(r.Header.Get(wire.HeaderRequestID))
		r.Header.Set(wire.HeaderRequestID, id)
		w.Header().Set(wire.HeaderRequestID, id)
		log := a.log.With("request_id", id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), logKey{}, log)))
		log.Info("relay call", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

// cleanRequestID keeps a relay's request id printable and short; an empty one is
// replaced by an id of the agent's own, so that the lines of one call still group.
func cleanRequestID(id string) string {
	id = strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f {
			return -1
		}
		return r
	}, id)
	if len(id) > maxRequestID {
		id = id[:maxRequestID]
	}
	if id == "" {
		var b [8]byte
		rand.Read(b[:])
		id = "agt_" + hex.EncodeToString(b[:])
	}
	return id
}

// logFor returns the request's logger, which carries its request id.
func (a *Agent) logFor(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return a.log.With("request_id", r.Header.Get(wire.HeaderRequestID))
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Mapping overrides.

// maxMappingsBody bounds a mappings document, as package profiles does.
const maxMappingsBody = 1 << 20

// serveGetMappings answers GET wire.PathMappings: the overrides in force (before the
// database is first opened: those that will be applied), {"version": 1} when none.
func (a *Agent) serveGetMappings(w http.ResponseWriter, r *http.Request) {
	if a.source == nil {
		a.fail(w, r, errNoConnection)
		return
	}
	doc, err := overridesJSON(a.source.overrides())
	if err != nil {
		a.fail(w, r, internal(err))
		return
	}
	writeRaw(w, http.StatusOK, doc)
}

// servePutMappings answers PUT wire.PathMappings. The document is checked for form
// (JSON, version 1, known keys: else 400 INVALID_REQUEST), then against the profile and
// the database's schema (else 400 VALIDATION_FAILED listing every problem); only then
// is it applied and persisted, and answered with its stored form. Until then the
// previous overrides stay in force. A database that cannot be reached is a 503: the
// overrides cannot be checked, so they are not kept.
func (a *Agent) servePutMappings(w http.ResponseWriter, r *http.Request) {
	if a.source == nil {
		a.fail(w, r, errNoConnection)
		return
	}
	body, rerr := readBody(w, r, maxMappingsBody)
	if rerr != nil {
		a.fail(w, r, rerr)
		return
	}
	o, rerr := parseOverrides(body)
	if rerr != nil {
		a.fail(w, r, rerr)
		return
	}
	doc, err := overridesJSON(o)
	if err != nil {
		a.fail(w, r, internal(err))
		return
	}
	if err := a.source.setOverrides(r.Context(), o, doc); err != nil {
		switch {
		case errors.Is(err, errRejected):
			a.fail(w, r, &relayError{status: http.StatusBadRequest, code: "VALIDATION_FAILED",
				msg:    "the mapping overrides do not fit this connection's profile and database; the previous overrides stay in force",
				fields: problemFields(overrideProblems(err))})
		case errors.Is(err, errPersist):
			a.fail(w, r, internal(err))
		default:
			a.fail(w, r, sourceFailure(err))
		}
		return
	}
	a.logFor(r).Info("mapping overrides set", "models", len(o.Models), "custom_models", len(o.CustomModels),
		"file", a.source.mappingsPath())
	// Custom models added or removed change what the schedule syncs, at once.
	if a.scheduler != nil {
		if c, err := a.source.get(r.Context()); err == nil {
			a.scheduler.NoteModels(c.Models())
		}
	}
	writeRaw(w, http.StatusOK, doc)
}

// parseOverrides reads a mappings document: JSON, version 1, no unknown keys, and the
// structure package profiles checks without a database.
func parseOverrides(body []byte) (*connectors.Overrides, *relayError) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, invalid("malformed JSON body: " + err.Error())
	}
	if top == nil {
		return nil, invalid("the body must be a JSON object")
	}
	var v int
	if raw, ok := top["version"]; !ok || json.Unmarshal(raw, &v) != nil || v != 1 {
		return nil, invalid("version must be 1", wire.FieldError{Pointer: "/version", Message: "must be 1"})
	}
	o, err := profiles.ParseOverrides(body)
	var probs profiles.Problems
	switch {
	case errors.As(err, &probs):
		return nil, &relayError{status: http.StatusBadRequest, code: "VALIDATION_FAILED",
			msg: "the mapping overrides are not valid; the previous overrides stay in force", fields: problemFields(probs)}
	case err != nil:
		// Unknown keys and values of the wrong type, with their lines.
		msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "parse overrides: "), "\n ", ";")
		return nil, invalid("the mapping overrides are not a valid document: " + msg)
	}
	return o, nil
}

// problemFields turns "models.work_orders.joins[0].table: what" into a pointer
// (/models/work_orders/joins/0/table) and a message.
func problemFields(probs []string) []wire.FieldError {
	out := make([]wire.FieldError, 0, len(probs))
	for _, p := range probs {
		path, msg, ok := strings.Cut(p, ": ")
		if !ok {
			out = append(out, wire.FieldError{Pointer: "", Message: p})
			continue
		}
		segs := strings.FieldsFunc(path, func(r rune) bool { return r == '.' || r == '[' || r == ']' })
		out = append(out, wire.FieldError{Pointer: model.Pointer(segs...), Message: msg})
	}
	return out
}

// overridesJSON is the stored and answered form of overrides.
func overridesJSON(o *connectors.Overrides) ([]byte, error) {
	if o == nil {
		o = &connectors.Overrides{Version: 1}
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode overrides: %w", err)
	}
	return append(b, '\n'), nil
}

// Schema.

// serveSchema answers GET wire.PathSchema: the tables, views, columns (native type,
// kind, nullability) and indexes (unique, primary) the agent discovers now.
func (a *Agent) serveSchema(w http.ResponseWriter, r *http.Request) {
	if a.source == nil {
		a.fail(w, r, errNoConnection)
		return
	}
	c, err := a.source.get(r.Context())
	if err != nil {
		a.fail(w, r, sourceFailure(err))
		return
	}
	s, err := c.Discover(r.Context())
	if err != nil {
		a.fail(w, r, sourceFailure(err))
		return
	}
	out := schemaJSON{Dialect: s.Dialect, SchemaName: s.SchemaName, Tables: s.Tables}
	if out.Tables == nil {
		out.Tables = []*dialect.Table{}
	}
	writeJSON(w, http.StatusOK, out)
}

// schemaJSON is dialect.Schema's JSON form with an empty table list as [].
type schemaJSON struct {
	Dialect    string           `json:"dialect"`
	SchemaName string           `json:"schema,omitempty"`
	Tables     []*dialect.Table `json:"tables"`
}

// Writes.

// Write limits: the relay's batch endpoint takes up to 100 records.
const (
	maxWrites     = 100
	maxWritesBody = 8 << 20
)

// serveWrites answers POST wire.PathWrites. A malformed batch (bad JSON, unknown keys,
// no or more than 100 writes, an unknown op, a missing remote id) is a 400 before the
// database is touched, and so is a model the connection does not have (404). Otherwise
// the answer is 200 with one result per write, in order: the record as stored, or why
// that write failed. Writes run one by one, each in its own transaction; once the
// database is unreachable or refuses the login, the rest are not attempted.
func (a *Agent) serveWrites(w http.ResponseWriter, r *http.Request) {
	if a.source == nil {
		a.fail(w, r, errNoConnection)
		return
	}
	var b wire.WriteBatch
	if e := decodeBody(w, r, maxWritesBody, &b); e != nil {
		a.fail(w, r, e)
		return
	}
	if e := checkWriteBatch(&b); e != nil {
		a.fail(w, r, e)
		return
	}
	log := a.logFor(r)
	ctx := r.Context()
	results := make([]wire.WriteResult, len(b.Writes))
	c, err := a.source.get(ctx)
	if err != nil {
		f := sourceFailure(err)
		log.Warn("writes not attempted", "model", b.Model, "writes", len(b.Writes), "code", f.code, "err", err)
		for i := range results {
			results[i].Error = &wire.Error{Code: f.code, Message: "not attempted: " + f.msg}
		}
		writeJSON(w, http.StatusOK, wire.WriteResults{Results: results})
		return
	}
	if !slices.Contains(c.Models(), b.Model) {
		a.fail(w, r, &relayError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "this connection has no model " + strconv.Quote(b.Model)})
		return
	}
	var stop *wire.Error
	for i, wr := range b.Writes {
		if stop == nil && ctx.Err() != nil {
			stop = &wire.Error{Code: "SOURCE_ERROR", Message: "not attempted: the relay gave up on the call"}
		}
		if stop != nil {
			results[i].Error = stop
			continue
		}
		start := time.Now()
		rec, err := c.Write(ctx, connectors.WriteRequest{Model: b.Model, Op: model.Op(wr.Op), RemoteID: wr.RemoteID,
			Fields: wr.Fields, Refs: wr.Refs, Memo: wr.Memo})
		attrs := []any{"model", b.Model, "op", wr.Op, "index", i, "duration", time.Since(start).Round(time.Microsecond)}
		if err != nil {
			we := writeFailure(err)
			results[i].Error = we
			if we.Code == "CONNECTION_UNREACHABLE" || we.Code == "REAUTH_REQUIRED" {
				stop = &wire.Error{Code: we.Code, Message: "not attempted: " + we.Message}
			}
			log.Warn("write failed", append(attrs, "remote_id", wr.RemoteID, "code", we.Code, "err", err)...)
			continue
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			// Written, but not representable: say so rather than fail the batch.
			log.Error("encode written record", append(attrs, "remote_id", rec.RemoteID, "err", err)...)
			results[i].Error = &wire.Error{Code: "INTERNAL", Message: "the record was written but could not be encoded"}
			continue
		}
		results[i].Record = raw
		log.Info("write", append(attrs, "remote_id", rec.RemoteID)...)
	}
	writeJSON(w, http.StatusOK, wire.WriteResults{Results: results})
}

// checkWriteBatch checks what needs no database, listing every problem.
func checkWriteBatch(b *wire.WriteBatch) *relayError {
	var fields []wire.FieldError
	add := func(ptr, msg string) { fields = append(fields, wire.FieldError{Pointer: ptr, Message: msg}) }
	if b.Model == "" {
		add("/model", "is required")
	}
	switch n := len(b.Writes); {
	case n == 0:
		add("/writes", "must hold at least one write")
	case n > maxWrites:
		add("/writes", fmt.Sprintf("holds %d writes; at most %d per call", n, maxWrites))
	}
	for i, wr := range b.Writes {
		ptr := "/writes/" + strconv.Itoa(i)
		switch model.Op(wr.Op) {
		case model.OpCreate:
			if wr.RemoteID != "" {
				add(ptr+"/remote_id", "must be empty on create: the system assigns it")
			}
		case model.OpUpdate, model.OpStatus:
			if wr.RemoteID == "" {
				add(ptr+"/remote_id", "is required for "+wr.Op)
			}
		default:
			add(ptr+"/op", "must be create, update or status")
		}
		if wr.Fields == nil {
			add(ptr+"/fields", "is required")
		}
		if len(fields) > 20 {
			break
		}
	}
	if len(fields) > 0 {
		return invalid("malformed write batch", fields...)
	}
	return nil
}

// writeFailure says why one write failed, in terms the relay passes on.
func writeFailure(err error) *wire.Error {
	var ve *connectors.ValidationError
	var ce *connectors.Error
	switch {
	case errors.As(err, &ve):
		return &wire.Error{Code: "VALIDATION_FAILED", Message: "the record is not valid for this system", Fields: ve.Fields}
	case errors.Is(err, connectors.ErrNotFound):
		return &wire.Error{Code: "NOT_FOUND", Message: "the record does not exist in the plant database"}
	case errors.Is(err, connectors.ErrReadOnly) && errors.As(err, &ce):
		// The connector's own words (the profile's reason), not a driver's.
		return &wire.Error{Code: "INVALID_REQUEST", Message: ce.Err.Error()}
	case connectors.Classify(err) == connectors.BadRequest:
		return &wire.Error{Code: "INVALID_REQUEST", Message: "the plant database refused the write's values (a constraint, a column's type or a required column); the agent's log has its message"}
	}
	return sourceFailure(err).wire()
}

// Passthrough.

// Passthrough limits.
const (
	maxPassthroughBody    = 1 << 20
	passthroughRowsCap    = 10000 // wire.PassthroughRequest.MaxRows at most
	passthroughDefaultCap = 1000  // when agent.yaml sets no passthrough.max_rows
)

// servePassthrough answers POST wire.PathPassthrough: one read-only statement (see
// connectors.SQLConnector.Passthrough for how each database enforces it). It is a 403
// unless agent.yaml enables it. The rows returned are the fewer of the request's
// max_rows (default 100) and agent.yaml's passthrough.max_rows; the time limit is the
// request's timeout_ms (default 10 s, at most 60 s).
func (a *Agent) servePassthrough(w http.ResponseWriter, r *http.Request) {
	if !a.cfg.Passthrough.Enabled {
		a.fail(w, r, &relayError{status: http.StatusForbidden, code: "PERMISSION_DENIED",
			msg: "passthrough is disabled on this agent; plant IT can enable it in agent.yaml"})
		return
	}
	if a.source == nil {
		a.fail(w, r, errNoConnection)
		return
	}
	var req wire.PassthroughRequest
	if e := decodeBody(w, r, maxPassthroughBody, &req); e != nil {
		a.fail(w, r, e)
		return
	}
	params, e := checkPassthrough(&req)
	if e != nil {
		a.fail(w, r, e)
		return
	}
	rows := req.MaxRows
	if rows == 0 {
		rows = connectors.DefaultPassthroughRows
	}
	limit := a.cfg.Passthrough.MaxRows
	if limit <= 0 {
		limit = passthroughDefaultCap
	}
	rows = min(rows, limit)
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout == 0 {
		timeout = connectors.DefaultPassthroughTimeout
	}
	c, err := a.source.get(r.Context())
	if err != nil {
		a.fail(w, r, sourceFailure(err))
		return
	}
	pt, ok := c.(interface {
		Passthrough(context.Context, connectors.PassthroughRequest) (*connectors.PassthroughResult, error)
	})
	if !ok {
		a.fail(w, r, internal(fmt.Errorf("connector %T has no passthrough", c)))
		return
	}
	log := a.logFor(r)
	start := time.Now()
	res, err := pt.Passthrough(r.Context(), connectors.PassthroughRequest{SQL: req.SQL, Params: params, MaxRows: rows, Timeout: timeout})
	// Plant IT can see in the log what the cloud ran on their database; the parameters
	// are left out, as they may hold personal data.
	attrs := []any{"sql", req.SQL, "params", len(params), "max_rows", rows, "timeout", timeout, "duration", time.Since(start).Round(time.Microsecond)}
	if err != nil {
		log.Info("passthrough failed", append(attrs, "err", err)...)
		a.fail(w, r, passthroughFailure(err, timeout))
		return
	}
	log.Info("passthrough", append(attrs, "rows", len(res.Rows), "truncated", res.Truncated)...)
	writeJSON(w, http.StatusOK, wire.PassthroughResult{Columns: res.Columns, Rows: res.Rows, Truncated: res.Truncated})
}

// checkPassthrough checks a passthrough request's limits and converts its parameters
// for the driver: integers to int64, other numbers to float64.
func checkPassthrough(req *wire.PassthroughRequest) ([]any, *relayError) {
	var fields []wire.FieldError
	add := func(ptr, msg string) { fields = append(fields, wire.FieldError{Pointer: ptr, Message: msg}) }
	if strings.TrimSpace(req.SQL) == "" {
		add("/sql", "is required")
	}
	if req.MaxRows < 0 || req.MaxRows > passthroughRowsCap {
		add("/max_rows", fmt.Sprintf("must be 1 to %d (0 or absent: %d)", passthroughRowsCap, connectors.DefaultPassthroughRows))
	}
	if req.TimeoutMS < 0 || time.Duration(req.TimeoutMS)*time.Millisecond > connectors.MaxPassthroughTimeout {
		add("/timeout_ms", fmt.Sprintf("must be 1 to %d (0 or absent: %d)", connectors.MaxPassthroughTimeout.Milliseconds(),
			connectors.DefaultPassthroughTimeout.Milliseconds()))
	}
	params := make([]any, len(req.Params))
	for i, p := range req.Params {
		switch x := p.(type) {
		case nil, string, bool:
			params[i] = x
		case json.Number:
			if n, err := x.Int64(); err == nil {
				params[i] = n
			} else if f, err := x.Float64(); err == nil && !math.IsInf(f, 0) {
				params[i] = f
			} else {
				add("/params/"+strconv.Itoa(i), "is not a number a database can bind")
			}
		default:
			add("/params/"+strconv.Itoa(i), "must be a string, number, boolean or null")
		}
	}
	if len(fields) > 0 {
		return nil, invalid("malformed passthrough request", fields...)
	}
	return params, nil
}

// passthroughFailure says why a statement failed without the database's words, which
// can name hosts and users; the agent's log has them.
func passthroughFailure(err error, timeout time.Duration) *relayError {
	var se *connectors.StatementError
	switch {
	case errors.As(err, &se) && errors.Is(err, connectors.ErrNotReadOnly):
		return &relayError{status: http.StatusForbidden, code: "PERMISSION_DENIED", msg: se.Error(), cause: err}
	case errors.As(err, &se):
		return &relayError{status: http.StatusBadRequest, code: "INVALID_REQUEST", msg: se.Error(), cause: err}
	case errors.Is(err, connectors.ErrNotReadOnly):
		return &relayError{status: http.StatusForbidden, code: "PERMISSION_DENIED", cause: err,
			msg: "passthrough runs read-only statements only; the database refused this one as a change"}
	case errors.Is(err, connectors.ErrStatementTimeout):
		return &relayError{status: http.StatusBadRequest, code: "INVALID_REQUEST", cause: err,
			msg: fmt.Sprintf("the statement ran longer than its time limit of %s; narrow it, or raise timeout_ms (at most %d)",
				timeout, connectors.MaxPassthroughTimeout.Milliseconds())}
	}
	switch connectors.Classify(err) {
	case connectors.BadRequest:
		return &relayError{status: http.StatusBadRequest, code: "INVALID_REQUEST", cause: err,
			msg: "the database rejected the statement (a syntax error, an unknown table or column, or a parameter that does not fit); the agent's log has its message"}
	case connectors.PermissionDenied:
		return &relayError{status: http.StatusForbidden, code: "PERMISSION_DENIED", cause: err,
			msg: "the agent's database user may not read something the statement names"}
	}
	return sourceFailure(err)
}

// Diagnostics.

// Diagnostics is the snapshot GET wire.PathDiagnostics answers. It never holds a
// secret: no DSN, no credential.
type Diagnostics struct {
	AgentID       string                 `json:"agent_id"`
	Version       string                 `json:"version"`
	OS            string                 `json:"os"`
	GoVersion     string                 `json:"go_version"`
	StartedAt     time.Time              `json:"started_at"`
	UptimeSeconds int64                  `json:"uptime_seconds"`
	Tunnel        tunnel.Status          `json:"tunnel"`
	Connection    *DiagnosticsConnection `json:"connection"`
	Database      DiagnosticsDatabase    `json:"database"`
	// Models are the models the connection serves; empty until the database was opened.
	Models      []string               `json:"models"`
	Mappings    DiagnosticsMappings    `json:"mappings"`
	Passthrough DiagnosticsPassthrough `json:"passthrough"`
	Runtime     DiagnosticsRuntime     `json:"runtime"`
}

// DiagnosticsConnection names the plant system, without the DSN.
type DiagnosticsConnection struct {
	System   string `json:"system"`
	Driver   string `json:"driver"`
	Timezone string `json:"timezone"`
}

// DiagnosticsDatabase is a check of the plant database made for the snapshot.
type DiagnosticsDatabase struct {
	// State is one of the wire.DB* states, or "error" for a failure of no known class.
	State     string      `json:"state"`
	LatencyMS float64     `json:"latency_ms"`
	CheckedAt time.Time   `json:"checked_at"`
	Error     *wire.Error `json:"error,omitempty"`
}

// DiagnosticsMappings are the mapping overrides.
type DiagnosticsMappings struct {
	// Overrides are those in force (or to be applied when the database is first opened).
	Overrides json.RawMessage `json:"overrides"`
	// Rejected, when set, says why the persisted overrides are not in force.
	Rejected *mappingsRejection `json:"rejected,omitempty"`
}

// DiagnosticsPassthrough is the passthrough setting of agent.yaml.
type DiagnosticsPassthrough struct {
	Enabled bool `json:"enabled"`
	MaxRows int  `json:"max_rows"`
}

// DiagnosticsRuntime is the Go runtime's view of the agent process.
type DiagnosticsRuntime struct {
	Goroutines       int    `json:"goroutines"`
	GOMAXPROCS       int    `json:"gomaxprocs"`
	NumCPU           int    `json:"num_cpu"`
	HeapAllocBytes   uint64 `json:"heap_alloc_bytes"`
	HeapInuseBytes   uint64 `json:"heap_inuse_bytes"`
	HeapSysBytes     uint64 `json:"heap_sys_bytes"`
	StackInuseBytes  uint64 `json:"stack_inuse_bytes"`
	SysBytes         uint64 `json:"sys_bytes"`
	TotalAllocBytes  uint64 `json:"total_alloc_bytes"`
	NumGC            uint32 `json:"num_gc"`
	GCPauseTotalNS   uint64 `json:"gc_pause_total_ns"`
	MemoryLimitBytes int64  `json:"memory_limit_bytes"`
}

// dbCheckTimeout bounds the database check of a diagnostics snapshot.
const dbCheckTimeout = 5 * time.Second

// serveDiagnostics answers GET wire.PathDiagnostics.
func (a *Agent) serveDiagnostics(w http.ResponseWriter, r *http.Request) {
	d := a.diagnostics(r.Context())
	body, err := json.Marshal(d)
	if err != nil {
		a.fail(w, r, internal(err))
		return
	}
	writeRaw(w, http.StatusOK, redact(append(body, '\n'), a.secrets()))
}

func (a *Agent) diagnostics(ctx context.Context) Diagnostics {
	now := time.Now()
	d := Diagnostics{AgentID: a.cfg.Agent.ID, Version: version.Version, OS: runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(), StartedAt: a.started.UTC(), UptimeSeconds: int64(now.Sub(a.started).Seconds()),
		Tunnel: a.client.Status(), Models: []string{}, Mappings: DiagnosticsMappings{Overrides: json.RawMessage("null")},
		Database:    DiagnosticsDatabase{State: wire.DBUnknown, CheckedAt: now.UTC()},
		Passthrough: DiagnosticsPassthrough{Enabled: a.cfg.Passthrough.Enabled, MaxRows: a.cfg.Passthrough.MaxRows}}
	if d.Passthrough.MaxRows <= 0 {
		d.Passthrough.MaxRows = passthroughDefaultCap
	}
	if c := a.cfg.Connection; c != nil {
		d.Connection = &DiagnosticsConnection{System: c.System, Driver: c.Driver, Timezone: c.Location().String()}
	}
	if a.source != nil {
		d.Database = a.checkDatabase(ctx)
		if doc, err := overridesJSON(a.source.overrides()); err == nil {
			d.Mappings.Overrides = doc
		}
		d.Mappings.Rejected = a.source.mappingsProblem()
		if m := a.source.models(); m != nil {
			d.Models = m
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	d.Runtime = DiagnosticsRuntime{Goroutines: runtime.NumGoroutine(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		HeapAllocBytes: ms.HeapAlloc, HeapInuseBytes: ms.HeapInuse, HeapSysBytes: ms.HeapSys, StackInuseBytes: ms.StackInuse,
		SysBytes: ms.Sys, TotalAllocBytes: ms.TotalAlloc, NumGC: ms.NumGC, GCPauseTotalNS: ms.PauseTotalNs,
		MemoryLimitBytes: debug.SetMemoryLimit(-1)}
	return d
}

// checkDatabase opens the connector if needed and pings the database.
func (a *Agent) checkDatabase(ctx context.Context) DiagnosticsDatabase {
	ctx, cancel := context.WithTimeout(ctx, dbCheckTimeout)
	defer cancel()
	start := time.Now()
	c, err := a.source.get(ctx)
	if err == nil {
		if p, ok := c.(interface{ Ping(context.Context) error }); ok {
			err = p.Ping(ctx)
		}
	}
	db := DiagnosticsDatabase{State: wire.DBReachable, CheckedAt: start.UTC(),
		LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		db.State = map[connectors.Class]string{connectors.Unreachable: wire.DBUnreachable, connectors.AuthFailed: wire.DBAuthFailed,
			connectors.PermissionDenied: wire.DBPermissionDenied, connectors.Busy: wire.DBBusy}[connectors.Classify(err)]
		if db.State == "" {
			db.State = "error"
		}
		db.Error = sourceFailure(err).wire()
	}
	return db
}

// secrets are the values diagnostics must never show, should one slip into an error
// text: the agent's credential and the passwords of the proxy and the database.
func (a *Agent) secrets() []string {
	out := []string{a.cfg.Agent.Secret}
	for _, raw := range []string{a.cfg.Relay.Proxy, dsnOf(a.cfg.Connection)} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				out = append(out, p, url.QueryEscape(p))
			}
		}
	}
	return out
}

func dsnOf(c *ConnectionConfig) string {
	if c == nil {
		return ""
	}
	return c.DSN
}

// redact replaces every secret of six characters or more in body; shorter ones would
// replace innocent text too, and are no secrets worth the name.
func redact(body []byte, secrets []string) []byte {
	for _, s := range secrets {
		if len(s) >= 6 {
			body = bytes.ReplaceAll(body, []byte(s), []byte("[redacted]"))
		}
	}
	return body
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
