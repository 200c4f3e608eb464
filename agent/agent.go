// Package agent is the plant side of Plantbridge: a service that keeps a tunnel to the
// relay, answers the relay's calls, and keeps the relay in sync with the plant
// database through a durable outbox.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/agent/outbox"
	"github.com/plantbridge/plantbridge/agent/syncer"
	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// OutboxFile is the name of the outbox (package outbox) in the state directory.
const OutboxFile = "outbox.db"

// statusInterval is how often the agent reports its status to the relay when nothing
// changes.
const statusInterval = 30 * time.Second

// Agent is a running plant agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	client  *tunnel.Client
	source  *source // nil when no connection is configured
	started time.Time
	host    string
	// connected is signaled on each tunnel connect, so the relay gets a fresh status
	// report at once.
	connected chan struct{}
	// changed is signaled when the database state or the outbox's full flag changes,
	// so the relay hears of it promptly.
	changed chan struct{}

	// Sync engine; nil when no connection is configured.
	outbox    *outbox.Outbox
	scheduler *syncer.Scheduler
	uploader  *syncer.Uploader

	closeOnce sync.Once
}

// New prepares an agent from cfg; Run starts it. When a connection is configured, New
// opens the outbox in the state directory (creating both if needed); Run, or Close if
// Run is never called, closes it.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	a := &Agent{cfg: cfg, log: log, started: time.Now(), connected: make(chan struct{}, 1), changed: make(chan struct{}, 1)}
	a.host, _ = os.Hostname()
	c, err := tunnel.NewClient(tunnel.ClientConfig{
		Dialer: tunnel.DialerConfig{RelayURL: cfg.Relay.URL, Proxy: cfg.Relay.Proxy, CAFile: cfg.Relay.CAFile},
		Hello: tunnel.Hello{AgentID: cfg.Agent.ID, Secret: cfg.Agent.Secret, Version: version.Version,
			Hostname: a.host, OS: runtime.GOOS + "/" + runtime.GOARCH},
		Handler: a.handler(),
		Logger:  log,
		OnEvent: func(e tunnel.Event) {
			if e.Kind == tunnel.EventConnect {
				signal(a.connected)
				if a.uploader != nil {
					a.uploader.Retry()
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	a.client = c
	if cfg.Connection != nil {
		// Record ids derive from the relay's connection id once the agent is enrolled
		// into a connection, and from the agent id before.
		ns := cfg.Agent.ConnectionID
		if ns == "" {
			ns = cfg.Agent.ID
		}
		a.source = &source{cfg: cfg.Connection, agentID: ns, stateDir: cfg.StateDir, log: log}
		if err := a.openSync(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// openSync opens the outbox and prepares the scheduler and the uploader.
func (a *Agent) openSync() error {
	cfg := a.cfg
	if err := EnsureStateDir(cfg.StateDir); err != nil {
		return err
	}
	ob, err := outbox.Open(filepath.Join(cfg.StateDir, OutboxFile), outbox.Options{MaxBytes: cfg.Buffer.MaxBytes,
		Logger: a.log.With("component", "outbox"), OnFull: func() { signal(a.changed) }})
	if err != nil {
		return err
	}
	full := DefaultFullInterval
	if cfg.Sync.FullInterval != nil {
		full = *cfg.Sync.FullInterval
	}
	var catalog []string
	if p, err := profiles.Load(cfg.Connection.System); err == nil {
		catalog = profiles.SortedKeys(p.Models)
	}
	sch, err := syncer.NewScheduler(syncer.Config{Source: a.source, Outbox: ob, Models: cfg.Sync.Models, Catalog: catalog,
		Interval: cfg.Sync.Interval, Intervals: cfg.Sync.Intervals, HistoryWindow: cfg.Sync.HistoryWindow, FullInterval: full,
		Logger: a.log.With("component", "scheduler"), OnChange: func() { signal(a.changed) }, OnRun: busyGC})
	if err != nil {
		ob.Close()
		return err
	}
	up, err := syncer.NewUploader(syncer.UploaderConfig{Outbox: ob, Relay: a.client, Logger: a.log.With("component", "uploader")})
	if err != nil {
		ob.Close()
		return err
	}
	a.outbox, a.scheduler, a.uploader = ob, sch, up
	return nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Connector returns the open connector; with Reset it makes source the scheduler's
// syncer.Source.
func (s *source) Connector(ctx context.Context) (connectors.Connector, error) { return s.get(ctx) }

// Reset closes c if it is still the open connector, so the next use opens the database
// again.
func (s *source) Reset(c connectors.Connector) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c != nil && s.conn == c {
		s.conn.Close()
		s.conn = nil
	}
}

// handler serves the relay's calls to the agent.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.PathInfo, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.info())
	})
	mux.HandleFunc("GET /v1/agent/models/{model}/sample", a.serveSample)
	mux.HandleFunc("POST "+wire.PathSyncs, a.serveSyncs)
	a.commandRoutes(mux)
	return a.withRequestIDs(mux)
}

// Info is what the agent says about itself.
type Info struct {
	AgentID string        `json:"agent_id"`
	Version string        `json:"version"`
	OS      string        `json:"os"`
	System  string        `json:"system,omitempty"`
	Uptime  string        `json:"uptime"`
	Tunnel  tunnel.Status `json:"tunnel"`
}

func (a *Agent) info() Info {
	info := Info{AgentID: a.cfg.Agent.ID, Version: version.Version, OS: runtime.GOOS + "/" + runtime.GOARCH,
		Uptime: time.Since(a.started).Round(time.Second).String(), Tunnel: a.client.Status()}
	if c := a.cfg.Connection; c != nil {
		info.System = c.System
	}
	return info
}

// maxSyncRequest bounds the body of a sync request.
const maxSyncRequest = 64 << 10

// serveSyncs answers POST wire.PathSyncs: a manual sync, 202 with the request as
// accepted. A malformed body or an unknown model is a 400 and nothing is scheduled.
func (a *Agent) serveSyncs(w http.ResponseWriter, r *http.Request) {
	log := a.log.With("request_id", r.Header.Get(wire.HeaderRequestID))
	if a.scheduler == nil {
		writeWireError(w, http.StatusNotFound, "NOT_FOUND", "this agent has no connection configured")
		return
	}
	var req wire.SyncRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxSyncRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeWireError(w, http.StatusBadRequest, "INVALID_REQUEST", "malformed sync request: "+err.Error())
		return
	}
	if dec.More() {
		writeWireError(w, http.StatusBadRequest, "INVALID_REQUEST", "malformed sync request: data after the JSON object")
		return
	}
	if len(req.Models) > 0 {
		req.Models = slices.Compact(slices.Sorted(slices.Values(req.Models)))
	}
	if err := a.scheduler.Trigger(req.Models, req.Full); err != nil {
		if errors.Is(err, syncer.ErrUnknownModel) {
			writeWireError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
			return
		}
		log.Error("trigger sync", "err", err)
		writeWireError(w, http.StatusInternalServerError, "INTERNAL", "the agent could not schedule the sync")
		return
	}
	if req.Models == nil {
		req.Models = []string{}
	}
	log.Info("manual sync accepted", "models", req.Models, "full", req.Full)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(req)
}

func writeWireError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.Error{Code: code, Message: msg}})
}

// Status returns the agent's status as it reports it to the relay.
func (a *Agent) Status() wire.AgentStatus {
	st := wire.AgentStatus{AgentID: a.cfg.Agent.ID, ConnectionID: a.cfg.Agent.ConnectionID, Version: version.Version,
		Hostname: a.host, OS: runtime.GOOS + "/" + runtime.GOARCH, StartedAt: a.started.UTC(),
		Database: wire.DatabaseStatus{State: wire.DBUnknown}}
	if c := a.cfg.Connection; c != nil {
		st.System = c.System
	}
	if a.scheduler != nil {
		st.Database = a.scheduler.Database()
		st.Models = a.scheduler.Models()
		bs := a.outbox.Stats()
		st.Buffer = wire.BufferStatus{Batches: bs.Batches, Bytes: bs.Bytes, MaxBytes: bs.MaxBytes, Full: bs.Full}
	}
	return st
}

// idle says whether the agent has no sync running and nothing queued for the relay.
func (a *Agent) idle() bool {
	if a.scheduler == nil {
		return true
	}
	return !a.scheduler.Busy() && a.outbox.Stats().Items == 0
}

// Run keeps the tunnel up, syncs, and reports status until ctx is canceled. On the way
// out each sync finishes the batch in hand; Run returns within a few seconds.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent starting", "agent_id", a.cfg.Agent.ID, "relay", a.cfg.Relay.URL, "version", version.Version)
	defer a.Close()
	var wg sync.WaitGroup
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				a.log.Error(name+" stopped", "err", err)
			}
		}()
	}
	goRun("status report", func(ctx context.Context) error { a.reportStatus(ctx); return nil })
	goRun("status file", func(ctx context.Context) error { a.writeStatusFiles(ctx); return nil })
	if a.scheduler != nil {
		goRun("scheduler", a.scheduler.Run)
		goRun("uploader", a.uploader.Run)
	}
	goRun("memory trim", func(ctx context.Context) error { trimMemory(ctx, a.idle, debug.FreeOSMemory); return nil })
	err := a.client.Run(ctx)
	wg.Wait()
	a.log.Info("agent stopped")
	return err
}

// Close releases the database and the outbox. Run calls it; it is safe to call twice.
func (a *Agent) Close() error {
	var err error
	a.closeOnce.Do(func() {
		if a.source != nil {
			a.source.close()
		}
		if a.outbox != nil {
			err = a.outbox.Close()
		}
	})
	return err
}

// reportStatus sends the agent's status to the relay right after each connect, every
// 30 seconds, and whenever the database state or the outbox's full flag changes.
func (a *Agent) reportStatus(ctx context.Context) {
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.connected:
		case <-a.changed:
		}
		body, _ := json.Marshal(a.Status())
		rctx, cancel := context.WithTimeout(ctx, statusInterval)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, "http://relay"+wire.PathStatus, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := a.client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				a.log.Warn("relay refused the status report", "status", resp.StatusCode)
			}
		} else if ctx.Err() == nil {
			a.log.Debug("status report", "err", err)
		}
		cancel()
	}
}

// writeStatusFiles keeps the status file current.
func (a *Agent) writeStatusFiles(ctx context.Context) {
	if err := EnsureStateDir(a.cfg.StateDir); err != nil {
		a.log.Warn("status file", "err", err)
		return
	}
	t := time.NewTicker(StatusInterval)
	defer t.Stop()
	for {
		a.writeStatusFile()
		select {
		case <-ctx.Done():
			// The last word: what the agent had when it stopped.
			a.writeStatusFile()
			return
		case <-t.C:
		}
	}
}

func (a *Agent) writeStatusFile() {
	if err := WriteStatusFile(a.cfg.StateDir, StatusFile{AgentStatus: a.Status(), Tunnel: a.client.Status()}); err != nil {
		a.log.Warn("status file", "err", err)
	}
}
