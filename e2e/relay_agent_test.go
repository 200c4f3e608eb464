// Package e2e tests the relay and the agent together, as separate programs would run.
package e2e

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/relay"
)

// stack is a relay and a real agent in this process, over loopback, with a demo Maximo
// plant database on SQLite: a connection created through the API, the agent enrolled
// with its token.
type stack struct {
	t         *testing.T
	base      string
	key       string
	connID    string
	plantDB   string
	agentCfg  agent.Config
	stopAgent func()
}

func startStack(t *testing.T, rows int) *stack {
	t.Helper()
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
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	s := &stack{t: t, base: "http://" + ln.Addr().String(), key: key}
	code, conn := s.call("POST", "/v1/connections", map[string]any{"name": "Bedford", "system": "maximo"})
	if code != http.StatusCreated {
		t.Fatalf("create connection: %d %v", code, conn)
	}
	s.connID = conn["id"].(string)
	code, cred := s.callAs("", "POST", "/v1/agents/enroll", map[string]any{"token": conn["enrollment"].(map[string]any)["token"]})
	if code != http.StatusOK {
		t.Fatalf("enroll: %d %v", code, cred)
	}
	s.plantDB = filepath.Join(dir, "maximo.db")
	if err := demodb.Run(context.Background(), demodb.Options{System: "maximo", Driver: "sqlite", Rows: rows, Out: s.plantDB},
		logtest.New(t)); err != nil {
		t.Fatal(err)
	}
	s.agentCfg = agent.Config{Version: 1, Relay: agent.RelayConfig{URL: "ws://" + ln.Addr().String()},
		Agent:      agent.IdentityConfig{ID: cred["agent_id"].(string), Secret: cred["secret"].(string), ConnectionID: s.connID},
		StateDir:   filepath.Join(dir, "agent-state"),
		Connection: &agent.ConnectionConfig{System: "maximo", Driver: "sqlite", DSN: s.plantDB},
		Sync:       agent.SyncConfig{Interval: time.Hour},
		Buffer:     agent.BufferConfig{MaxBytes: 64 << 20},
	}
	s.startAgent()
	return s
}

// startAgent runs the agent until the test ends or stopAgent is called.
func (s *stack) startAgent() {
	t := s.t
	a, err := agent.New(s.agentCfg, logtest.New(t).With("side", "agent"))
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(actx) }()
	stopped := false
	s.stopAgent = func() {
		if !stopped {
			stopped = true
			acancel()
			<-done
		}
	}
	t.Cleanup(s.stopAgent)
}

func (s *stack) call(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	return s.callAs(s.key, method, path, body)
}

func (s *stack) callAs(key, method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	return api(s.t, strings.TrimPrefix(s.base, "http://"), key, method, path, body)
}

// waitOnline waits until the connection is online with its agent connected.
func (s *stack) waitOnline() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, st := s.call("GET", "/v1/connections/"+s.connID+"/status", nil)
		agentInfo, _ := st["agent"].(map[string]any)
		if st["state"] == "online" && agentInfo["connected"] == true {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("connection not online: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstSite waits for the first work orders to sync and returns the site of one.
func (s *stack) firstSite() string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, page := s.call("GET", "/v1/connections/"+s.connID+"/work_orders?page_size=1", nil)
		if res, _ := page["results"].([]any); len(res) == 1 {
			return res[0].(map[string]any)["site_id"].(string)
		}
		if time.Now().After(deadline) {
			s.t.Fatal("no work order synced")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRelayAndAgent: a connection is created through the API, the agent enrolls with its
// token, comes online and syncs.
func TestRelayAndAgent(t *testing.T) {
	leaktest.Check(t)
	s := startStack(t, 50)
	s.waitOnline()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, page := s.call("GET", "/v1/connections/"+s.connID+"/work_orders?page_size=1000", nil)
		if res, _ := page["results"].([]any); code == 200 && len(res) == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("work orders not synced: %d %v", code, page["results"] != nil)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
