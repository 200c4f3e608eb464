package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent/internal/relaytest"
	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

const (
	syncAgentID     = "plant-sync"
	syncAgentSecret = "pbagent_sync-secret"
	syncConnID      = "conn_sync"
)

// syncDB creates a Maximo demo database of rows work orders at path.
func syncDB(t *testing.T, path string, rows int) {
	t.Helper()
	ctx := context.Background()
	db, err := demodb.Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := demodb.CreateAt(ctx, db, "maximo", rows, 5, time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
}

// runningAgent is an agent running against a stand-in relay.
type runningAgent struct {
	*Agent
	cancel context.CancelFunc
	done   chan error
}

func startSyncAgent(t *testing.T, relayURL, dsn string, edit func(*Config)) *runningAgent {
	t.Helper()
	off := time.Duration(0)
	cfg := Config{Version: 1, StateDir: filepath.Join(t.TempDir(), "state"),
		Relay:      RelayConfig{URL: relayURL},
		Agent:      IdentityConfig{ID: syncAgentID, Secret: syncAgentSecret, ConnectionID: syncConnID},
		Connection: &ConnectionConfig{System: "maximo", Driver: "sqlite", DSN: dsn, Timezone: "America/Chicago"},
		Sync:       SyncConfig{Interval: 200 * time.Millisecond, FullInterval: &off}}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg, logtest.New(t).With("side", "agent"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{Agent: a, cancel: cancel, done: make(chan error, 1)}
	go func() { ra.done <- a.Run(ctx) }()
	t.Cleanup(func() { ra.stop(t) })
	return ra
}

// stop stops the agent and checks that it stops within a few seconds.
func (ra *runningAgent) stop(t *testing.T) {
	if ra.cancel == nil {
		return
	}
	ra.cancel()
	ra.cancel = nil
	select {
	case err := <-ra.done:
		if err != nil {
			t.Errorf("agent run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop within 10 s")
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sourceRecords reads every record of every model from the demo database as the
// relay should hold them: encoded by the record's own MarshalJSON.
func sourceRecords(t *testing.T, dsn string) map[string]map[string][]byte {
	t.Helper()
	ctx := context.Background()
	c, err := connectors.Open(ctx, connectors.Config{ConnectionID: syncConnID, System: "maximo", Driver: "sqlite", DSN: dsn,
		Location: mustLocation(t, "America/Chicago")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]map[string][]byte{}
	for _, m := range c.Models() {
		out[m] = map[string][]byte{}
		err := c.Read(ctx, connectors.ReadRequest{Model: m, Full: true}, func(b connectors.Batch) error {
			for _, r := range b.Records {
				j, err := r.MarshalJSON()
				if err != nil {
					return err
				}
				out[m][r.ID] = j
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read %s: %v", m, err)
		}
	}
	return out
}

func mustLocation(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestAgentSyncsMutatingPlant syncs a Maximo demo database while it changes, with the
// relay going away for a while in the middle, and then asks the agent for a full
// re-sync through the tunnel: the relay must end holding exactly the source's records,
// every field equal, with the deleted work orders marked deleted.
func TestAgentSyncsMutatingPlant(t *testing.T) {
	leaktest.Check(t)
	dsn := filepath.Join(t.TempDir(), "plant.db")
	syncDB(t, dsn, 300)
	relay := relaytest.Start(t, map[string]string{syncAgentID: syncAgentSecret})
	a := startSyncAgent(t, relay.URL(), dsn, nil)
	ctx := context.Background()

	waitUntil(t, 30*time.Second, "the initial sync", func() bool { return len(relay.Live("work_orders")) >= 300 })

	// Keep the plant changing while the agent syncs, and take the relay away for a while.
	mctx, stopMutating := context.WithCancel(ctx)
	mutated := make(chan error, 1)
	go func() {
		db, err := demodb.Open(mctx, "sqlite", dsn)
		if err != nil {
			mutated <- err
			return
		}
		defer db.Close()
		m, err := demodb.NewMutator(mctx, db, "maximo", 11)
		if err != nil {
			mutated <- err
			return
		}
		err = m.Run(mctx, 100, slog.New(slog.DiscardHandler))
		if mctx.Err() != nil {
			err = nil
		}
		mutated <- err
	}()
	time.Sleep(700 * time.Millisecond)
	relay.Stop()
	time.Sleep(700 * time.Millisecond)
	if st := a.Status(); st.Buffer.Batches == 0 {
		t.Errorf("no batches buffered while the relay was away: %+v", st.Buffer)
	}
	relay.Start()
	time.Sleep(700 * time.Millisecond)
	stopMutating()
	if err := <-mutated; err != nil {
		t.Fatalf("mutator: %v", err)
	}

	waitUntil(t, 30*time.Second, "the agent to reconnect", func() bool { return relay.Connected(syncAgentID) })
	// Malformed and unknown requests are refused, and nothing is scheduled.
	for _, body := range []string{`{"models":["work_orders"],"full":"yes"}`, `{"models":["nope"]}`, `{"modles":[]}`, `{} {}`} {
		code, resp, err := relay.CallAgent(ctx, syncAgentID, http.MethodPost, wire.PathSyncs, []byte(body))
		if err != nil || code != http.StatusBadRequest || !bytes.Contains(resp, []byte(`"code":"INVALID_REQUEST"`)) {
			t.Errorf("sync request %s: %d %s %v", body, code, resp, err)
		}
	}
	code, resp, err := relay.CallAgent(ctx, syncAgentID, http.MethodPost, wire.PathSyncs, []byte(`{"models":[],"full":true}`))
	if err != nil || code != http.StatusAccepted || string(bytes.TrimSpace(resp)) != `{"models":[],"full":true}` {
		t.Fatalf("full sync request: %d %s %v", code, resp, err)
	}
	want := sourceRecords(t, dsn)
	var models []string
	for m := range want {
		models = append(models, m)
	}
	// No full re-sync runs by itself here (full_interval is off and the initial sync is
	// incremental), so one per model is the one asked for.
	waitUntil(t, 60*time.Second, "the full re-sync of every model", func() bool {
		for _, m := range models {
			if relay.FullSyncsDone(m) == 0 {
				return false
			}
		}
		return true
	})
	waitUntil(t, 10*time.Second, "an empty outbox", func() bool { return a.Status().Buffer.Batches == 0 })

	for _, m := range models {
		got := relay.Live(m)
		for id, body := range want[m] {
			g, ok := got[id]
			switch {
			case !ok:
				t.Errorf("%s %s: missing at the relay", m, id)
			case !bytes.Equal(g, body):
				t.Errorf("%s %s differs:\nrelay  %s\nsource %s", m, id, g, body)
			}
		}
		for id := range got {
			if _, ok := want[m][id]; !ok {
				t.Errorf("%s %s: live at the relay, not in the source", m, id)
			}
		}
	}
	if len(relay.Deleted("work_orders")) == 0 {
		t.Error("no work order marked deleted; the mutator deletes some")
	}
	for _, id := range relay.Deleted("work_orders") {
		if _, ok := want["work_orders"][id]; ok {
			t.Errorf("work order %s marked deleted but in the source", id)
		}
	}
	wo := want["work_orders"]
	for id, body := range wo {
		var k struct {
			RemoteID string `json:"remote_id"`
		}
		jsonUnmarshal(t, body, &k)
		if id != model.RecordID(syncConnID, "work_orders", k.RemoteID) {
			t.Fatalf("record id %s does not derive from the connection id", id)
		}
		break
	}

	// What the relay heard about the agent, and what plant IT can read locally.
	sts := relay.Statuses()
	if len(sts) == 0 {
		t.Fatal("no status report")
	}
	last := sts[len(sts)-1]
	if last.AgentID != syncAgentID || last.ConnectionID != syncConnID || last.System != "maximo" ||
		last.Database.State != wire.DBReachable || last.Database.Circuit != "closed" || len(last.Models) != len(models) ||
		last.Buffer.MaxBytes == 0 {
		t.Errorf("last status report %+v", last)
	}
	a.stop(t)
	sf, err := ReadStatusFile(a.cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if sf.AgentID != syncAgentID || sf.Database.State != wire.DBReachable || len(sf.Models) != len(models) {
		t.Errorf("status file %+v", sf)
	}
}

// TestAgentBufferFull fills a small outbox while the relay is away: reading pauses, the
// relay hears buffer_full when it returns, and the agent drains everything, nothing
// dropped.
func TestAgentBufferFull(t *testing.T) {
	leaktest.Check(t)
	dsn := filepath.Join(t.TempDir(), "plant.db")
	syncDB(t, dsn, 300)
	relay := relaytest.Start(t, map[string]string{syncAgentID: syncAgentSecret})
	relay.Stop()
	a := startSyncAgent(t, relay.URL(), dsn, func(c *Config) {
		c.Buffer.MaxBytes = 128 << 10
		c.Sync.Models = []string{"work_orders"}
	})
	waitUntil(t, 20*time.Second, "a full outbox", func() bool { return a.Status().Buffer.Full })
	st := a.Status()
	if st.Buffer.Bytes > 128<<10+64<<10 || len(st.Models) != 1 || st.Models[0].Status != wire.SyncPaused {
		t.Errorf("while full: %+v %+v", st.Buffer, st.Models)
	}
	relay.Start()
	waitUntil(t, 30*time.Second, "all work orders at the relay", func() bool { return len(relay.Live("work_orders")) == 300 })
	waitUntil(t, 10*time.Second, "a report of the drained buffer", func() bool {
		sts := relay.Statuses()
		return len(sts) > 0 && !sts[len(sts)-1].Buffer.Full
	})
	sawFull := false
	for _, s := range relay.Statuses() {
		sawFull = sawFull || s.Buffer.Full
	}
	if !sawFull {
		t.Error("the relay never heard that the buffer was full")
	}
}

// TestAgentDatabaseDown starts the agent before its database exists: the relay hears
// that the database is unreachable, and once it is there a manual sync brings the
// records without restarting the agent.
func TestAgentDatabaseDown(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	dsn := filepath.Join(dir, "plant.db")
	relay := relaytest.Start(t, map[string]string{syncAgentID: syncAgentSecret})
	a := startSyncAgent(t, relay.URL(), "file:"+dsn+"?mode=ro", func(c *Config) { c.Sync.Models = []string{"work_orders"} })
	waitUntil(t, 20*time.Second, "the relay to hear the database is unreachable", func() bool {
		sts := relay.Statuses()
		return len(sts) > 0 && sts[len(sts)-1].Database.State == wire.DBUnreachable
	})
	if st := a.Status().Database; st.Error == nil || st.Error.Code != "CONNECTION_UNREACHABLE" || strings.Contains(st.Error.Message, dsn) {
		t.Errorf("database status %+v", st)
	}
	syncDB(t, dsn, 50)
	code, _, err := relay.CallAgent(context.Background(), syncAgentID, http.MethodPost, wire.PathSyncs, []byte(`{"models":["work_orders"]}`))
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("sync request: %d %v", code, err)
	}
	waitUntil(t, 30*time.Second, "the work orders", func() bool { return len(relay.Live("work_orders")) == 50 })
	waitUntil(t, 10*time.Second, "the relay to hear the database is reachable", func() bool {
		sts := relay.Statuses()
		return len(sts) > 0 && sts[len(sts)-1].Database.State == wire.DBReachable
	})
}

func jsonUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
