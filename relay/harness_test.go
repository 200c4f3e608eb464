package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/relay/webhooks"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// testRelay is a relay serving on loopback over a SQLite store in a temp dir.
type testRelay struct {
	t    testing.TB
	srv  *Server
	base string
	st   store.Store
	// key is the API key of account acct.
	key, acct string
	events    *eventLog
}

type relayOpts struct {
	cfg   func(*Config)
	store store.Store
	now   func() time.Time
	// quiet discards the relay's log (fuzz targets may not log through the F).
	quiet bool
	// options changes the relay's options (webhooks, metrics).
	options func(*Options)
	// webhooks delivers events for real (to loopback receivers) besides recording them.
	webhooks bool
}

func startRelay(t testing.TB, o relayOpts) *testRelay {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.DrainTimeout = 2 * time.Second
	cfg.API.AgentTimeout = 5 * time.Second
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	log := logtest.New(t).With("side", "relay")
	if o.quiet {
		log = slog.New(slog.DiscardHandler)
	}
	st := o.store
	if st == nil {
		var err error
		st, err = OpenStore(context.Background(), cfg, log)
		if err != nil {
			t.Fatal(err)
		}
	}
	events := &eventLog{}
	opts := Options{Events: events, OfflineGrace: 300 * time.Millisecond, Now: o.now}
	if o.options != nil {
		o.options(&opts)
	}
	if o.webhooks {
		cfg.Webhooks.AllowHTTP, cfg.Webhooks.AllowPrivate = true, true
		svc := Webhooks(cfg, st, log, &opts, webhooks.Options{PollInterval: 50 * time.Millisecond})
		opts.Events = teeEvents{events, svc}
	}
	srv, err := NewWithStore(cfg, st, log, opts)
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
	tr := &testRelay{t: t, srv: srv, base: "http://" + ln.Addr().String(), st: st, events: events}
	tr.acct, tr.key = tr.newAccount("acme")
	return tr
}

// newAccount creates an account and returns its id and an API key.
func (tr *testRelay) newAccount(name string) (id, key string) {
	tr.t.Helper()
	ctx := context.Background()
	a, err := tr.st.CreateAccount(ctx, name)
	if err != nil {
		tr.t.Fatal(err)
	}
	_, plain, err := tr.st.CreateAPIKey(ctx, a.ID, "test")
	if err != nil {
		tr.t.Fatal(err)
	}
	return a.ID, plain
}

// response is an API answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// errorCode returns the code of an error answer, checking its shape.
func (r response) errorCode(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	eo, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("not an error answer: %s", r.body)
	}
	for _, k := range []string{"code", "type", "message", "request_id"} {
		if s, _ := eo[k].(string); s == "" {
			t.Fatalf("error answer lacks %s: %s", k, r.body)
		}
	}
	if eo["request_id"] != r.header.Get("X-Request-Id") {
		t.Fatalf("request_id %v differs from X-Request-Id %q", eo["request_id"], r.header.Get("X-Request-Id"))
	}
	return eo["code"].(string)
}

// call makes an API request with key (tr.key when "-" is not given; "" for none).
func (tr *testRelay) call(method, path string, body any, key string, headers ...string) response {
	tr.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, tr.base+path, rd)
	if err != nil {
		tr.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Request-Id") == "" {
		tr.t.Fatalf("%s %s: no X-Request-Id", method, path)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must makes a call that must answer want.
func (tr *testRelay) must(want int, method, path string, body any) map[string]any {
	tr.t.Helper()
	r := tr.call(method, path, body, tr.key)
	if r.status != want {
		tr.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(tr.t)
}

// connection creates a connection and returns its id and enrollment token.
func (tr *testRelay) connection(system string) (id, token string) {
	tr.t.Helper()
	m := tr.must(http.StatusCreated, "POST", "/v1/connections", map[string]any{"name": "Plant " + system, "system": system})
	return m["id"].(string), m["enrollment"].(map[string]any)["token"].(string)
}

// fakeAgent is a tunnel client with the agent's credential and a scripted handler,
// standing in for the agent where a test is about the relay.
type fakeAgent struct {
	t      testing.TB
	c      *tunnel.Client
	cred   wire.EnrollResponse
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // guards the fields below
	writes []wire.WriteBatch
	// onWrite answers a write; default: echo it back as stored with a remote id.
	onWrite func(model string, w wire.Write) wire.WriteResult
}

// enroll redeems token at the relay.
func (tr *testRelay) enroll(token string) (wire.EnrollResponse, response) {
	tr.t.Helper()
	r := tr.call("POST", wire.EnrollPath, wire.EnrollRequest{Token: token, Hostname: "plant-host"}, "")
	var cred wire.EnrollResponse
	if r.status == http.StatusOK {
		json.Unmarshal(r.body, &cred)
	}
	return cred, r
}

// startAgent enrolls with token and connects.
func (tr *testRelay) startAgent(token string) *fakeAgent {
	tr.t.Helper()
	cred, r := tr.enroll(token)
	if r.status != http.StatusOK {
		tr.t.Fatalf("enroll: %d %s", r.status, r.body)
	}
	return tr.connectAgent(cred)
}

func (tr *testRelay) connectAgent(cred wire.EnrollResponse) *fakeAgent {
	tr.t.Helper()
	return tr.connectAgentWith(cred, nil)
}

// connectAgentWith connects an agent that serves routes (patterns such as
// "GET /v1/agent/schema") besides writes and syncs.
func (tr *testRelay) connectAgentWith(cred wire.EnrollResponse, routes map[string]http.HandlerFunc) *fakeAgent {
	tr.t.Helper()
	fa := &fakeAgent{t: tr.t, cred: cred, done: make(chan struct{})}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, h)
	}
	mux.HandleFunc("POST "+wire.PathWrites, fa.serveWrites)
	mux.HandleFunc("POST "+wire.PathSyncs, func(w http.ResponseWriter, r *http.Request) {
		var req wire.SyncRequest
		json.NewDecoder(r.Body).Decode(&req)
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(req)
	})
	c, err := tunnel.NewClient(tunnel.ClientConfig{
		Dialer:  tunnel.DialerConfig{RelayURL: "ws" + strings.TrimPrefix(tr.base, "http")},
		Hello:   tunnel.Hello{AgentID: cred.AgentID, Secret: cred.Secret, Version: "test", Hostname: "plant-host", OS: "linux"},
		Handler: mux,
		Logger:  logtest.New(tr.t).With("side", "agent"),
	})
	if err != nil {
		tr.t.Fatal(err)
	}
	fa.c = c
	ctx, cancel := context.WithCancel(context.Background())
	fa.cancel = cancel
	go func() {
		defer close(fa.done)
		c.Run(ctx)
	}()
	tr.t.Cleanup(fa.stop)
	waitFor(tr.t, 5*time.Second, "agent connected", func() bool { return c.Status().Connected })
	return fa
}

func (fa *fakeAgent) stop() {
	fa.cancel()
	<-fa.done
}

func (fa *fakeAgent) serveWrites(w http.ResponseWriter, r *http.Request) {
	var b wire.WriteBatch
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.Error{Code: "INVALID_REQUEST", Message: err.Error()}})
		return
	}
	fa.mu.Lock()
	fa.writes = append(fa.writes, b)
	on := fa.onWrite
	fa.mu.Unlock()
	out := wire.WriteResults{}
	for i, wr := range b.Writes {
		if on != nil {
			out.Results = append(out.Results, on(b.Model, wr))
			continue
		}
		rid := wr.RemoteID
		if rid == "" {
			rid = fmt.Sprintf("NEW-%d-%d", time.Now().UnixNano(), i)
		}
		rec := model.Record{ID: model.RecordID(fa.cred.ConnectionID, b.Model, rid), RemoteID: rid, Model: b.Model, Fields: wr.Fields}
		raw, _ := json.Marshal(rec)
		out.Results = append(out.Results, wire.WriteResult{Record: raw})
	}
	json.NewEncoder(w).Encode(out)
}

// upload sends one batch of records of modelName as the agent's outbox would.
func (fa *fakeAgent) upload(batchID, modelName string, recs []model.Record, fullSyncID string, done bool) (wire.BatchAck, int) {
	fa.t.Helper()
	b := wire.Batch{BatchID: batchID, Model: modelName, FullSyncID: fullSyncID, FullSyncDone: done, Records: []json.RawMessage{}}
	for _, r := range recs {
		raw, err := json.Marshal(r)
		if err != nil {
			fa.t.Fatal(err)
		}
		b.Records = append(b.Records, raw)
	}
	var ack wire.BatchAck
	status := fa.post(wire.PathBatches, b, &ack)
	return ack, status
}

// post calls the relay through the tunnel.
func (fa *fakeAgent) post(path string, body, out any) int {
	fa.t.Helper()
	buf, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://relay"+path, bytes.NewReader(buf))
	req.Header.Set("Content-Type", "application/json")
	resp, err := fa.c.Do(req)
	if err != nil {
		fa.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// workOrder makes a work order record of the agent's connection.
func (fa *fakeAgent) workOrder(n int, title string) model.Record {
	rid := fmt.Sprintf("BEDFORD/WO%06d", n)
	return model.Record{ID: model.RecordID(fa.cred.ConnectionID, "work_orders", rid), RemoteID: rid, Model: "work_orders",
		Fields: map[string]any{"number": fmt.Sprintf("WO%06d", n), "title": title, "status": "open", "remote_status": "WAPPR"}}
}

// eventLog records emitted webhook events.
type eventLog struct {
	mu   sync.Mutex // guards list
	list []emitted
}

type emitted struct {
	account, typ, connection string
	data                     any
}

func (l *eventLog) Emit(ctx context.Context, e webhooks.Event) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, emitted{e.AccountID, e.Type, e.ConnectionID, e.Data})
	return fmt.Sprintf("msg_%d", len(l.list)), nil
}

// teeEvents records events and passes them on.
type teeEvents struct {
	log  *eventLog
	next Events
}

func (t teeEvents) Emit(ctx context.Context, e webhooks.Event) (string, error) {
	t.log.Emit(ctx, e)
	return t.next.Emit(ctx, e)
}

func (l *eventLog) find(typ string, match func(emitted) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.list {
		if e.typ == typ && (match == nil || match(e)) {
			return true
		}
	}
	return false
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
