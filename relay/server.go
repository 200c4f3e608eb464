// Package relay is the cloud side of Plantbridge: it accepts agent tunnels and serves
// the API over them.
package relay

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/tunnel"
)

// Server is a running relay.
type Server struct {
	cfg    Config
	log    *slog.Logger
	agents *AgentRegistry
	ep     *tunnel.Endpoint

	mu      sync.Mutex                // guards the fields below
	reports map[string]AgentReport    // last status report per agent
	history map[string][]tunnel.Event // recent connection events per agent, oldest first
}

// historyLen is how many connection events are kept per agent, for support to read.
const historyLen = 200

// AgentReport is what an agent last said about itself over the tunnel.
type AgentReport struct {
	ReceivedAt time.Time       `json:"received_at"`
	Status     json.RawMessage `json:"status"`
}

// New prepares a relay from cfg; Run serves it.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	agents, err := OpenAgentRegistry(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, agents: agents, reports: map[string]AgentReport{},
		history: map[string][]tunnel.Event{}}
	s.ep = tunnel.NewEndpoint(tunnel.EndpointConfig{
		Auth:         agents,
		Handler:      s.agentHandler(),
		Logger:       log,
		OnEvent:      s.recordEvent,
		DrainTimeout: cfg.DrainTimeout,
	})
	return s, nil
}

// Handler returns the relay's public HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(tunnel.TunnelPath, s.ep)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": version.Version})
	})
	mux.HandleFunc("GET /v1/agents", s.admin(s.listAgents))
	mux.HandleFunc("GET /v1/agents/{id}/info", s.admin(s.agentInfo))
	mux.HandleFunc("GET /v1/agents/{id}/events", s.admin(s.agentEvents))
	mux.HandleFunc("GET /v1/agents/{id}/models/{model}/sample", s.admin(s.agentSample))
	return mux
}

// agentHandler serves the agents' calls to the relay through their tunnels.
func (s *Server) agentHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/agent/status", func(w http.ResponseWriter, r *http.Request) {
		sess, _ := tunnel.SessionFrom(r.Context())
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil || !json.Valid(body) {
			http.Error(w, "status report must be JSON up to 64 KiB", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.reports[sess.Hello.AgentID] = AgentReport{ReceivedAt: time.Now().UTC(), Status: body}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// admin guards operator endpoints with the admin token.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.cfg.AdminToken == "" || !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{
				"code": "AUTHENTICATION_FAILED", "type": "authentication_error",
				"message": "missing or wrong admin token (Authorization: Bearer …)"}})
			return
		}
		h(w, r)
	}
}

type agentView struct {
	tunnel.SessionInfo
	LastReport *AgentReport `json:"last_report,omitempty"`
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	sessions := s.ep.Sessions()
	list := make([]agentView, 0, len(sessions))
	s.mu.Lock()
	for _, si := range sessions {
		v := agentView{SessionInfo: si}
		if rep, ok := s.reports[si.AgentID]; ok {
			v.LastReport = &rep
		}
		list = append(list, v)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"agents": list})
}

// recordEvent keeps an agent's recent connection events. Events of unknown or invalid
// agent ids are only logged (by the tunnel), so that failed logins cannot fill memory.
func (s *Server) recordEvent(e tunnel.Event) {
	if e.AgentID == "" || !s.agents.Has(e.AgentID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := append(s.history[e.AgentID], e)
	if len(h) > historyLen {
		h = h[len(h)-historyLen:]
	}
	s.history[e.AgentID] = h
}

// agentEvents lists an agent's recent connection events, newest first.
func (s *Server) agentEvents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.history[r.PathValue("id")]
	list := make([]tunnel.Event, len(h))
	for i, e := range h {
		list[len(h)-1-i] = e
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"events": list})
}

// agentInfo asks a connected agent about itself, through its tunnel.
func (s *Server) agentInfo(w http.ResponseWriter, r *http.Request) {
	s.callAgent(w, r, "/v1/agent/info")
}

// agentSample asks a connected agent for the first records of a model, read from the
// plant database and mapped onto the unified model.
func (s *Server) agentSample(w http.ResponseWriter, r *http.Request) {
	path := "/v1/agent/models/" + url.PathEscape(r.PathValue("model")) + "/sample"
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	s.callAgent(w, r, path)
}

// callAgent forwards a GET to the agent through its tunnel and relays the answer.
func (s *Server) callAgent(w http.ResponseWriter, r *http.Request, path string) {
	sess, err := s.ep.Session(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{
			"code": "CONNECTION_UNREACHABLE", "type": "connection_error", "message": "the agent is not connected"}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	resp, err := sess.Client().Do(req)
	if err != nil {
		s.log.Warn("agent call", "agent_id", sess.Hello.AgentID, "path", path, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{
			"code": "CONNECTION_UNREACHABLE", "type": "connection_error", "message": "the agent did not answer"}})
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, io.LimitReader(resp.Body, 16<<20))
}

// AddAgent registers an agent and returns its credential.
func (s *Server) AddAgent(id string) (string, error) { return s.agents.Add(id) }

// Run serves on cfg.Listen until ctx is canceled, then drains the agents and stops.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("relay listening", "addr", ln.Addr().String(), "version", version.Version, "data_dir", s.cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("relay shutting down: draining agents")
	s.ep.Drain(context.Background())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s.ep.Close()
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
