package relay

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/relay/webhooks"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// TestConnectionLifecycle walks a consumer's path: create a connection, enroll an
// agent, see it online, receive synced records, read them, and revoke the agent.
func TestConnectionLifecycle(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{})
	id, token := tr.connection("maximo")

	st := tr.must(http.StatusOK, "GET", "/v1/connections/"+id+"/status", nil)
	if st["state"] != "pending_enrollment" {
		t.Fatalf("state before enrollment: %v", st["state"])
	}
	agent := tr.startAgent(token)
	if agent.cred.ConnectionID != id {
		t.Fatalf("credential for connection %q, want %q", agent.cred.ConnectionID, id)
	}
	// The token works once.
	if _, r := tr.enroll(token); r.status != http.StatusConflict || r.errorCode(t) != "CONFLICT" {
		t.Fatalf("second enroll: %d %s", r.status, r.body)
	}
	waitFor(t, 5*time.Second, "online", func() bool {
		return tr.must(http.StatusOK, "GET", "/v1/connections/"+id+"/status", nil)["state"] == "online"
	})

	// Sync: two batches, the second re-sent.
	var recs []model.Record
	for i := range 5 {
		recs = append(recs, agent.workOrder(i, fmt.Sprintf("Pump %d", i)))
	}
	if ack, code := agent.upload("b1", "work_orders", recs[:3], "", false); code != 200 || ack.Records != 3 || ack.Duplicate {
		t.Fatalf("batch 1: %d %+v", code, ack)
	}
	for range 2 {
		if _, code := agent.upload("b2", "work_orders", recs[3:], "", false); code != 200 {
			t.Fatalf("batch 2: %d", code)
		}
	}
	list := tr.must(http.StatusOK, "GET", "/v1/connections/"+id+"/work_orders", nil)
	results := list["results"].([]any)
	if len(results) != 5 || list["next"] != nil || list["previous"] != nil {
		t.Fatalf("list: %d results, next %v, previous %v", len(results), list["next"], list["previous"])
	}
	first := results[0].(map[string]any)
	for _, k := range []string{"id", "remote_id", "created_at", "modified_at", "remote_was_deleted", "title", "status", "remote_status"} {
		if _, ok := first[k]; !ok {
			t.Errorf("record lacks %s: %v", k, first)
		}
	}
	if _, ok := first["remote_data"]; ok {
		t.Error("remote_data shown without include_remote_data")
	}
	one := tr.must(http.StatusOK, "GET", "/v1/connections/"+id+"/work_orders/"+first["id"].(string), nil)
	if one["title"] != first["title"] {
		t.Errorf("get: %v", one)
	}

	// Sync state from the agent, and the event it raises.
	now := time.Now().UTC()
	if code := agent.post(wire.PathSyncState, wire.SyncState{Model: "work_orders", Status: "done", LastSyncStart: &now,
		LastSyncFinished: &now, LastSuccessfulSyncAt: &now, IsInitialSync: true, RecordsSynced: 5}, nil); code != http.StatusNoContent {
		t.Fatalf("sync state: %d", code)
	}
	ss := tr.must(http.StatusOK, "GET", "/v1/connections/"+id+"/sync-status", nil)
	var found bool
	for _, r := range ss["results"].([]any) {
		m := r.(map[string]any)
		if m["model"] == "work_orders" {
			found = m["status"] == "done" && m["records_synced"] == float64(5)
		}
	}
	if !found {
		t.Errorf("sync-status: %v", ss)
	}
	if !tr.events.find(webhooks.EventSyncCompleted, nil) {
		t.Error("no sync.completed event")
	}

	// Manual sync reaches the agent.
	got := tr.must(http.StatusAccepted, "POST", "/v1/connections/"+id+"/syncs", map[string]any{"models": []string{"work_orders"}, "full": true})
	if got["full"] != true {
		t.Errorf("syncs: %v", got)
	}
	if r := tr.call("POST", "/v1/connections/"+id+"/syncs", map[string]any{"models": []string{"nope"}}, tr.key); r.status != 400 || r.errorCode(t) != "VALIDATION_FAILED" {
		t.Errorf("sync of unknown model: %d %s", r.status, r.body)
	}

	// Events for support.
	ev := tr.must(http.StatusOK, "GET", "/v1/connections/"+id+"/events", nil)
	if len(ev["results"].([]any)) == 0 {
		t.Error("no connection events stored")
	}

	// Deleting the connection revokes and disconnects the agent.
	tr.must(http.StatusNoContent, "DELETE", "/v1/connections/"+id, nil)
	waitFor(t, 5*time.Second, "agent disconnected", func() bool { return !agent.c.Status().Connected })
	if r := tr.call("GET", "/v1/connections/"+id, nil, tr.key); r.status != 404 {
		t.Errorf("deleted connection: %d", r.status)
	}
}

// TestAPIErrors checks the error shape and codes of the documented failures.
func TestAPIErrors(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{cfg: func(c *Config) { c.API.MaxBodyBytes = 4096 }})
	id, _ := tr.connection("maximo")
	cases := []struct {
		name, method, path string
		body               any
		key                string
		status             int
		code               string
	}{
		{"no key", "GET", "/v1/connections", nil, "", 401, "AUTHENTICATION_FAILED"},
		{"wrong key", "GET", "/v1/connections", nil, "pb_live_nope", 401, "AUTHENTICATION_FAILED"},
		{"unknown route", "GET", "/v1/nothing", nil, tr.key, 404, "NOT_FOUND"},
		{"wrong method", "PUT", "/v1/connections", nil, tr.key, 405, "METHOD_NOT_ALLOWED"},
		{"unknown connection", "GET", "/v1/connections/conn_nope", nil, tr.key, 404, "NOT_FOUND"},
		{"unknown model", "GET", "/v1/connections/" + id + "/widgets", nil, tr.key, 404, "NOT_FOUND"},
		{"unknown field", "POST", "/v1/connections", map[string]any{"name": "x", "system": "maximo", "colour": "red"}, tr.key, 400, "INVALID_REQUEST"},
		{"bad system", "POST", "/v1/connections", map[string]any{"name": "x", "system": "sap_r2"}, tr.key, 400, "VALIDATION_FAILED"},
		{"bad json", "POST", "/v1/connections", "{", tr.key, 400, "INVALID_REQUEST"},
		{"too large", "POST", "/v1/connections", `{"name":"` + strings.Repeat("x", 5000) + `"}`, tr.key, 413, "PAYLOAD_TOO_LARGE"},
		{"bad page size", "GET", "/v1/connections/" + id + "/work_orders?page_size=5000", nil, tr.key, 400, "INVALID_REQUEST"},
		{"bad time", "GET", "/v1/connections/" + id + "/work_orders?modified_after=yesterday", nil, tr.key, 400, "INVALID_REQUEST"},
		{"unknown parameter", "GET", "/v1/connections/" + id + "/work_orders?sort=title", nil, tr.key, 400, "INVALID_REQUEST"},
		{"tampered cursor", "GET", "/v1/connections/" + id + "/work_orders?cursor=abc.def", nil, tr.key, 400, "INVALID_REQUEST"},
		{"agent offline", "POST", "/v1/connections/" + id + "/work_orders", map[string]any{"title": "x"}, tr.key, 503, "CONNECTION_UNREACHABLE"},
		{"write validation", "POST", "/v1/connections/" + id + "/work_orders", map[string]any{"status": "bogus"}, tr.key, 400, "VALIDATION_FAILED"},
		{"passthrough off", "POST", "/v1/connections/" + id + "/passthrough", map[string]any{"sql": "select 1"}, tr.key, 403, "PERMISSION_DENIED"},
		{"no such job", "GET", "/v1/jobs/job_nope", nil, tr.key, 404, "NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tr.call(c.method, c.path, c.body, c.key)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if got := r.errorCode(t); got != c.code {
				t.Fatalf("code %s, want %s: %s", got, c.code, r.body)
			}
		})
	}
}

// TestCursorsBoundToQuery: a cursor is refused with other filters or on another list.
func TestCursorsBoundToQuery(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{})
	id, token := tr.connection("maximo")
	agent := tr.startAgent(token)
	var recs []model.Record
	for i := range 30 {
		recs = append(recs, agent.workOrder(i, "x"))
	}
	agent.upload("b1", "work_orders", recs, "", false)
	base := "/v1/connections/" + id + "/work_orders"
	page := tr.must(200, "GET", base+"?page_size=10", nil)
	next := page["next"].(string)
	// Same filters, another page size: fine.
	tr.must(200, "GET", base+"?page_size=5&cursor="+url.QueryEscape(next), nil)
	for _, bad := range []string{
		base + "?include_deleted=true&cursor=" + url.QueryEscape(next),
		"/v1/connections/" + id + "/assets?cursor=" + url.QueryEscape(next),
		"/v1/connections?cursor=" + url.QueryEscape(next),
		base + "?cursor=" + url.QueryEscape(flip(next, len(next)-1)),
		base + "?cursor=" + url.QueryEscape(flip(next, len(next)-5)),
		base + "?cursor=" + url.QueryEscape(strings.Replace(next, next[3:4], string(rune(next[3]^1)), 1)),
	} {
		if r := tr.call("GET", bad, nil, tr.key); r.status != 400 || r.errorCode(t) != "INVALID_REQUEST" {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
	// Walk forward and back.
	var ids []string
	p := page
	for {
		for _, r := range p["results"].([]any) {
			ids = append(ids, r.(map[string]any)["id"].(string))
		}
		n, _ := p["next"].(string)
		if n == "" {
			break
		}
		p = tr.must(200, "GET", base+"?page_size=10&cursor="+url.QueryEscape(n), nil)
	}
	if len(ids) != 30 {
		t.Fatalf("walked %d", len(ids))
	}
	prev := p["previous"].(string)
	back := tr.must(200, "GET", base+"?page_size=10&cursor="+url.QueryEscape(prev), nil)
	if got := back["results"].([]any)[0].(map[string]any)["id"]; got != ids[10] {
		t.Errorf("previous page starts with %v, want %v", got, ids[10])
	}
}

// flip changes the character at i of a cursor to another base64url character.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// TestTenantIsolation: every route of account A's connection is a 404 for account B.
func TestTenantIsolation(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{})
	id, token := tr.connection("maximo")
	agent := tr.startAgent(token)
	rec := agent.workOrder(1, "secret pump")
	agent.upload("b1", "work_orders", []model.Record{rec}, "", false)
	_, other := tr.newAccount("globex")
	c := "/v1/connections/" + id
	routes := [][2]string{
		{"GET", c}, {"PATCH", c}, {"DELETE", c}, {"GET", c + "/status"}, {"GET", c + "/sync-status"},
		{"POST", c + "/syncs"}, {"GET", c + "/events"}, {"GET", c + "/work_orders"}, {"GET", c + "/work_orders/" + rec.ID},
		{"POST", c + "/work_orders"}, {"PATCH", c + "/work_orders/" + rec.ID}, {"POST", c + "/work_orders/batch"},
		{"POST", c + "/work_orders/async"}, {"GET", c + "/remote-schema"}, {"POST", c + "/passthrough"},
		{"GET", c + "/field-mappings"}, {"PUT", c + "/field-mappings"}, {"GET", c + "/field-mappings/work_orders"},
		{"PUT", c + "/field-mappings/work_orders"}, {"PUT", c + "/custom-models/meters"}, {"DELETE", c + "/custom-models/meters"},
		{"GET", c + "/custom/meters"}, {"POST", c + "/enrollment-tokens"},
	}
	for _, rt := range routes {
		var body any
		if rt[0] == "POST" || rt[0] == "PUT" || rt[0] == "PATCH" {
			body = map[string]any{}
		}
		r := tr.call(rt[0], rt[1], body, other)
		if r.status != 404 || r.errorCode(t) != "NOT_FOUND" {
			t.Errorf("%s %s as another account: %d %s", rt[0], rt[1], r.status, r.body)
		}
		if strings.Contains(string(r.body), "secret pump") {
			t.Errorf("%s %s leaks data", rt[0], rt[1])
		}
	}
	list := tr.call("GET", "/v1/connections", nil, other).json(t)
	if n := len(list["results"].([]any)); n != 0 {
		t.Errorf("other account lists %d connections", n)
	}
}

// TestRateLimit: a key over its budget gets 429 with Retry-After and RateLimit headers.
func TestRateLimit(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{cfg: func(c *Config) { c.API.RateLimit, c.API.RateBurst = 1, 3 }})
	var last response
	for range 4 {
		last = tr.call("GET", "/v1/connections", nil, tr.key)
	}
	if last.status != 429 || last.errorCode(t) != "RATE_LIMIT_EXCEEDED" {
		t.Fatalf("4th request: %d %s", last.status, last.body)
	}
	for _, h := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if last.header.Get(h) == "" {
			t.Errorf("429 lacks %s", h)
		}
	}
	// Another key has its own budget.
	_, other := tr.newAccount("globex")
	if r := tr.call("GET", "/v1/connections", nil, other); r.status != 200 {
		t.Errorf("other key: %d", r.status)
	}
}
