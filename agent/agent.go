// Package agent is the plant side of Plantbridge: a service that keeps a tunnel to the
// relay and answers the relay's calls.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/tunnel"
)

// Agent is a running plant agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	client  *tunnel.Client
	source  *source // nil when no connection is configured
	started time.Time
	// connected is signaled on each tunnel connect, so the relay gets a fresh status
	// report at once.
	connected chan struct{}
}

// New prepares an agent from cfg; Run starts it.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	a := &Agent{cfg: cfg, log: log, started: time.Now(), connected: make(chan struct{}, 1)}
	if cfg.Connection != nil {
		a.source = &source{cfg: cfg.Connection, agentID: cfg.Agent.ID, stateDir: cfg.StateDir, log: log}
	}
	host, _ := os.Hostname()
	c, err := tunnel.NewClient(tunnel.ClientConfig{
		Dialer: tunnel.DialerConfig{RelayURL: cfg.Relay.URL, Proxy: cfg.Relay.Proxy, CAFile: cfg.Relay.CAFile},
		Hello: tunnel.Hello{AgentID: cfg.Agent.ID, Secret: cfg.Agent.Secret, Version: version.Version,
			Hostname: host, OS: runtime.GOOS + "/" + runtime.GOARCH},
		Handler: a.handler(),
		Logger:  log,
		OnEvent: func(e tunnel.Event) {
			if e.Kind == tunnel.EventConnect {
				select {
				case a.connected <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	a.client = c
	return a, nil
}

// handler serves the relay's calls to the agent.
func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agent/info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.info())
	})
	mux.HandleFunc("GET /v1/agent/models/{model}/sample", a.serveSample)
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

// Run keeps the tunnel up and reports status to the relay until ctx is canceled.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent starting", "agent_id", a.cfg.Agent.ID, "relay", a.cfg.Relay.URL, "version", version.Version)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.reportStatus(ctx)
	}()
	err := a.client.Run(ctx)
	<-done
	if a.source != nil {
		a.source.close()
	}
	a.log.Info("agent stopped")
	return err
}

// reportStatus sends the agent's status to the relay right after each connect and every
// 30 seconds.
func (a *Agent) reportStatus(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.connected:
		}
		body, _ := json.Marshal(a.info())
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodPost, "http://relay/v1/agent/status", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := a.client.Do(req); err == nil {
			resp.Body.Close()
		} else if ctx.Err() == nil {
			a.log.Debug("status report", "err", err)
		}
		cancel()
	}
}
