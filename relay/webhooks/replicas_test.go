package webhooks

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/internal/pgtest"
	"github.com/plantbridge/plantbridge/relay/store"
)

// TestReplicasOnPostgres runs two relays' dispatchers on one PostgreSQL
// database, both emitting: every delivery is sent once per attempt, never
// by both replicas at once.
func TestReplicasOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	leaktest.Check(t)
	ctx := context.Background()
	dsn := pgtest.Start(t).CreateDB(t, "webhooks")
	open := func() store.Store {
		st, err := store.OpenPostgres(ctx, dsn, store.Options{Logger: logtest.New(t), MaxOpenConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stA, stB := open(), open()
	f := newFixture(t, stA, "acme")

	// Each receiver fails the first request of every event, so that every
	// delivery has exactly two attempts, a failure and a success.
	var (
		mu   sync.Mutex
		seen = map[string]int{} // endpoint index + webhook-id → requests
	)
	const endpoints, events = 3, 150
	var eps []store.WebhookEndpoint
	for i := range endpoints {
		rc := newReceiver(t)
		rc.setRespond(func(r *http.Request, _ []byte) int {
			mu.Lock()
			defer mu.Unlock()
			key := string(rune('0'+i)) + r.Header.Get(HeaderID)
			seen[key]++
			if seen[key] == 1 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		eps = append(eps, createEndpoint(t, stA, f.acct.ID, store.NewWebhookEndpoint{URL: rc.srv.URL}))
	}
	opts := testOptions(t)
	opts.Backoff = Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond, Window: 10 * time.Minute}
	opts.PollInterval = 20 * time.Millisecond
	a, b := start(t, stA, opts), start(t, stB, opts)
	for i := range events {
		svc := a
		if i%2 == 1 {
			svc = b
		}
		if _, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncCompleted, ConnectionID: f.conn.ID}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "every delivery to succeed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range seen {
			if c >= 2 {
				n++
			}
		}
		return n == endpoints*events
	})
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show
	mu.Lock()
	for key, c := range seen {
		if c != 2 {
			t.Errorf("%s: %d requests, want 2", key, c)
		}
	}
	mu.Unlock()
	for _, ep := range eps {
		log := allAttempts(t, stB, f.acct.ID, ep.ID)
		if len(log) != 2*events {
			t.Errorf("endpoint %s: %d attempts logged, want %d", ep.ID, len(log), 2*events)
		}
		for _, at := range log {
			if (at.Number == 1) != (at.StatusCode == 503) {
				t.Errorf("attempt %+v", at)
			}
		}
	}
}
