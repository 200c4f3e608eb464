package relay

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// receiver is a webhook endpoint that keeps what it receives.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex // guards got
	got []map[string]any
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && r.Header.Get("webhook-signature") != "" {
			rc.mu.Lock()
			rc.got = append(rc.got, m)
			rc.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// has reports whether an event of typ matching data arrived.
func (rc *receiver) has(typ string, match func(data map[string]any) bool) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, m := range rc.got {
		if m["type"] == typ {
			d, _ := m["data"].(map[string]any)
			if match == nil || match(d) {
				return true
			}
		}
	}
	return false
}

// TestEventsFromRealConditions subscribes a receiver and brings about each condition the
// relay announces: an agent connecting and going away, its database refusing the login,
// a sync finishing and failing, and an async job completing.
func TestEventsFromRealConditions(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{webhooks: true})
	rc := newReceiver(t)
	id, token := tr.connection("maximo")
	sub := tr.must(http.StatusCreated, "POST", "/v1/webhooks", map[string]any{"url": rc.srv.URL + "/hook"})
	if s, _ := sub["secret"].(string); len(s) < 10 {
		t.Fatalf("no secret in %v", sub)
	}

	agent := tr.startAgent(token)
	wait := func(what, typ string, match func(map[string]any) bool) {
		t.Helper()
		waitFor(t, 10*time.Second, what, func() bool { return rc.has(typ, match) })
	}
	wait("online event", "connection.status_changed", func(d map[string]any) bool { return d["to"] == "online" })

	// The plant database refuses the agent's login.
	now := time.Now().UTC()
	agent.post(wire.PathStatus, wire.AgentStatus{AgentID: agent.cred.AgentID, Version: "test", OS: "linux",
		Database: wire.DatabaseStatus{State: wire.DBAuthFailed, CheckedAt: &now,
			Error: &wire.Error{Code: "REAUTH_REQUIRED", Message: "login failed for user maximo"}}}, nil)
	wait("reauth_required", "connection.status_changed", func(d map[string]any) bool { return d["to"] == "reauth_required" })
	wait("auth_required", "connection.auth_required", nil)
	// Fixed again.
	agent.post(wire.PathStatus, wire.AgentStatus{AgentID: agent.cred.AgentID, Version: "test", OS: "linux",
		Database: wire.DatabaseStatus{State: wire.DBReachable, CheckedAt: &now}}, nil)
	wait("online again", "connection.status_changed", func(d map[string]any) bool {
		return d["from"] == "reauth_required" && d["to"] == "online"
	})

	// A sync finishes, another fails.
	agent.post(wire.PathSyncState, wire.SyncState{Model: "work_orders", Status: "done", LastSyncStart: &now,
		LastSyncFinished: &now, RecordsSynced: 12}, nil)
	agent.post(wire.PathSyncState, wire.SyncState{Model: "assets", Status: "failed", LastSyncStart: &now,
		LastSyncFinished: &now, Error: &wire.Error{Code: "SOURCE_ERROR", Message: "table ASSET is locked"}}, nil)
	wait("sync.completed", "sync.completed", func(d map[string]any) bool { return d["model"] == "work_orders" && d["records_synced"] == 12.0 })
	wait("sync.failed", "sync.failed", func(d map[string]any) bool { return d["model"] == "assets" })

	// An async job completes (the fake agent writes everything it is sent).
	var recs []map[string]any
	for i := range 3 {
		recs = append(recs, map[string]any{"fields": map[string]any{"title": "job " + string(rune('a'+i))}})
	}
	job := tr.must(http.StatusAccepted, "POST", "/v1/connections/"+id+"/work_orders/async", map[string]any{"records": recs})
	wait("job.completed", "job.completed", func(d map[string]any) bool { return d["job_id"] == job["id"] && d["succeeded"] == 3.0 })

	// The agent goes away: offline only after the grace period.
	agent.stop()
	wait("offline event", "connection.status_changed", func(d map[string]any) bool { return d["to"] == "offline" })

	// Every delivery is in the log (attempts are recorded right after the answer).
	waitFor(t, 5*time.Second, "8 attempts in the delivery log", func() bool {
		log := tr.must(http.StatusOK, "GET", "/v1/webhooks/"+sub["id"].(string)+"/deliveries", nil)
		return len(log["results"].([]any)) >= 8
	})
	// And counted in the metrics.
	resp, err := http.Get(tr.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `plantbridge_relay_webhook_attempts_total{outcome="success"}`) {
		t.Error("/metrics does not count the webhook attempts")
	}
}
