package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/relay/store"
)

// openStore opens a SQLite store at path, closed when t ends.
func openStore(t testing.TB, path string) store.Store {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), path, store.Options{Logger: logtest.New(t)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func tempStore(t testing.TB) store.Store {
	return openStore(t, filepath.Join(t.TempDir(), "relay.db"))
}

// fixture is an account with a connection.
type fixture struct {
	acct store.Account
	conn store.Connection
}

func newFixture(t testing.TB, st store.Store, name string) fixture {
	t.Helper()
	ctx := context.Background()
	a, err := st.CreateAccount(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateConnection(ctx, a.ID, store.NewConnection{Name: name + " plant", System: "maximo"})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{acct: a, conn: c}
}

// testOptions are options for tests: loopback http receivers, fast
// timeouts, a compressed retry schedule.
func testOptions(t testing.TB) Options {
	return Options{
		Logger:        logtest.New(t),
		AllowHTTP:     true,
		AllowLoopback: true,
		Timeout:       2 * time.Second,
		Backoff:       Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond, Window: time.Minute},
		PollInterval:  50 * time.Millisecond,
	}
}

// start runs a Service until t ends.
func start(t testing.TB, st store.Store, opts Options) *Service {
	t.Helper()
	s := New(st, opts)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return s
}

// received is one request as a receiver saw it.
type received struct {
	id, timestamp, signature string
	body                     []byte
	header                   http.Header
	status                   int
	at                       time.Time
}

// receiver is a webhook receiver on loopback that records every request and
// answers with what respond says (204 when nil).
type receiver struct {
	srv *httptest.Server

	mu      sync.Mutex // guards the fields below
	got     []received
	respond func(r *http.Request, body []byte) int
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	respond := rc.respond
	rc.mu.Unlock()
	status := http.StatusNoContent
	if respond != nil {
		status = respond(r, body)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{id: r.Header.Get(HeaderID), timestamp: r.Header.Get(HeaderTimestamp),
		signature: r.Header.Get(HeaderSignature), body: body, header: r.Header.Clone(), status: status, at: time.Now()})
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) setRespond(f func(r *http.Request, body []byte) int) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allAttempts returns an endpoint's whole attempt log, oldest first.
func allAttempts(t testing.TB, st store.Store, acct, ep string) []store.Attempt {
	t.Helper()
	var out []store.Attempt
	p := store.Page{Limit: store.MaxPageSize}
	for {
		list, next, err := st.ListAttempts(context.Background(), acct, ep, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, list...)
		if next == "" {
			break
		}
		p.After = next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func createEndpoint(t testing.TB, st store.Store, acct string, ne store.NewWebhookEndpoint) store.WebhookEndpoint {
	t.Helper()
	e, err := st.CreateWebhookEndpoint(context.Background(), acct, ne)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func decodeMessage(t testing.TB, body []byte) Message {
	t.Helper()
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("message %s: %v", body, err)
	}
	return m
}
