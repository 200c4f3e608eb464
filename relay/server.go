// Package relay is the cloud side of Plantbridge: it accepts agent tunnels, stores what
// the agents sync, and serves the public API over it.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/relay/api"
	"github.com/plantbridge/plantbridge/relay/metrics"
	"github.com/plantbridge/plantbridge/relay/openapi"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/relay/webhooks"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Server is a running relay.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	ep    *tunnel.Endpoint
	dir   *directory
	api   *api.API
	opts  Options
	met   *metrics.Metrics

	workers sync.WaitGroup // one per background worker
}

// Options are the parts of a relay that tests and embedders replace.
type Options struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OfflineGrace holds back connection.status_changed to offline until an agent has
	// been away this long. Default 30 s.
	OfflineGrace time.Duration
	// Events receives webhook events. Default: none.
	Events Events
	// Mux tunes the tunnels. Zero fields take their defaults.
	Mux tunnel.MuxConfig
	// Routes registers more authenticated API routes (webhooks).
	Routes []func(*http.ServeMux)
	// Workers are run alongside the relay and stopped with it (webhook deliveries).
	Workers []func(context.Context)
	// Metrics records the relay's metrics, served at /metrics. Default: new metrics in
	// a registry of their own.
	Metrics *metrics.Metrics
}

// OpenStore opens the store that cfg names, creating the data dir for SQLite.
func OpenStore(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	opts := store.Options{Logger: log}
	if cfg.Store.Driver == "postgres" {
		return store.OpenPostgres(ctx, cfg.Store.DSN, opts)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "relay.db"), opts)
}

// New opens the relay's store and prepares the relay; Run serves it.
func New(ctx context.Context, cfg Config, log *slog.Logger, opts Options) (*Server, error) {
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s, err := NewWithStore(cfg, st, log, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// NewWithStore prepares a relay over an open store, which Close closes.
func NewWithStore(cfg Config, st store.Store, log *slog.Logger, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OfflineGrace == 0 {
		opts.OfflineGrace = 30 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	key, err := cursorKey(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st, opts: opts, met: opts.Metrics}
	s.dir = newDirectory(st, log, opts.Now, opts.OfflineGrace, opts.Events)
	in := &ingest{store: st, dir: s.dir, log: log, events: opts.Events, now: opts.Now, metrics: s.met}
	s.ep = tunnel.NewEndpoint(tunnel.EndpointConfig{
		Auth:         s.dir,
		Handler:      in.handler(),
		Mux:          opts.Mux,
		Logger:       log,
		OnEvent:      s.dir.onEvent,
		OnRTT:        func(_ string, rtt time.Duration) { s.met.ObserveTunnelRTT(rtt) },
		DrainTimeout: cfg.DrainTimeout,
	})
	s.dir.ep = s.ep
	s.met.SetConnectedAgents(func() int { return len(s.ep.Sessions()) })
	s.api, err = api.New(api.Config{
		Store: st, Agents: s.dir, Events: apiEvents(opts.Events), Logger: log, CursorKey: key,
		EnrollmentTTL: cfg.EnrollmentTTL, RateLimit: cfg.API.RateLimit, RateBurst: cfg.API.RateBurst,
		MaxBodyBytes: cfg.API.MaxBodyBytes, AgentTimeout: cfg.API.AgentTimeout, Now: opts.Now,
		Extra: opts.Routes, Observe: s.met.ObserveRequest,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// apiEvents passes the API's events (finished jobs) to the webhooks.
func apiEvents(e Events) api.Events {
	if e == nil {
		return nil
	}
	return eventsAdapter{e}
}

type eventsAdapter struct{ e Events }

func (a eventsAdapter) Emit(ctx context.Context, accountID, eventType, connectionID string, data any) error {
	_, err := a.e.Emit(ctx, webhooks.Event{AccountID: accountID, Type: eventType, ConnectionID: connectionID, Data: data})
	return err
}

// cursorKey returns the key that signs cursors: the configured secret, or a random key
// kept in the data dir so that cursors survive a restart.
func cursorKey(cfg Config) ([]byte, error) {
	if cfg.CursorSecret != "" {
		return []byte(cfg.CursorSecret), nil
	}
	path := filepath.Join(cfg.DataDir, "cursor.key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 64 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var k [32]byte
	rand.Read(k[:])
	key := hex.EncodeToString(k[:])
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write cursor key: %w", err)
	}
	return []byte(key), nil
}

// Store returns the relay's store.
func (s *Server) Store() store.Store { return s.store }

// API returns the public API handler (without the tunnel and operations routes).
func (s *Server) API() *api.API { return s.api }

// Metrics returns the relay's metrics, for the parts wired up beside it (webhook
// deliveries).
func (s *Server) Metrics() *metrics.Metrics { return s.met }

// Handler returns the relay's public HTTP handler: the API, the tunnel endpoint, the
// enrollment endpoint, the health checks, the metrics (unless they have a listener of
// their own, cfg.MetricsListen) and the OpenAPI document.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(tunnel.TunnelPath, s.ep)
	mux.Handle(wire.EnrollPath, s.api.EnrollHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": version.Version})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			s.log.Warn("readiness: store", "err", err)
			api.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": "unreachable"})
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready", "store": "ok"})
	})
	if s.cfg.MetricsListen == "" {
		mux.Handle("GET /metrics", s.met.Handler(s.log))
	}
	mux.Handle("GET /openapi.json", openapi.Handler())
	// Everything else, /v1/ or not, gets the API's answers: an unknown path is a JSON
	// NOT_FOUND with a request id, like any other error.
	mux.Handle("/", s.api)
	return mux
}

// MetricsHandler serves GET /metrics alone, for cfg.MetricsListen.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.met.Handler(s.log))
	return mux
}

// Run serves on cfg.Listen until ctx is canceled, then drains the agents and stops.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener. It closes the store when it returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.store.Close()
	defer s.dir.close()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("relay listening", "addr", ln.Addr().String(), "version", version.Version, "data_dir", s.cfg.DataDir,
		"store", s.cfg.Store.Driver)
	workCtx, stopWork := context.WithCancel(context.Background())
	defer func() {
		stopWork()
		s.workers.Wait()
	}()
	s.startWorker(workCtx, s.api.RunJobs)
	for _, w := range s.opts.Workers {
		s.startWorker(workCtx, w)
	}
	errc := make(chan error, 2)
	if s.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		msrv := &http.Server{Handler: s.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		s.log.Info("metrics listening", "addr", mln.Addr().String())
		go func() { errc <- fmt.Errorf("metrics: %w", msrv.Serve(mln)) }()
		defer msrv.Close()
	}
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		srv.Close() // the metrics listener failed, or the API's: stop both
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

func (s *Server) startWorker(ctx context.Context, fn func(context.Context)) {
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		fn(ctx)
	}()
}
