package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/relay/store"
)

// flakyReceiver fails a share of requests at random and can be taken down
// entirely (its port then refuses connections) and brought back on the
// same address.
type flakyReceiver struct {
	t    *testing.T
	addr string
	fail float64

	mu   sync.Mutex // guards the fields below
	srv  *http.Server
	done chan struct{}
	rnd  *rand.Rand
	// seen holds, per webhook-id, the status of every request answered.
	seen map[string][]int
	// bodyIDs records the message id in each body, per webhook-id.
	bodyIDs map[string]map[string]bool
}

func newFlakyReceiver(t *testing.T, fail float64) *flakyReceiver {
	fr := &flakyReceiver{t: t, fail: fail, rnd: rand.New(rand.NewPCG(6, 2026)),
		seen: map[string][]int{}, bodyIDs: map[string]map[string]bool{}}
	fr.up()
	t.Cleanup(fr.down)
	return fr
}

func (fr *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get(HeaderID)
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		fr.t.Errorf("receiver: body %s: %v", body, err)
	}
	fr.mu.Lock()
	status := http.StatusOK
	if fr.rnd.Float64() < fr.fail {
		status = []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests}[fr.rnd.IntN(3)]
	}
	fr.seen[id] = append(fr.seen[id], status)
	if fr.bodyIDs[id] == nil {
		fr.bodyIDs[id] = map[string]bool{}
	}
	fr.bodyIDs[id][m.ID] = true
	fr.mu.Unlock()
	w.WriteHeader(status)
}

// up listens (again) on the receiver's address.
func (fr *flakyReceiver) up() {
	fr.t.Helper()
	addr := fr.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fr.t.Fatalf("receiver listen: %v", err)
	}
	fr.mu.Lock()
	fr.addr = l.Addr().String()
	fr.srv = &http.Server{Handler: fr}
	fr.done = make(chan struct{})
	srv, done := fr.srv, fr.done
	fr.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			fr.t.Errorf("receiver: %v", err)
		}
	}()
}

// down stops listening. Requests being answered are answered first, so
// that every request the receiver saw reached the relay.
func (fr *flakyReceiver) down() {
	fr.mu.Lock()
	srv, done := fr.srv, fr.done
	fr.srv = nil
	fr.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	<-done
}

func (fr *flakyReceiver) snapshot() map[string][]int {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	out := make(map[string][]int, len(fr.seen))
	for k, v := range fr.seen {
		out[k] = slices.Clone(v)
	}
	return out
}

func (fr *flakyReceiver) delivered(ids []string) int {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	n := 0
	for _, id := range ids {
		if slices.ContainsFunc(fr.seen[id], func(s int) bool { return s/100 == 2 }) {
			n++
		}
	}
	return n
}

// TestDeliveryUnderFailures sends 1,000 events to a receiver that fails 30%
// of requests and is down for a stretch, while the relay restarts (its
// dispatcher and store closed and reopened on the same database): every
// event arrives, every retry carries the event's webhook-id, and the
// delivery log records exactly what the receiver answered.
func TestDeliveryUnderFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("sends a few thousand requests")
	}
	leaktest.Check(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "relay.db")
	st := openStore(t, path)
	f := newFixture(t, st, "acme")
	fr := newFlakyReceiver(t, 0.3)
	ep := createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: "http://" + fr.addr + "/hooks"})

	opts := testOptions(t)
	opts.MaxPerEndpoint = 8
	// Retries within milliseconds, and a window no event outlives here.
	opts.Backoff = Backoff{Base: 5 * time.Millisecond, Max: 100 * time.Millisecond, Window: 10 * time.Minute}
	run := func(st store.Store) (*Service, func()) {
		svc := New(st, opts)
		errc := make(chan error, 1)
		go func() { errc <- svc.Run(ctx) }()
		return svc, func() {
			svc.Close()
			if err := <-errc; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	svc, stop := run(st)
	var ids []string
	emit := func(n int) {
		t.Helper()
		for range n {
			id, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncCompleted, ConnectionID: f.conn.ID,
				Data: SyncCompletedData{Model: "work_orders", RecordsSynced: int64(len(ids))}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}

	emit(300)
	waitFor(t, 30*time.Second, "the first deliveries", func() bool { return fr.delivered(ids) >= 100 })
	fr.down()
	emit(300)
	time.Sleep(300 * time.Millisecond) // attempts meet a closed port

	// The relay restarts while the receiver is down.
	stop()
	st.Close()
	st = openStore(t, path)
	svc, stop = run(st)
	defer func() { stop() }()
	emit(200)
	time.Sleep(300 * time.Millisecond)
	fr.up()
	emit(200)
	waitFor(t, 60*time.Second, "every event delivered", func() bool { return fr.delivered(ids) == len(ids) })
	stop()
	stop = func() {}

	seen := fr.snapshot()
	log := allAttempts(t, st, f.acct.ID, ep.ID)
	byEvent := map[string][]store.Attempt{}
	refused := 0
	for _, a := range log {
		byEvent[a.EventID] = append(byEvent[a.EventID], a)
	}
	retried := 0
	for _, id := range ids {
		fr.mu.Lock()
		bodyIDs := fr.bodyIDs[id]
		fr.mu.Unlock()
		if len(bodyIDs) != 1 || !bodyIDs[id] {
			t.Errorf("event %s: requests with webhook-id %s carried message ids %v", id, id, bodyIDs)
		}
		var logged []int
		for i, a := range byEvent[id] {
			if a.Number != i+1 {
				t.Errorf("event %s: attempt %d numbered %d", id, i+1, a.Number)
			}
			if a.StatusCode == 0 {
				refused++
				if a.Error == "" {
					t.Errorf("event %s: attempt %d without status or error", id, a.Number)
				}
				continue
			}
			logged = append(logged, a.StatusCode)
		}
		if !slices.Equal(logged, seen[id]) {
			t.Errorf("event %s: log has statuses %v, the receiver answered %v", id, logged, seen[id])
		}
		successes := 0
		for _, s := range seen[id] {
			if s/100 == 2 {
				successes++
			}
		}
		if successes != 1 {
			t.Errorf("event %s: %d successful requests, want 1", id, successes)
		}
		if len(seen[id]) > 1 {
			retried++
		}
	}
	if len(seen) != len(ids) {
		t.Errorf("the receiver saw %d webhook-ids, %d events were emitted", len(seen), len(ids))
	}
	if refused == 0 {
		t.Error("no attempt met the receiver down")
	}
	t.Logf("%d events, %d attempts (%d while the receiver was down), %d events needed more than one request",
		len(ids), len(log), refused, retried)
}
