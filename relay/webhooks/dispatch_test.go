package webhooks

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/relay/store"
)

func TestRetriesKeepIDAndBody(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	st := tempStore(t)
	f := newFixture(t, st, "acme")
	rc := newReceiver(t)
	var n atomic.Int32
	rc.setRespond(func(*http.Request, []byte) int {
		if n.Add(1) <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	ep := createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: rc.srv.URL})
	svc := start(t, st, testOptions(t))
	id, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventJobCompleted,
		Data: JobCompletedData{JobID: "job_1", Status: "completed", Total: 3, Succeeded: 3}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "three attempts", func() bool { return len(rc.requests()) == 3 })
	got := rc.requests()
	for i, r := range got {
		if r.id != id || !bytes.Equal(r.body, got[0].body) {
			t.Errorf("attempt %d: webhook-id %q, body %s; want %s and the first body", i+1, r.id, r.body, id)
		}
	}
	m := decodeMessage(t, got[0].body)
	if m.Type != EventJobCompleted || m.ConnectionID != nil || !strings.Contains(string(m.Data), `"job_id":"job_1"`) {
		t.Errorf("message %+v", m)
	}
	var log []store.Attempt
	waitFor(t, 5*time.Second, "three logged attempts", func() bool {
		log = allAttempts(t, st, f.acct.ID, ep.ID)
		return len(log) == 3
	})
	for i, want := range []int{503, 503, 200} {
		a := log[i]
		if a.Number != i+1 || a.StatusCode != want || a.EventID != id || (a.NextRetry == nil) != (want == 200) {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	if !strings.HasPrefix(log[0].Error, "HTTP 503") {
		t.Errorf("error %q", log[0].Error)
	}
	e, _ := st.GetWebhookEndpoint(ctx, f.acct.ID, ep.ID)
	if e.Health.LastSuccessAt == nil || e.Health.ConsecutiveFailures != 0 {
		t.Errorf("health %+v", e.Health)
	}
}

// TestBadReceivers: redirects are not followed, response bodies are read
// only up to the limit, slow receivers time out, and a target address the
// policy refuses is refused when connecting.
func TestBadReceivers(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	st := tempStore(t)
	f := newFixture(t, st, "acme")

	var redirected atomic.Int32
	target := newReceiver(t)
	target.setRespond(func(*http.Request, []byte) int { redirected.Add(1); return 200 })
	huge := strings.Repeat("x", 8<<20)
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/huge-error", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("<html>\n\tbroken " + huge))
	})
	mux.HandleFunc("/huge-ok", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(huge))
	})
	release := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	rc := newReceiver(t)
	rc.srv.Config.Handler = mux
	t.Cleanup(func() { close(release) })

	opts := testOptions(t)
	opts.Timeout = 500 * time.Millisecond
	opts.Backoff = Backoff{Base: time.Hour, Max: time.Hour, Window: time.Hour} // one attempt each here
	svc := start(t, st, opts)

	cases := []struct {
		path string
		// want is a part of the logged error; "" for success.
		want string
	}{
		{"/redirect", "HTTP 307 Temporary Redirect: redirects are not followed"},
		{"/huge-error", "HTTP 500 Internal Server Error: <html> broken xxx"},
		{"/huge-ok", ""},
		{"/slow", "timeout"},
		{"/slow-body", "HTTP 502"},
	}
	eps := map[string]store.WebhookEndpoint{}
	for _, tc := range cases {
		eps[tc.path] = createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: rc.srv.URL + tc.path})
	}
	if _, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncCompleted}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		var log []store.Attempt
		waitFor(t, 10*time.Second, tc.path+" attempt", func() bool {
			log = allAttempts(t, st, f.acct.ID, eps[tc.path].ID)
			return len(log) == 1
		})
		a := log[0]
		if tc.want == "" {
			if a.Error != "" || a.StatusCode != 200 {
				t.Errorf("%s: %+v", tc.path, a)
			}
		} else if !strings.Contains(a.Error, tc.want) || len(a.Error) > excerptLen+100 || a.NextRetry == nil {
			t.Errorf("%s: error %q (%d bytes), next retry %v; want it to contain %q", tc.path, a.Error, len(a.Error), a.NextRetry, tc.want)
		}
		if a.Duration > 3*opts.Timeout {
			t.Errorf("%s: took %s", tc.path, a.Duration)
		}
	}
	if redirected.Load() != 0 {
		t.Error("the redirect was followed")
	}

	// An endpoint stored with a loopback URL (by a relay whose policy
	// allowed it) is refused when connecting by one whose policy does not.
	strict := opts
	strict.AllowLoopback = false
	st2 := tempStore(t)
	f2 := newFixture(t, st2, "beta")
	ep := createEndpoint(t, st2, f2.acct.ID, store.NewWebhookEndpoint{URL: target.srv.URL})
	svc2 := start(t, st2, strict)
	if _, err := svc2.Emit(ctx, Event{AccountID: f2.acct.ID, Type: EventSyncCompleted}); err != nil {
		t.Fatal(err)
	}
	var log []store.Attempt
	waitFor(t, 10*time.Second, "refused attempt", func() bool {
		log = allAttempts(t, st2, f2.acct.ID, ep.ID)
		return len(log) == 1
	})
	if !strings.Contains(log[0].Error, "loopback address") || log[0].StatusCode != 0 || redirected.Load() != 0 {
		t.Errorf("refused target: %+v", log[0])
	}
}

// TestSlowEndpointDoesNotDelayOthers: a receiver that takes a second per
// request holds at most MaxPerEndpoint slots; the others' events arrive
// meanwhile.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	st := tempStore(t)
	f := newFixture(t, st, "acme")
	release := make(chan struct{})
	slow, fast := newReceiver(t), newReceiver(t)
	var slowInFlight, slowMax atomic.Int32
	slow.setRespond(func(r *http.Request, _ []byte) int {
		n := slowInFlight.Add(1)
		defer slowInFlight.Add(-1)
		for {
			m := slowMax.Load()
			if n <= m || slowMax.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return 200
	})
	createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: slow.srv.URL, EventTypes: []string{EventSyncFailed}})
	createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: fast.srv.URL, EventTypes: []string{EventSyncCompleted}})
	opts := testOptions(t)
	opts.MaxConcurrent, opts.MaxPerEndpoint = 4, 2
	opts.Timeout = 10 * time.Second
	svc := start(t, st, opts)
	// The slow endpoint's backlog is queued first, so it is first in line.
	for range 20 {
		if _, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncFailed}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the slow receiver to be busy", func() bool { return slowInFlight.Load() == 2 })
	for range 20 {
		if _, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncCompleted}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the fast receiver's events", func() bool { return len(fast.requests()) == 20 })
	if n := len(slow.requests()); n != 0 || slowMax.Load() != 2 {
		t.Errorf("slow receiver: %d answered, %d at once; want 0 and 2", n, slowMax.Load())
	}
	close(release)
	waitFor(t, 10*time.Second, "the slow receiver's events", func() bool { return len(slow.requests()) == 20 })
	if slowMax.Load() != 2 {
		t.Errorf("slow receiver had %d requests at once, want at most 2", slowMax.Load())
	}
}

// TestEndpointDisabledAfterWindow: an endpoint that fails for the whole
// (compressed) window is disabled, and the account's endpoint subscribed
// to system.error hears of it once.
func TestEndpointDisabledAfterWindow(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	st := tempStore(t)
	f := newFixture(t, st, "acme")
	down, ops := newReceiver(t), newReceiver(t)
	down.setRespond(func(*http.Request, []byte) int { return http.StatusInternalServerError })
	bad := createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: down.srv.URL})
	createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: ops.srv.URL, EventTypes: []string{EventSystemError}})
	opts := testOptions(t)
	opts.Backoff = Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond, Window: 500 * time.Millisecond}
	svc := start(t, st, opts)
	for range 3 {
		if _, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncCompleted, ConnectionID: f.conn.ID}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the system.error event", func() bool { return len(ops.requests()) >= 1 })
	e, err := st.GetWebhookEndpoint(ctx, f.acct.ID, bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Enabled || !strings.Contains(e.Health.DisabledReason, "every delivery failed for 500ms") || e.Health.ConsecutiveFailures < 3 {
		t.Errorf("endpoint %+v", e)
	}
	time.Sleep(300 * time.Millisecond) // room for a wrong second report
	got := ops.requests()
	if len(got) != 1 {
		t.Fatalf("%d system.error events, want 1", len(got))
	}
	m := decodeMessage(t, got[0].body)
	if m.Type != EventSystemError || !strings.Contains(string(m.Data), `"endpoint_id":"`+bad.ID+`"`) ||
		!strings.Contains(string(m.Data), SystemErrorEndpointDisabled) {
		t.Errorf("system.error %+v %s", m, m.Data)
	}
	// Nothing more is sent to the disabled endpoint.
	n := len(down.requests())
	time.Sleep(200 * time.Millisecond)
	if len(down.requests()) != n {
		t.Error("deliveries to a disabled endpoint")
	}
}

// TestCloseWaitsForInFlight: Close lets a request in flight finish and
// records its attempt.
func TestCloseWaitsForInFlight(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	st := tempStore(t)
	f := newFixture(t, st, "acme")
	rc := newReceiver(t)
	arrived := make(chan struct{}, 1)
	rc.setRespond(func(*http.Request, []byte) int {
		arrived <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		return http.StatusAccepted
	})
	ep := createEndpoint(t, st, f.acct.ID, store.NewWebhookEndpoint{URL: rc.srv.URL})
	svc := New(st, testOptions(t))
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()
	if _, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncCompleted}); err != nil {
		t.Fatal(err)
	}
	<-arrived
	svc.Close()
	svc.Close()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	log := allAttempts(t, st, f.acct.ID, ep.ID)
	if len(log) != 1 || log[0].StatusCode != http.StatusAccepted {
		t.Errorf("log after Close: %+v", log)
	}
	if err := svc.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
}
