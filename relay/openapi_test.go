package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/relay/openapi"
	"github.com/plantbridge/plantbridge/relay/webhooks"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// apiDoc holds requests and answers of the real relay against its OpenAPI document.
type apiDoc struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router

	mu sync.Mutex // guards covered
	// covered holds "get /v1/connections/{id}" for each operation that answered as
	// documented at least once.
	covered map[string]bool
}

// reqCheck says how a request is held against the document.
type reqCheck int

const (
	// reqValid: the request must match the document.
	reqValid reqCheck = iota
	// reqInvalid: the request must break the document: what the relay refuses, the
	// document must forbid.
	reqInvalid
	// reqUnchecked: the document cannot tell (an unknown query parameter).
	reqUnchecked
	// reqUndocumented: the route is not in the document (the API's answers to unknown
	// paths and methods); the answer must still be the error shape.
	reqUndocumented
)

// call is one request of a test and the status it must get.
type call struct {
	method, path string
	// body is sent as JSON unless it is a string or []byte.
	body any
	// key is the API key; "" sends none.
	key     string
	headers []string
	status  int
	check   reqCheck
}

func newAPIDoc(t *testing.T) *apiDoc {
	t.Helper()
	// The served document leaves objects open, so that clients accept members added
	// later; here every object schema that does not say otherwise is closed, so that an
	// answer with a member the document does not list fails.
	var tree any
	if err := json.Unmarshal(openapi.JSON(), &tree); err != nil {
		t.Fatal(err)
	}
	closeObjects(tree)
	raw, _ := json.Marshal(tree)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiDoc{t: t, doc: doc, router: router, covered: map[string]bool{}}
}

// closeObjects sets additionalProperties: false on every object schema with
// properties that does not set it.
func closeObjects(v any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["properties"].(map[string]any); ok {
			if _, set := x["additionalProperties"]; !set && isObjectType(x["type"]) {
				x["additionalProperties"] = false
			}
		}
		for k, e := range x {
			if k != "examples" {
				closeObjects(e)
			}
		}
	case []any:
		for _, e := range x {
			closeObjects(e)
		}
	}
}

func isObjectType(t any) bool {
	switch x := t.(type) {
	case string:
		return x == "object"
	case []any:
		return slices.Contains(x, any("object"))
	}
	return false
}

// bearerAuth checks that a request carries the bearer token its operation asks for;
// whether the token is good is the relay's business.
func bearerAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	if key, ok := strings.CutPrefix(auth, "Bearer "); !ok || key == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// do makes a call against base, checks the request and the answer against the
// document, and returns the answer.
func (d *apiDoc) do(base string, c call) response {
	t := d.t
	t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		body, _ = json.Marshal(b)
	}
	newReq := func() *http.Request {
		var rd io.Reader
		if c.body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(c.method, base+c.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		if c.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(c.headers); i += 2 {
			req.Header.Set(c.headers[i], c.headers[i+1])
		}
		return req
	}
	where := c.method + " " + c.path
	ctx := context.Background()
	checked := newReq()
	route, params, err := d.router.FindRoute(checked)
	switch {
	case err != nil && c.check != reqUndocumented:
		t.Errorf("%s: not in the document: %v", where, err)
	case err == nil && c.check == reqUndocumented:
		t.Errorf("%s: in the document as %s %s, expected not", where, route.Method, route.Path)
	}
	var in *openapi3filter.RequestValidationInput
	if err == nil {
		in = &openapi3filter.RequestValidationInput{Request: checked, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: bearerAuth, MultiError: true}}
		err := openapi3filter.ValidateRequest(ctx, in)
		switch {
		case c.check == reqValid && err != nil:
			t.Errorf("%s: the request does not match the document: %v", where, err)
		case c.check == reqInvalid && err == nil:
			t.Errorf("%s: the document accepts a request the relay refuses", where)
		}
	}

	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, body: got}
	if resp.StatusCode != c.status {
		t.Errorf("%s: status %d, want %d: %s", where, resp.StatusCode, c.status, got)
		return out
	}
	if in == nil {
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Errorf("%s: answer is not JSON: %s", where, got)
			return out
		}
		if err := d.doc.Components.Schemas["Error"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: answer is not the error shape: %v", where, err)
		}
		return out
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(got)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("%s: the answer %d does not match the document: %v\n%s", where, resp.StatusCode, err, got)
		return out
	}
	d.mu.Lock()
	d.covered[strings.ToLower(route.Method)+" "+route.Path] = true
	d.mu.Unlock()
	return out
}

// uncovered lists the document's operations that no call answered as documented.
func (d *apiDoc) uncovered() []string {
	var out []string
	for path, item := range d.doc.Paths.Map() {
		for method := range item.Operations() {
			if k := strings.ToLower(method) + " " + path; !d.covered[k] {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// sampleFields gives every field of def a value of its type; refs point at the first
// record of their model (remote id ref+"-1"). For a write, decimals and times are
// the strings a client sends.
func sampleFields(def *model.Def, connID string, n int) map[string]any {
	out := map[string]any{}
	for _, f := range def.Fields {
		out[f.Name] = sampleValue(f, connID, n)
		if f.Type == model.Enum {
			out[model.RemoteSibling(f.Name)] = "NATIVE"
		}
	}
	return out
}

func sampleValue(f model.Field, connID string, n int) any {
	switch f.Type {
	case model.String:
		return fmt.Sprintf("%s %d", f.Name, n)
	case model.Int:
		return n
	case model.Decimal:
		return "12.50"
	case model.Bool:
		return true
	case model.Time:
		return time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC).Format(time.RFC3339)
	case model.Enum:
		return f.Values[n%len(f.Values)]
	case model.Ref:
		return model.RecordID(connID, f.Ref, f.Ref+"-1")
	case model.RefList:
		return []any{model.RecordID(connID, f.Ref, f.Ref+"-1")}
	case model.StringList:
		return []any{"a", "b"}
	case model.Object:
		return map[string]any{"k": "v"}
	case model.Lines:
		line := map[string]any{}
		for _, lf := range f.Lines {
			line[lf.Name] = sampleValue(lf, connID, n)
		}
		return []any{line}
	}
	return nil
}

// sampleRecords makes two records of def: one with every field set, and one with
// only a number and an enum whose native code has no mapping.
func sampleRecords(def *model.Def, connID string) []model.Record {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	full := model.Record{ID: model.RecordID(connID, def.Name, def.Name+"-1"), RemoteID: def.Name + "-1", Model: def.Name,
		RemoteCreatedAt: &now, RemoteUpdatedAt: &now, Fields: sampleFields(def, connID, 1),
		CustomFields: map[string]any{"shift": "night"}, RemoteData: map[string]any{"ROWSTAMP": 12345, "DESCRIPTION": "raw"}}
	sparse := model.Record{ID: model.RecordID(connID, def.Name, def.Name+"-2"), RemoteID: def.Name + "-2", Model: def.Name,
		Fields: map[string]any{}}
	for _, f := range def.Fields {
		if f.Type == model.Enum {
			sparse.Fields[f.Name] = nil
			sparse.Fields[model.RemoteSibling(f.Name)] = "UNMAPPED"
			break
		}
		sparse.Fields[f.Name] = nil
	}
	return []model.Record{full, sparse}
}

// agentRoutes are what the fake agent serves besides writes and syncs: its schema,
// its mapping document (checked: a custom model named bad is refused) and
// passthrough.
func agentRoutes() map[string]http.HandlerFunc {
	var mu sync.Mutex
	mappings := json.RawMessage(`{"version":1}`)
	return map[string]http.HandlerFunc{
		"GET " + wire.PathSchema: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"dialect":"sqlite","tables":[{"name":"WORKORDER","columns":[`+
				`{"name":"WONUM","type":"TEXT","kind":"string","nullable":false},`+
				`{"name":"ROWSTAMP","type":"INTEGER","kind":"int","nullable":true}],`+
				`"indexes":[{"name":"WORKORDER_NDX1","unique":true,"columns":["SITEID","WONUM"]}]},`+
				`{"name":"WOVIEW","view":true,"columns":[]}]}`)
		},
		"GET " + wire.PathMappings: func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.Write(mappings)
		},
		"PUT " + wire.PathMappings: func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			if bytes.Contains(b, []byte(`"bad"`)) {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.Error{Code: "VALIDATION_FAILED",
					Message: "table NOPE does not exist", Fields: []wire.FieldError{{Pointer: "/custom_models/bad/table", Message: "no such table"}}}})
				return
			}
			mu.Lock()
			mappings = b
			mu.Unlock()
			w.Write(b)
		},
		"POST " + wire.PathPassthrough: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"columns":["WONUM","ESTDUR"],"rows":[["1001",2.5],["1002",null]],"truncated":false}`)
		},
	}
}

// webhookReceiver records the webhook requests it gets.
type webhookReceiver struct {
	srv *httptest.Server

	mu  sync.Mutex // guards got
	got []receivedWebhook
}

type receivedWebhook struct {
	header http.Header
	body   []byte
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	wr := &webhookReceiver{}
	wr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		wr.mu.Lock()
		wr.got = append(wr.got, receivedWebhook{r.Header.Clone(), b})
		wr.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(wr.srv.Close)
	return wr
}

func (wr *webhookReceiver) received() []receivedWebhook {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return slices.Clone(wr.got)
}

// startRelayWithWebhooks starts a relay that serves the webhook API and delivers
// webhooks, to loopback receivers too.
func startRelayWithWebhooks(t *testing.T, cfg func(*Config)) *testRelay {
	t.Helper()
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	st, err := OpenStore(context.Background(), c, logtest.New(t).With("side", "store"))
	if err != nil {
		t.Fatal(err)
	}
	svc := webhooks.New(st, webhooks.Options{AllowHTTP: true, AllowLoopback: true,
		Logger: logtest.New(t).With("side", "webhooks"), PollInterval: 50 * time.Millisecond})
	return startRelay(t, relayOpts{cfg: cfg, store: st, options: func(o *Options) {
		o.Routes = append(o.Routes, webhooks.NewAPI(svc, nil).Register)
		o.Workers = append(o.Workers, func(ctx context.Context) { svc.Run(ctx) })
	}})
}

// TestOpenAPIMatchesRelay drives every route of the relay through its happy path and
// its main errors, and holds each request and answer against /openapi.json: a route
// the document lacks, an answer that does not match it, or an operation of the
// document that no call exercised fails the test.
func TestOpenAPIMatchesRelay(t *testing.T) {
	leaktest.Check(t)
	d := newAPIDoc(t)
	tr := startRelayWithWebhooks(t, func(c *Config) {
		c.API.RateLimit, c.API.RateBurst = 10000, 10000
		c.API.MaxBodyBytes = 64 << 10
	})
	key := tr.key
	do := func(c call) response {
		t.Helper()
		return d.do(tr.base, c)
	}
	ok := func(status int, method, path string, body any, headers ...string) map[string]any {
		t.Helper()
		r := do(call{method: method, path: path, body: body, key: key, status: status, headers: headers})
		if len(r.body) == 0 || r.status != status {
			return nil
		}
		return r.json(t)
	}

	// Operations.
	do(call{method: "GET", path: "/openapi.json", status: 200})
	do(call{method: "GET", path: "/healthz", status: 200})
	do(call{method: "GET", path: "/readyz", status: 200})

	// Connections and enrollment.
	created := ok(201, "POST", "/v1/connections", map[string]any{"name": "Bedford", "system": "maximo",
		"settings": map[string]any{"passthrough_enabled": true, "region": "eu"}})
	id := created["id"].(string)
	c := "/v1/connections/" + id
	offline := ok(201, "POST", "/v1/connections", map[string]any{"name": "Not enrolled", "system": "mp2"})["id"].(string)
	off := "/v1/connections/" + offline
	page := ok(200, "GET", "/v1/connections?page_size=1", nil)
	ok(200, "GET", "/v1/connections?page_size=1&cursor="+url.QueryEscape(page["next"].(string)), nil)
	ok(200, "GET", c, nil)
	ok(200, "PATCH", c, map[string]any{"name": "Bedford plant", "settings": map[string]any{"passthrough_enabled": true}})
	ok(200, "GET", c+"/status", nil) // pending_enrollment
	token := ok(201, "POST", c+"/enrollment-tokens", nil)["token"].(string)
	enrolled := do(call{method: "POST", path: wire.EnrollPath, body: wire.EnrollRequest{Token: token, Hostname: "plant-host",
		Version: "test", OS: "linux"}, status: 200})
	var cred wire.EnrollResponse
	json.Unmarshal(enrolled.body, &cred)
	do(call{method: "POST", path: wire.EnrollPath, body: wire.EnrollRequest{Token: token}, status: 409})
	do(call{method: "POST", path: wire.EnrollPath, body: wire.EnrollRequest{Token: "pb_enroll_nope"}, status: 401})
	do(call{method: "POST", path: wire.EnrollPath, body: map[string]any{"token": "x", "colour": "red"}, status: 400, check: reqInvalid})
	do(call{method: "GET", path: wire.EnrollPath, status: 405, check: reqUndocumented})

	agent := tr.connectAgentWith(cred, agentRoutes())
	waitFor(t, 5*time.Second, "online", func() bool {
		return tr.must(200, "GET", c+"/status", nil)["state"] == "online"
	})
	now := time.Now().UTC().Truncate(time.Second)
	if code := agent.post(wire.PathStatus, wire.AgentStatus{AgentID: cred.AgentID, Version: "test", OS: "linux",
		StartedAt: now, Database: wire.DatabaseStatus{State: wire.DBReachable, CheckedAt: &now},
		Buffer: wire.BufferStatus{Batches: 2, Bytes: 4096, MaxBytes: 1 << 30},
		Models: []wire.ModelStatus{{Model: "assets", Status: "syncing", RowsRead: 500, BatchesBuffered: 1, RowsPerSecond: 250}}}, nil); code != 204 {
		t.Fatalf("status report: %d", code)
	}
	ok(200, "GET", c+"/status", nil)
	ok(200, "GET", c+"/events?page_size=1", nil)
	ok(200, "GET", c+"/events", nil)

	// Sync: records of every model, and sync states.
	for _, def := range model.Models {
		if ack, code := agent.upload("b-"+def.Name, def.Name, sampleRecords(def, id), "", false); code != 200 || ack.Records != 2 {
			t.Fatalf("upload %s: %d %+v", def.Name, code, ack)
		}
	}
	for _, st := range []wire.SyncState{
		{Model: "work_orders", Status: "done", LastSyncStart: &now, LastSyncFinished: &now, LastSuccessfulSyncAt: &now, NextSyncStart: &now, RecordsSynced: 2},
		{Model: "assets", Status: "syncing", LastSyncStart: &now, IsInitialSync: true},
		{Model: "parts", Status: "failed", LastSyncStart: &now, LastSyncFinished: &now, Error: &wire.Error{Code: "SOURCE_ERROR", Message: "ORA-01555"}},
	} {
		if code := agent.post(wire.PathSyncState, st, nil); code != 204 {
			t.Fatalf("sync state: %d", code)
		}
	}
	ok(200, "GET", c+"/sync-status", nil)
	ok(202, "POST", c+"/syncs", map[string]any{"models": []string{"work_orders"}, "full": true})
	ok(202, "POST", c+"/syncs", map[string]any{})

	// Reads of every model.
	for _, def := range model.Models {
		base := c + "/" + def.Name
		first := ok(200, "GET", base+"?page_size=1&include_remote_data=true", nil)
		next, _ := first["next"].(string)
		if next == "" {
			t.Fatalf("%s: no next page: %v", def.Name, first)
		}
		ok(200, "GET", base+"?page_size=1&include_remote_data=true&cursor="+url.QueryEscape(next), nil)
		ok(200, "GET", base+"?modified_after=2000-01-01T00:00:00Z&modified_before=2100-01-01T00:00:00Z&include_deleted=true", nil)
		ok(200, "GET", base+"/"+model.RecordID(id, def.Name, def.Name+"-1")+"?include_remote_data=true", nil)
		ok(200, "GET", base+"/"+model.RecordID(id, def.Name, def.Name+"-2"), nil)
	}

	// Writes of every model, through the agent.
	for _, def := range model.Models {
		base := c + "/" + def.Name
		rec := ok(201, "POST", base, sampleFields(def, id, 2))
		rid, _ := rec["id"].(string)
		ok(200, "PATCH", base+"/"+rid, sampleFields(def, id, 3))
		ok(200, "POST", base+"/batch", map[string]any{"records": []any{
			map[string]any{"fields": sampleFields(def, id, 4)},
			map[string]any{"op": "update", "id": model.RecordID(id, def.Name, "nope"), "fields": sampleFields(def, id, 5)},
		}})
		ok(202, "POST", base+"/async", map[string]any{"records": []any{map[string]any{"fields": sampleFields(def, id, 6)}}})
	}
	wo := c + "/work_orders"
	woFirst := model.RecordID(id, "work_orders", "work_orders-1")
	ok(200, "PATCH", wo+"/"+woFirst, map[string]any{"status": "in_progress"}) // a status change
	ok(201, "POST", wo, map[string]any{"title": "Pump seal"}, "Idempotency-Key", "k-1")
	replay := do(call{method: "POST", path: wo, body: map[string]any{"title": "Pump seal"}, key: key, status: 201,
		headers: []string{"Idempotency-Key", "k-1"}})
	if replay.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replayed write lacks Idempotent-Replayed")
	}
	do(call{method: "POST", path: wo, body: map[string]any{"title": "Other"}, key: key, status: 409, headers: []string{"Idempotency-Key", "k-1"}})
	job := ok(202, "POST", wo+"/async", map[string]any{"records": []any{
		map[string]any{"fields": map[string]any{"title": "a"}},
		map[string]any{"op": "update", "id": "wo_nope", "fields": map[string]any{"title": "b"}},
		map[string]any{"fields": map[string]any{"title": "c"}},
	}})
	jobPath := "/v1/jobs/" + job["id"].(string)
	waitFor(t, 20*time.Second, "job completed", func() bool {
		return tr.must(200, "GET", jobPath, nil)["status"] == "completed"
	})
	jp := ok(200, "GET", jobPath+"?page_size=2", nil)
	if next, _ := jp["results"].(map[string]any)["next"].(string); next != "" {
		ok(200, "GET", jobPath+"?page_size=2&cursor="+url.QueryEscape(next), nil)
	} else {
		t.Errorf("job results: no next page: %v", jp)
	}
	// The plant refuses: its codes keep their statuses.
	for _, e := range []struct {
		code   string
		status int
	}{{"SOURCE_ERROR", 502}, {"REAUTH_REQUIRED", 503}, {"SOURCE_RATE_LIMITED", 503}, {"VALIDATION_FAILED", 400}, {"NOT_FOUND", 404}} {
		agent.mu.Lock()
		agent.onWrite = func(string, wire.Write) wire.WriteResult {
			return wire.WriteResult{Error: &wire.Error{Code: e.code, Message: "refused by the plant",
				Fields: []wire.FieldError{{Pointer: "/title", Message: "too long"}}}}
		}
		agent.mu.Unlock()
		do(call{method: "POST", path: wo, body: map[string]any{"title": "x"}, key: key, status: e.status})
	}
	agent.mu.Lock()
	agent.onWrite = nil
	agent.mu.Unlock()

	// The plant database.
	ok(200, "GET", c+"/remote-schema", nil)
	ok(200, "POST", c+"/passthrough", map[string]any{"sql": "SELECT WONUM, ESTDUR FROM WORKORDER WHERE SITEID = ?",
		"params": []any{"BEDFORD"}, "max_rows": 10, "timeout_ms": 5000})

	// Mappings and custom models.
	ok(200, "GET", c+"/field-mappings", nil)
	ok(200, "PUT", c+"/field-mappings", map[string]any{"version": 1, "models": map[string]any{
		"work_orders": map[string]any{"fields": map[string]any{"title": map[string]any{"column": "DESCRIPTION"}},
			"custom_fields": map[string]any{"shift": map[string]any{"column": "WOSHIFT", "type": "string"}}}},
		"params": map[string]any{"client": "100"}})
	ok(200, "GET", c+"/field-mappings/work_orders", nil)
	ok(200, "PUT", c+"/field-mappings/assets", map[string]any{"fields": map[string]any{
		"status": map[string]any{"column": "STATUS", "values": map[string]any{"OPERATING": "active"}}}})
	meters := map[string]any{"table": "METERS", "key": []string{"METERNAME"},
		"watermark": map[string]any{"strategy": "timestamp_column", "column": "CHANGEDATE", "overlap": "5m"},
		"fields":    map[string]any{"reading": map[string]any{"column": "LASTREADING", "type": "decimal"}}}
	ok(200, "PUT", c+"/custom-models/meters", meters)
	do(call{method: "PUT", path: c + "/custom-models/bad", body: meters, key: key, status: 400})
	custom := model.Record{ID: model.RecordID(id, "meters", "M1"), RemoteID: "M1", Model: "meters",
		Fields: map[string]any{"reading": "42.5"}}
	if _, code := agent.upload("b-meters", "meters", []model.Record{custom}, "", false); code != 200 {
		t.Fatalf("upload meters: %d", code)
	}
	ok(200, "GET", c+"/custom/meters?include_remote_data=true", nil)
	ok(200, "GET", c+"/custom/meters/"+custom.ID, nil)
	ok(204, "DELETE", c+"/custom-models/meters", nil)
	do(call{method: "GET", path: c + "/custom/meters", key: key, status: 404})
	do(call{method: "DELETE", path: c + "/custom-models/meters", key: key, status: 404})

	// Webhooks.
	recv := newWebhookReceiver(t)
	ep := ok(201, "POST", "/v1/webhooks", map[string]any{"url": recv.srv.URL + "/hooks", "description": "ops",
		"event_types": []string{"sync.completed", "job.completed"}, "connection_ids": []string{id}})
	wh := "/v1/webhooks/" + ep["id"].(string)
	ok(200, "GET", "/v1/webhooks?page_size=10", nil)
	ok(200, "GET", "/v1/webhooks/event-types", nil)
	ok(200, "GET", wh, nil)
	ok(200, "PATCH", wh, map[string]any{"description": "operations", "event_types": []string{}})
	ok(200, "POST", wh+"/rotate-secret", map[string]any{"overlap_seconds": 60})
	ok(200, "POST", wh+"/rotate-secret", nil)
	ok(202, "POST", wh+"/test", map[string]any{"event_type": "connection.status_changed"})
	ok(202, "POST", wh+"/test", nil)
	waitFor(t, 10*time.Second, "two test deliveries", func() bool { return len(recv.received()) >= 2 })
	for _, got := range recv.received() {
		d.checkWebhook(got)
	}
	waitFor(t, 10*time.Second, "attempts logged", func() bool {
		return len(tr.must(200, "GET", wh+"/deliveries", nil)["results"].([]any)) >= 2
	})
	ok(200, "GET", wh+"/deliveries?page_size=1", nil)
	ok(200, "PATCH", wh, map[string]any{"enabled": false})
	do(call{method: "POST", path: wh + "/test", body: map[string]any{"event_type": "sync.failed"}, key: key, status: 409})
	do(call{method: "POST", path: "/v1/webhooks", body: map[string]any{"url": "ftp://example.com/hooks"}, key: key, status: 400})
	do(call{method: "POST", path: "/v1/webhooks", body: map[string]any{"url": recv.srv.URL, "event_types": []string{"sync.exploded"}},
		key: key, status: 400, check: reqInvalid})
	do(call{method: "GET", path: "/v1/webhooks?cursor=nope", key: key, status: 400})
	ok(204, "DELETE", wh, nil)
	do(call{method: "GET", path: wh, key: key, status: 404})

	// Errors.
	do(call{method: "GET", path: "/v1/connections", status: 401, check: reqInvalid})
	do(call{method: "GET", path: "/v1/connections", key: "pb_live_nope", status: 401})
	do(call{method: "GET", path: "/v1/nothing", key: key, status: 404, check: reqUndocumented})
	do(call{method: "PUT", path: "/v1/connections", key: key, status: 405, check: reqUndocumented})
	do(call{method: "GET", path: "/v1/connections/conn_nope", key: key, status: 404})
	do(call{method: "POST", path: "/v1/connections", body: map[string]any{"name": "x", "system": "maximo", "colour": "red"}, key: key, status: 400, check: reqInvalid})
	do(call{method: "POST", path: "/v1/connections", body: map[string]any{"name": "x", "system": "sap_r2"}, key: key, status: 400, check: reqInvalid})
	do(call{method: "POST", path: "/v1/connections", body: "{", key: key, status: 400, check: reqInvalid})
	do(call{method: "POST", path: "/v1/connections", body: `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, key: key, status: 413, check: reqInvalid})
	do(call{method: "GET", path: wo + "?page_size=5000", key: key, status: 400, check: reqInvalid})
	do(call{method: "GET", path: wo + "?modified_after=yesterday", key: key, status: 400, check: reqInvalid})
	do(call{method: "GET", path: wo + "?include_deleted=maybe", key: key, status: 400, check: reqInvalid})
	do(call{method: "GET", path: wo + "?sort=title", key: key, status: 400, check: reqUnchecked})
	do(call{method: "GET", path: wo + "?cursor=abc.def", key: key, status: 400})
	do(call{method: "GET", path: wo + "/wo_nope", key: key, status: 404})
	do(call{method: "PATCH", path: wo + "/wo_nope", body: map[string]any{"title": "x"}, key: key, status: 404})
	do(call{method: "POST", path: wo, body: map[string]any{"status": "bogus"}, key: key, status: 400, check: reqInvalid})
	do(call{method: "POST", path: wo + "/batch", body: map[string]any{"records": []any{}}, key: key, status: 400, check: reqInvalid})
	do(call{method: "GET", path: c + "/field-mappings/widgets", key: key, status: 404, check: reqInvalid})
	do(call{method: "GET", path: "/v1/jobs/job_nope", key: key, status: 404})
	do(call{method: "POST", path: off + "/work_orders", body: map[string]any{"title": "x"}, key: key, status: 503})
	do(call{method: "POST", path: off + "/syncs", body: map[string]any{}, key: key, status: 503})
	do(call{method: "GET", path: off + "/remote-schema", key: key, status: 503})
	do(call{method: "PUT", path: off + "/field-mappings/work_orders", body: map[string]any{}, key: key, status: 503})
	ok(200, "GET", off+"/field-mappings", nil) // the relay's copy while the agent is away
	do(call{method: "POST", path: off + "/passthrough", body: map[string]any{"sql": "SELECT 1"}, key: key, status: 403})
	do(call{method: "GET", path: "/v1/tunnel", status: 401, check: reqInvalid})
	do(call{method: "GET", path: "/v1/tunnel", key: cred.Secret, headers: []string{"X-Plantbridge-Agent-Id", cred.AgentID}, status: 426})

	ok(204, "DELETE", off, nil)
	do(call{method: "GET", path: "/metrics", status: 200})

	// A key over its budget.
	limited := startRelay(t, relayOpts{cfg: func(c *Config) { c.API.RateLimit, c.API.RateBurst = 0.01, 1 }})
	d.do(limited.base, call{method: "GET", path: "/v1/connections", key: limited.key, status: 200})
	d.do(limited.base, call{method: "GET", path: "/v1/connections", key: limited.key, status: 429})

	if missing := d.uncovered(); len(missing) > 0 {
		t.Errorf("operations of the document that no call exercised:\n  %s", strings.Join(missing, "\n  "))
	}
}

// checkWebhook holds a webhook request the relay sent against the document's
// webhooks.
func (d *apiDoc) checkWebhook(got receivedWebhook) {
	t := d.t
	t.Helper()
	var msg map[string]any
	if err := json.Unmarshal(got.body, &msg); err != nil {
		t.Errorf("webhook body is not JSON: %s", got.body)
		return
	}
	typ, _ := msg["type"].(string)
	item := d.doc.Webhooks[typ]
	if item == nil || item.Post == nil {
		t.Errorf("webhook of type %q is not in the document", typ)
		return
	}
	for _, p := range item.Post.Parameters {
		if p.Value.Required && got.header.Get(p.Value.Name) == "" {
			t.Errorf("webhook %s lacks header %s", typ, p.Value.Name)
		}
	}
	schema := item.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	var v any
	json.Unmarshal(got.body, &v)
	if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("webhook %s does not match the document: %v\n%s", typ, err, got.body)
	}
}
