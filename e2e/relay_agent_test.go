// Package e2e tests the relay and the agent together, as separate programs would run.
package e2e

import (
	"bytes"
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

// TestRelayAndAgent runs the relay server and a real agent over loopback: a connection
// is created through the API, the agent enrolls with its token and comes online.
func TestRelayAndAgent(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	cfg := relay.DefaultConfig()
	cfg.DataDir, cfg.DrainTimeout = dir, 2*time.Second
	srv, err := relay.New(context.Background(), cfg, logtest.New(t).With("side", "relay"), relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := srv.Store().CreateAccount(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := srv.Store().CreateAPIKey(context.Background(), acct.ID, "test")
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

	call := func(method, path, key string, body any) (int, map[string]any) {
		t.Helper()
		var rd *bytes.Reader
		if body == nil {
			rd = bytes.NewReader(nil)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, conn := call("POST", "/v1/connections", key, map[string]any{"name": "Bedford", "system": "maximo"})
	if code != http.StatusCreated {
		t.Fatalf("create connection: %d %v", code, conn)
	}
	connID := conn["id"].(string)
	code, cred := call("POST", "/v1/agents/enroll", "", map[string]any{"token": conn["enrollment"].(map[string]any)["token"]})
	if code != http.StatusOK {
		t.Fatalf("enroll: %d %v", code, cred)
	}

	plantDB := filepath.Join(dir, "maximo.db")
	if err := demodb.Run(context.Background(), demodb.Options{System: "maximo", Driver: "sqlite", Rows: 50, Out: plantDB},
		logtest.New(t)); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Version: 1, Relay: agent.RelayConfig{URL: "ws://" + ln.Addr().String()},
		Agent:      agent.IdentityConfig{ID: cred["agent_id"].(string), Secret: cred["secret"].(string), ConnectionID: connID},
		StateDir:   filepath.Join(dir, "agent-state"),
		Connection: &agent.ConnectionConfig{System: "maximo", Driver: "sqlite", DSN: plantDB}}, logtest.New(t).With("side", "agent"))
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); a.Run(actx) }()
	defer func() { acancel(); <-agentDone }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, st := call("GET", "/v1/connections/"+connID+"/status", key, nil)
		agentInfo, _ := st["agent"].(map[string]any)
		if st["state"] == "online" && agentInfo["connected"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection not online: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
