// Package e2e tests the relay and the agent together, as separate programs would run.
package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/relay"
)

// TestRelayAndAgent runs the relay server and a real agent over loopback.
func TestRelayAndAgent(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	cfg := relay.DefaultConfig()
	cfg.DataDir, cfg.AdminToken, cfg.DrainTimeout = dir, "admin", 2*time.Second
	srv, err := relay.New(cfg, logtest.New(t).With("side", "relay"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := srv.AddAgent("plant-1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})

	get := func(path, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("/v1/agents", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get("/v1/agents", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	if code, body := get("/v1/agents/plant-1/info", "admin"); code != http.StatusServiceUnavailable ||
		body["error"].(map[string]any)["code"] != "CONNECTION_UNREACHABLE" {
		t.Errorf("offline agent: %d %v", code, body)
	}

	plantDB := filepath.Join(dir, "maximo.db")
	if err := demodb.Run(context.Background(), demodb.Options{System: "maximo", Driver: "sqlite", Rows: 50, Out: plantDB},
		logtest.New(t)); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Version: 1, Relay: agent.RelayConfig{URL: "ws://" + ln.Addr().String()},
		Agent:      agent.IdentityConfig{ID: "plant-1", Secret: secret},
		Connection: &agent.ConnectionConfig{System: "maximo", Driver: "sqlite", DSN: plantDB}}, logtest.New(t).With("side", "agent"))
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); a.Run(actx) }()
	defer func() { acancel(); <-agentDone }()

	var agents []any
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get("/v1/agents", "admin")
		agents, _ = body["agents"].([]any)
		if len(agents) == 1 && agents[0].(map[string]any)["last_report"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not listed with a status report: %v", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := agents[0].(map[string]any); got["agent_id"] != "plant-1" {
		t.Errorf("listed %v", got)
	}
	code, info := get("/v1/agents/plant-1/info", "admin")
	if code != http.StatusOK || info["agent_id"] != "plant-1" || info["tunnel"].(map[string]any)["connected"] != true {
		t.Errorf("info through the tunnel: %d %v", code, info)
	}

	// Work orders read from the plant database by the agent, mapped, through the tunnel.
	code, sample := get("/v1/agents/plant-1/models/work_orders/sample?limit=3", "admin")
	results, _ := sample["results"].([]any)
	if code != http.StatusOK || len(results) != 3 {
		t.Fatalf("sample: %d %v", code, sample)
	}
	for _, r := range results {
		wo := r.(map[string]any)
		if wo["number"] == nil || wo["remote_id"] == nil || wo["id"] == nil || wo["remote_data"] != nil {
			t.Errorf("work order %v lacks the unified fields or carries remote_data unasked", wo)
		}
	}
	if code, body := get("/v1/agents/plant-1/models/spaceships/sample", "admin"); code != http.StatusNotFound {
		t.Errorf("unknown model: %d %v", code, body)
	}
	if code, body := get("/v1/agents/plant-1/models/work_orders/sample?limit=0", "admin"); code != http.StatusBadRequest {
		t.Errorf("bad limit: %d %v", code, body)
	}
}
