package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/relay/api"
	"github.com/plantbridge/plantbridge/relay/store"
)

// apiClient calls the webhook API as one account, with the principal put
// in the context the way the relay's authentication does.
type apiClient struct {
	t    *testing.T
	srv  *httptest.Server
	acct store.Account
}

func newAPIServer(t *testing.T, svc *Service, st store.Store, accounts ...store.Account) map[string]*apiClient {
	mux := http.NewServeMux()
	NewAPI(svc, nil).Register(mux)
	byKey := map[string]store.Account{}
	for _, a := range accounts {
		byKey[a.ID] = a
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := byKey[r.Header.Get("X-Test-Account")]
		ctx := api.WithRequestID(api.WithPrincipal(r.Context(), api.Principal{Account: a}), "req_test")
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	out := map[string]*apiClient{}
	for _, a := range accounts {
		out[a.ID] = &apiClient{t: t, srv: srv, acct: a}
	}
	return out
}

func (c *apiClient) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	req.Header.Set("X-Test-Account", c.acct.ID)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestAPI(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	st := tempStore(t)
	a, b := newFixture(t, st, "acme"), newFixture(t, st, "beta")
	rc := newReceiver(t)
	opts := testOptions(t)
	opts.Resolver = fakeResolver{"internal.example": {"10.0.0.7"}}
	opts.AllowLoopback = true
	svc := start(t, st, opts)
	clients := newAPIServer(t, svc, st, a.acct, b.acct)
	ca, cb := clients[a.acct.ID], clients[b.acct.ID]

	// Bad input: each refused with the one error shape.
	for _, tc := range []struct {
		body, code, pointer string
	}{
		{`{"url": "ftp://x.example/h"}`, api.CodeValidationFailed, "/url"},
		{`{"url": "not a url"}`, api.CodeValidationFailed, "/url"},
		{`{"url": "http://user:pw@127.0.0.1/h"}`, api.CodeValidationFailed, "/url"},
		{`{"url": "https://10.1.2.3/h"}`, api.CodeValidationFailed, "/url"},
		{`{"url": "https://internal.example/h"}`, api.CodeValidationFailed, "/url"},
		{`{"url": "https://169.254.169.254/latest"}`, api.CodeValidationFailed, "/url"},
		{`{"url": "https://[fe80::1]/h"}`, api.CodeValidationFailed, "/url"},
		{`{}`, api.CodeValidationFailed, "/url"},
		{`{"url": "` + rc.srv.URL + `", "event_types": ["sync.completed", "sync.exploded"]}`, api.CodeValidationFailed, "/event_types/1"},
		{`{"url": "` + rc.srv.URL + `", "connection_ids": ["` + b.conn.ID + `"]}`, api.CodeValidationFailed, "/connection_ids"},
		{`{"url": "` + rc.srv.URL + `", "secret": "mine"}`, api.CodeInvalidRequest, "/secret"},
		{`{"url": 7}`, api.CodeValidationFailed, "/url"},
		{`[`, api.CodeInvalidRequest, ""},
		{`{"url": "` + rc.srv.URL + `", "description": "` + strings.Repeat("x", 70<<10) + `"}`, api.CodePayloadTooLarge, ""},
	} {
		status, body := ca.do("POST", "/v1/webhooks", tc.body)
		e, _ := body["error"].(map[string]any)
		if errCode(body) != tc.code || status/100 != 4 || e["request_id"] != "req_test" {
			t.Errorf("create %.80s: %d %v; want %s", tc.body, status, body, tc.code)
			continue
		}
		if tc.pointer != "" && !strings.Contains(mustJSON(e["details"]), `"pointer":"`+tc.pointer+`"`) {
			t.Errorf("create %.80s: details %v; want pointer %s", tc.body, e["details"], tc.pointer)
		}
		if strings.Contains(tc.body, "sync.exploded") && !strings.Contains(mustJSON(e["details"]), EventConnectionAuthRequired) {
			t.Errorf("unknown event type: valid types not listed: %v", e["details"])
		}
	}

	// Create: the secret is shown once.
	status, created := ca.do("POST", "/v1/webhooks", `{"url": "`+rc.srv.URL+`/hooks", "description": "ops",
		"event_types": ["sync.completed", "sync.failed"], "connection_ids": ["`+a.conn.ID+`"]}`)
	secret, _ := created["secret"].(string)
	id, _ := created["id"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(secret, "whsec_") || created["enabled"] != true {
		t.Fatalf("create: %d %v", status, created)
	}
	if _, got := ca.do("GET", "/v1/webhooks/"+id, ""); got["secret"] != nil || got["url"] != rc.srv.URL+"/hooks" || got["health"] == nil {
		t.Errorf("get: %v", got)
	}
	// Another account's endpoint does not exist for the caller.
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/v1/webhooks/" + id, ""},
		{"PATCH", "/v1/webhooks/" + id, `{"enabled": false}`},
		{"DELETE", "/v1/webhooks/" + id, ""},
		{"POST", "/v1/webhooks/" + id + "/rotate-secret", ""},
		{"POST", "/v1/webhooks/" + id + "/test", ""},
		{"GET", "/v1/webhooks/" + id + "/deliveries", ""},
	} {
		if status, body := cb.do(call.method, call.path, call.body); status != 404 || errCode(body) != api.CodeNotFound {
			t.Errorf("%s %s as another account: %d %v", call.method, call.path, status, body)
		}
	}
	if _, list := cb.do("GET", "/v1/webhooks", ""); len(list["results"].([]any)) != 0 {
		t.Errorf("another account lists %v", list)
	}

	// Update.
	status, upd := ca.do("PATCH", "/v1/webhooks/"+id, `{"event_types": [], "description": "all events"}`)
	if status != 200 || len(upd["event_types"].([]any)) != 0 || upd["description"] != "all events" || upd["url"] != rc.srv.URL+"/hooks" {
		t.Errorf("update: %d %v", status, upd)
	}
	if status, body := ca.do("PATCH", "/v1/webhooks/"+id, `{"url": "https://10.0.0.1/x"}`); status != 400 || errCode(body) != api.CodeValidationFailed {
		t.Errorf("update to a private URL: %d %v", status, body)
	}
	if status, body := ca.do("PATCH", "/v1/webhooks/"+id, `{"event_types": ["nope"]}`); status != 400 {
		t.Errorf("update to an unknown type: %d %v", status, body)
	}

	// Test send: queued, delivered signed, logged.
	status, sent := ca.do("POST", "/v1/webhooks/"+id+"/test", `{"event_type": "connection.auth_required"}`)
	if status != http.StatusAccepted || sent["status"] != "queued" {
		t.Fatalf("test send: %d %v", status, sent)
	}
	if status, body := ca.do("POST", "/v1/webhooks/"+id+"/test", `{"event_type": "nope"}`); status != 400 || errCode(body) != api.CodeValidationFailed {
		t.Errorf("test send of an unknown type: %d %v", status, body)
	}
	waitFor(t, 10*time.Second, "the test delivery", func() bool { return len(rc.requests()) == 1 })
	got := rc.requests()[0]
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(got.body, got.header); err != nil || got.id != sent["event_id"] {
		t.Errorf("test delivery: %v, webhook-id %s, want %v", err, got.id, sent["event_id"])
	}
	m := decodeMessage(t, got.body)
	var arrived any
	json.Unmarshal(got.body, &arrived)
	if m.Type != EventConnectionAuthRequired || !strings.Contains(string(m.Data), "DB_AUTH_FAILED") || !reflect.DeepEqual(arrived, sent["payload"]) {
		t.Errorf("test message %s; answer's payload %s", got.body, mustJSON(sent["payload"]))
	}

	// Rotate: a new secret, once; both sign during the overlap.
	status, rot := ca.do("POST", "/v1/webhooks/"+id+"/rotate-secret", `{"overlap_seconds": 3600}`)
	newSecret, _ := rot["secret"].(string)
	if status != 200 || newSecret == secret || !strings.HasPrefix(newSecret, "whsec_") || rot["previous_secret_expires_at"] == nil {
		t.Fatalf("rotate: %d %v", status, rot)
	}
	if status, _ := ca.do("POST", "/v1/webhooks/"+id+"/rotate-secret", `{"overlap_seconds": -1}`); status != 400 {
		t.Errorf("negative overlap: %d", status)
	}
	if _, err := svc.Emit(ctx, Event{AccountID: a.acct.ID, Type: EventSyncCompleted, ConnectionID: a.conn.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the second delivery", func() bool { return len(rc.requests()) == 2 })
	got = rc.requests()[1]
	wh2, _ := standardwebhooks.NewWebhook(newSecret)
	if wh.Verify(got.body, got.header) != nil || wh2.Verify(got.body, got.header) != nil {
		t.Errorf("during the overlap both secrets must verify: %q", got.signature)
	}

	// The delivery log, paged.
	waitFor(t, 5*time.Second, "two logged attempts", func() bool {
		_, log := ca.do("GET", "/v1/webhooks/"+id+"/deliveries", "")
		return len(log["results"].([]any)) == 2
	})
	status, page1 := ca.do("GET", "/v1/webhooks/"+id+"/deliveries?page_size=1", "")
	next, _ := page1["next"].(string)
	r1 := page1["results"].([]any)[0].(map[string]any)
	if status != 200 || next == "" || r1["event_type"] != EventSyncCompleted || r1["succeeded"] != true || r1["status_code"] != 204.0 ||
		r1["attempt"] != 1.0 || r1["next_retry_at"] != nil {
		t.Errorf("deliveries page 1: %d %v", status, page1)
	}
	_, page2 := ca.do("GET", "/v1/webhooks/"+id+"/deliveries?page_size=1&cursor="+next, "")
	if r := page2["results"].([]any); len(r) != 1 || r[0].(map[string]any)["event_id"] != sent["event_id"] || page2["next"] != nil {
		t.Errorf("deliveries page 2: %v", page2)
	}
	for _, q := range []string{"?cursor=garbage", "?page_size=0", "?page_size=1001", "?limit=5"} {
		if status, body := ca.do("GET", "/v1/webhooks/"+id+"/deliveries"+q, ""); status != 400 || errCode(body) != api.CodeInvalidRequest {
			t.Errorf("deliveries%s: %d %v", q, status, body)
		}
	}
	if _, body := ca.do("GET", "/v1/webhooks/"+id, ""); body["health"].(map[string]any)["last_success_at"] == nil {
		t.Errorf("health after deliveries: %v", body["health"])
	}

	// Disable, test send refused; enable; delete.
	if status, body := ca.do("PATCH", "/v1/webhooks/"+id, `{"enabled": false}`); status != 200 || body["enabled"] != false ||
		body["health"].(map[string]any)["disabled_reason"] != "disabled through the API" {
		t.Errorf("disable: %d %v", status, body)
	}
	if status, body := ca.do("POST", "/v1/webhooks/"+id+"/test", ""); status != 409 || errCode(body) != api.CodeConflict {
		t.Errorf("test send to a disabled endpoint: %d %v", status, body)
	}
	if status, _ := ca.do("PATCH", "/v1/webhooks/"+id, `{"enabled": true}`); status != 200 {
		t.Errorf("enable: %d", status)
	}
	if status, body := ca.do("GET", "/v1/webhooks/event-types", ""); status != 200 || len(body["results"].([]any)) != 6 {
		t.Errorf("event types: %d %v", status, body)
	}
	if status, _ := ca.do("DELETE", "/v1/webhooks/"+id, ""); status != http.StatusNoContent {
		t.Errorf("delete: %d", status)
	}
	if status, _ := ca.do("GET", "/v1/webhooks/"+id, ""); status != 404 {
		t.Errorf("get after delete: %d", status)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
