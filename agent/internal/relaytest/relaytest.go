// Package relaytest is a stand-in relay for the agent's tests and benchmarks: a real
// tunnel endpoint on a loopback listener, serving the agent-facing paths of package
// wire with a minimal ingest that keeps records in memory. Like the relay it applies a
// batch id once (a re-sent batch is acknowledged as a duplicate and changes nothing)
// and, at the end of a full re-sync, marks every record of the model that no batch has
// carried since the re-sync began as deleted.
package relaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Relay is a running stand-in relay. Its stored records survive Stop and Start, as a
// real relay's store would.
type Relay struct {
	tb     testing.TB
	agents map[string]string
	addr   string

	srvMu sync.Mutex // guards the fields below
	ep    *tunnel.Endpoint
	srv   *http.Server
	done  chan struct{}

	mu       sync.Mutex // guards the fields below
	fail     func(path string) int
	loseAcks int      // acknowledgments still to lose
	order    []string // what arrived and was applied, in order
	applied  map[string]wire.BatchAck
	records  map[string]map[string]*record // model → id → record
	clock    int64                         // orders record sightings
	fulls    map[string]int64              // model/full_sync_id → clock at its first batch
	states   map[string][]wire.SyncState
	statuses []wire.AgentStatus
	dups     int
	rows     int64
	// fullDone counts the full re-syncs ended per model.
	fullDone map[string]int
}

type record struct {
	body    json.RawMessage
	deleted bool
	seen    int64
}

// Start starts a relay on a free loopback port that accepts the agents given as
// id → secret. It stops when the test ends.
func Start(tb testing.TB, agents map[string]string) *Relay {
	tb.Helper()
	r := &Relay{tb: tb, agents: agents, addr: "127.0.0.1:0", applied: map[string]wire.BatchAck{},
		records: map[string]map[string]*record{}, fulls: map[string]int64{}, states: map[string][]wire.SyncState{},
		fullDone: map[string]int{}}
	r.Start()
	tb.Cleanup(r.Stop)
	return r
}

// URL is the relay's address for the agent's relay.url.
func (r *Relay) URL() string { return "ws://" + r.addr }

// Start starts a stopped relay again on the same port.
func (r *Relay) Start() {
	r.tb.Helper()
	r.srvMu.Lock()
	defer r.srvMu.Unlock()
	var ln net.Listener
	var err error
	// A restarted relay may need a moment for its old port to be free.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("relay listen on %s: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.addr = ln.Addr().String()
	r.ep = tunnel.NewEndpoint(tunnel.EndpointConfig{Auth: auth(r.agents), Handler: r.handler(),
		Logger: logtest.New(r.tb).With("side", "relay"), DrainTimeout: 2 * time.Second})
	mux := http.NewServeMux()
	mux.Handle(tunnel.TunnelPath, r.ep)
	r.srv = &http.Server{Handler: mux}
	r.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		srv.Serve(ln)
	}(r.srv, r.done)
}

// Stop closes the relay abruptly: tunnels drop, nothing is drained. Stopping twice is
// fine.
func (r *Relay) Stop() {
	r.srvMu.Lock()
	defer r.srvMu.Unlock()
	if r.srv == nil {
		return
	}
	r.srv.Close()
	r.ep.Close()
	<-r.done
	r.srv, r.ep = nil, nil
}

type auth map[string]string

func (a auth) AuthenticateAgent(_ context.Context, id, secret string) error {
	if want, ok := a[id]; ok && want == secret {
		return nil
	}
	return tunnel.ErrUnauthorized
}

// SetFail makes the relay answer a status instead of handling a call whenever f
// returns one other than 0; nil handles every call.
func (r *Relay) SetFail(f func(path string) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = f
}

func (r *Relay) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathBatches, r.batch)
	mux.HandleFunc("POST "+wire.PathSyncState, r.syncState)
	mux.HandleFunc("POST "+wire.PathStatus, r.status)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		fail := r.fail
		r.mu.Unlock()
		if fail != nil {
			if code := fail(req.URL.Path); code != 0 {
				io.Copy(io.Discard, req.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.Error{Code: "INVALID_REQUEST", Message: "refused by the test"}})
				return
			}
		}
		mux.ServeHTTP(w, req)
	})
}

func answerError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.Error{Code: "INVALID_REQUEST", Message: msg}})
}

// recordKeys is the part of a record the stand-in looks at.
type recordKeys struct {
	ID       string `json:"id"`
	RemoteID string `json:"remote_id"`
	Deleted  bool   `json:"remote_was_deleted"`
}

func (r *Relay) batch(w http.ResponseWriter, req *http.Request) {
	var b wire.Batch
	if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
		answerError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if b.BatchID == "" || b.Model == "" || b.Records == nil || (b.FullSyncDone && b.FullSyncID == "") {
		answerError(w, http.StatusBadRequest, "batch_id, model and records are required; full_sync_done needs full_sync_id")
		return
	}
	keys := make([]recordKeys, len(b.Records))
	for i, raw := range b.Records {
		if err := json.Unmarshal(raw, &keys[i]); err != nil || keys[i].ID == "" || keys[i].RemoteID == "" {
			answerError(w, http.StatusBadRequest, fmt.Sprintf("records[%d]: no id (%v)", i, err))
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ack, ok := r.applied[b.BatchID]; ok {
		r.dups++
		ack.Duplicate = true
		writeJSON(w, ack)
		return
	}
	r.order = append(r.order, "batch "+b.Model)
	r.clock++
	if b.FullSyncID != "" {
		if _, ok := r.fulls[b.Model+"/"+b.FullSyncID]; !ok {
			r.fulls[b.Model+"/"+b.FullSyncID] = r.clock
		}
	}
	recs := r.records[b.Model]
	if recs == nil {
		recs = map[string]*record{}
		r.records[b.Model] = recs
	}
	ack := wire.BatchAck{BatchID: b.BatchID, Records: len(b.Records)}
	for i, k := range keys {
		old := recs[k.ID]
		if k.Deleted {
			// Deletions come as keys: keep the stored body, mark it.
			if old != nil {
				ack.Changed += boolInt(!old.deleted)
				old.deleted, old.seen = true, r.clock
			}
			continue
		}
		if old == nil || old.deleted || !bytes.Equal(old.body, b.Records[i]) {
			ack.Changed++
		}
		recs[k.ID] = &record{body: b.Records[i], seen: r.clock}
	}
	if b.FullSyncDone {
		r.fullDone[b.Model]++
		start := r.fulls[b.Model+"/"+b.FullSyncID]
		for _, rec := range recs {
			if !rec.deleted && rec.seen < start {
				rec.deleted = true
				ack.Deleted++
			}
		}
	}
	r.applied[b.BatchID] = ack
	r.rows += int64(len(b.Records))
	if r.loseAcks > 0 {
		// Applied, but the agent never hears of it, as when the tunnel drops just then.
		r.loseAcks--
		answerError(w, http.StatusServiceUnavailable, "acknowledgment lost by the test")
		return
	}
	writeJSON(w, ack)
}

// LoseAcks makes the relay apply the next n batches but answer 503, as if the
// acknowledgment were lost on its way.
func (r *Relay) LoseAcks(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loseAcks = n
}

// Order returns what the relay applied, in order: "batch <model>" and
// "state <model> <status>".
func (r *Relay) Order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (r *Relay) syncState(w http.ResponseWriter, req *http.Request) {
	var s wire.SyncState
	if err := json.NewDecoder(req.Body).Decode(&s); err != nil || s.Model == "" {
		answerError(w, http.StatusBadRequest, fmt.Sprintf("body: %v", err))
		return
	}
	r.mu.Lock()
	r.states[s.Model] = append(r.states[s.Model], s)
	r.order = append(r.order, "state "+s.Model+" "+s.Status)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *Relay) status(w http.ResponseWriter, req *http.Request) {
	var s wire.AgentStatus
	if err := json.NewDecoder(req.Body).Decode(&s); err != nil {
		answerError(w, http.StatusBadRequest, fmt.Sprintf("body: %v", err))
		return
	}
	r.mu.Lock()
	r.statuses = append(r.statuses, s)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Live returns the live (not deleted) records of a model by id.
func (r *Relay) Live(modelName string) map[string]json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]json.RawMessage{}
	for id, rec := range r.records[modelName] {
		if !rec.deleted {
			out[id] = rec.body
		}
	}
	return out
}

// Deleted returns the ids of a model's records marked deleted.
func (r *Relay) Deleted(modelName string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, rec := range r.records[modelName] {
		if rec.deleted {
			out = append(out, id)
		}
	}
	return out
}

// FullSyncsDone returns how many full re-syncs of a model have ended.
func (r *Relay) FullSyncsDone(modelName string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fullDone[modelName]
}

// States returns the sync states the agent sent for a model, in order.
func (r *Relay) States(modelName string) []wire.SyncState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.SyncState(nil), r.states[modelName]...)
}

// Statuses returns the status reports the agent sent, in order.
func (r *Relay) Statuses() []wire.AgentStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.AgentStatus(nil), r.statuses...)
}

// Counts returns the batches applied, the duplicates acknowledged, and the records
// received in applied batches.
func (r *Relay) Counts() (batches, duplicates int, rows int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied), r.dups, r.rows
}

// Connected reports whether the agent has a tunnel up.
func (r *Relay) Connected(agentID string) bool {
	r.srvMu.Lock()
	defer r.srvMu.Unlock()
	if r.ep == nil {
		return false
	}
	_, err := r.ep.Session(agentID)
	return err == nil
}

// CallAgent makes one relay→agent call through the agent's tunnel and returns the
// status and body.
func (r *Relay) CallAgent(ctx context.Context, agentID, method, path string, body []byte) (int, []byte, error) {
	r.srvMu.Lock()
	ep := r.ep
	r.srvMu.Unlock()
	if ep == nil {
		return 0, nil, tunnel.ErrAgentOffline
	}
	s, err := ep.Session(agentID)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.HeaderRequestID, "req_test")
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
