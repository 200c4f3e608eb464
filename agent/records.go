package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/model"
)

// source opens the maintenance system's connector on first use, so that a database
// that is down when the agent starts delays reads instead of stopping the agent.
type source struct {
	cfg     *ConnectionConfig
	agentID string

	mu   sync.Mutex // guards conn
	conn connectors.Connector
}

func (s *source) get(ctx context.Context) (connectors.Connector, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return s.conn, nil
	}
	c, err := connectors.Open(ctx, connectors.Config{
		// Record ids derive from this; it becomes the relay's connection id once the
		// agent is enrolled into a connection.
		ConnectionID: s.agentID,
		System:       s.cfg.System,
		Driver:       s.cfg.Driver,
		DSN:          s.cfg.DSN,
		Location:     s.cfg.Location(),
	})
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
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
		writeError(w, http.StatusNotFound, "NOT_CONFIGURED", "this agent has no connection configured")
		return
	}
	limit := 5
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > connectors.MaxBatchRecords {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "limit must be 1 to 1000")
			return
		}
		limit = n
	}
	c, err := a.source.get(r.Context())
	if err != nil {
		a.sourceError(w, r, err)
		return
	}
	name := r.PathValue("model")
	if !slices.Contains(c.Models(), name) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "this connection has no model "+strconv.Quote(name))
		return
	}
	var records []model.Record
	err = c.Read(r.Context(), connectors.ReadRequest{Model: name, Full: true, BatchSize: limit}, func(b connectors.Batch) error {
		records = append(records, b.Records...)
		return errEnough
	})
	if err != nil && !errors.Is(err, errEnough) {
		a.sourceError(w, r, err)
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
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"results": records})
}

// sourceError reports a database failure by its class; the driver's text is logged only,
// as it can name hosts and users.
func (a *Agent) sourceError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Warn("source read", "path", r.URL.Path, "err", err)
	switch connectors.Classify(err) {
	case connectors.Unreachable:
		writeError(w, http.StatusServiceUnavailable, "CONNECTION_UNREACHABLE", "the plant database is unreachable")
	case connectors.AuthFailed:
		writeError(w, http.StatusServiceUnavailable, "REAUTH_REQUIRED", "the plant database refused the agent's login")
	case connectors.PermissionDenied:
		writeError(w, http.StatusBadGateway, "SOURCE_ERROR", "the agent's database user may not read a mapped table")
	case connectors.Busy:
		writeError(w, http.StatusServiceUnavailable, "SOURCE_RATE_LIMITED", "the plant database is busy")
	case connectors.BadRequest:
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "the request does not fit this connection's mapping")
	default:
		writeError(w, http.StatusBadGateway, "SOURCE_ERROR", "the plant database returned an error")
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
