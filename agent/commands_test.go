package agent

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/internal/pgtest"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// maximoDB makes a Maximo demo database with 30 work orders and returns its path, in
// a directory of its own (plant/) that a test can take away.
func maximoDB(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plant")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plant.db")
	ctx := context.Background()
	db, err := demodb.Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := demodb.CreateAt(ctx, db, "maximo", 30, 1, time.Date(2025, 6, 18, 14, 30, 0, 0, time.UTC), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("demo database: %v", err)
	}
	return path
}

// logBuffer keeps the agent's log lines for assertions and passes them to t.Log while
// the test runs (goroutines may log after it ends).
type logBuffer struct {
	t    testing.TB
	mu   sync.Mutex // guards the fields below
	buf  bytes.Buffer
	done bool
}

func newLogBuffer(t testing.TB) *logBuffer {
	l := &logBuffer{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.done {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// lines returns the lines that contain every one of substrs.
func (l *logBuffer) lines(substrs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		all := line != ""
		for _, s := range substrs {
			all = all && strings.Contains(line, s)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// testAgent is an agent whose handlers the tests call directly.
type testAgent struct {
	*Agent
	t    *testing.T
	h    http.Handler
	logs *logBuffer
	dsn  string
}

// newTestAgent makes an agent for the Maximo demo database at dsn, with its state in
// stateDir (a new directory when empty).
func newTestAgent(t *testing.T, dsn, stateDir string, edit func(*Config)) *testAgent {
	t.Helper()
	if stateDir == "" {
		stateDir = filepath.Join(t.TempDir(), "state")
	}
	cfg := Config{Version: 1, StateDir: stateDir,
		Relay:      RelayConfig{URL: "ws://127.0.0.1:1"},
		Agent:      IdentityConfig{ID: "plant-1", Secret: "pbagent_s3cret-value"},
		Connection: &ConnectionConfig{System: "maximo", Driver: "sqlite", DSN: dsn, Timezone: "America/Chicago"}}
	if edit != nil {
		edit(&cfg)
	}
	logs := newLogBuffer(t)
	a, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{Agent: a, t: t, h: a.handler(), logs: logs, dsn: dsn}
	t.Cleanup(ta.close)
	return ta
}

// close releases what New opened: the database, and the outbox where New opens one.
func (ta *testAgent) close() {
	if c, ok := any(ta.Agent).(io.Closer); ok {
		c.Close()
		return
	}
	if ta.source != nil {
		ta.source.close()
	}
}

// call serves one request and returns the status and body.
func (ta *testAgent) call(method, path, body string, header ...string) (int, []byte) {
	ta.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://agent"+path, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	ta.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// wireError decodes an error body.
func wireError(t *testing.T, body []byte) wire.Error {
	t.Helper()
	var e wire.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an error body: %s (%v)", body, err)
	}
	return e.Error
}

func pointers(fields []wire.FieldError) []string {
	var out []string
	for _, f := range fields {
		out = append(out, f.Pointer)
	}
	return out
}

// sampleTitle returns the title of the first work order as the agent maps it now.
func (ta *testAgent) sampleTitle() (string, map[string]any) {
	ta.t.Helper()
	code, body := ta.call("GET", "/v1/agent/models/work_orders/sample?limit=1", "")
	if code != http.StatusOK {
		ta.t.Fatalf("sample: %d %s", code, body)
	}
	var res struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != 1 {
		ta.t.Fatalf("sample: %s %v", body, err)
	}
	cf, _ := res.Results[0]["custom_fields"].(map[string]any)
	return res.Results[0]["title"].(string), cf
}

const goodOverrides = `{"version": 1, "models": {"work_orders": {
	"fields": {"title": {"concat": ["WONUM", "DESCRIPTION"], "separator": " | "}},
	"custom_fields": {"wo_class": {"column": "WOCLASS"}}}}}`

func TestMappings(t *testing.T) {
	ta := newTestAgent(t, maximoDB(t), "", nil)
	code, body := ta.call("GET", wire.PathMappings, "")
	if code != http.StatusOK || strings.TrimSpace(string(body)) != "{\n  \"version\": 1\n}" {
		t.Fatalf("GET with no overrides: %d %s", code, body)
	}
	before, _ := ta.sampleTitle()

	code, stored := ta.call("PUT", wire.PathMappings, goodOverrides)
	if code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, stored)
	}
	title, cf := ta.sampleTitle()
	if !strings.Contains(title, " | ") || cf["wo_class"] != "WORKORDER" {
		t.Fatalf("overrides not applied at once: title %q, custom fields %v", title, cf)
	}
	file := filepath.Join(ta.cfg.StateDir, MappingsFile)
	onDisk, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(onDisk, stored) {
		t.Fatalf("persisted: %s %v, answered %s", onDisk, err, stored)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v", file, fi.Mode())
	}
	if code, got := ta.call("GET", wire.PathMappings, ""); code != http.StatusOK || !bytes.Equal(got, stored) {
		t.Errorf("GET after PUT: %d %s", code, got)
	}

	// Overrides that do not fit the database: every problem, with pointers; the old
	// mapping stays.
	code, body = ta.call("PUT", wire.PathMappings, `{"version": 1, "models": {"work_orders": {
		"fields": {"title": {"column": "DESCR"}},
		"custom_fields": {"shift": {"column": "NOSUCH"}}}},
		"custom_models": {"meters": {"table": "METERS", "key": ["ID"], "watermark": {"strategy": "row_hash"}}}}`)
	e := wireError(t, body)
	if code != http.StatusBadRequest || e.Code != "VALIDATION_FAILED" {
		t.Fatalf("unfit overrides: %d %s", code, body)
	}
	want := []string{"/custom_models/meters/table", "/models/work_orders/custom_fields/shift", "/models/work_orders/fields/title"}
	if got := slices.Sorted(slices.Values(pointers(e.Fields))); !reflect.DeepEqual(got, want) {
		t.Errorf("pointers %v, want %v (%s)", got, want, body)
	}
	if t2, _ := ta.sampleTitle(); t2 != title {
		t.Errorf("old mapping lost: title %q, was %q", t2, title)
	}
	if b, _ := os.ReadFile(file); !bytes.Equal(b, stored) {
		t.Errorf("file changed by a rejected PUT: %s", b)
	}

	// Malformed documents: 400 INVALID_REQUEST (or 413), nothing applied.
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`not json`, 400, "INVALID_REQUEST"},
		{`[]`, 400, "INVALID_REQUEST"},
		{`null`, 400, "INVALID_REQUEST"},
		{`{"models": {}}`, 400, "INVALID_REQUEST"},
		{`{"version": 2}`, 400, "INVALID_REQUEST"},
		{`{"version": "1"}`, 400, "INVALID_REQUEST"},
		{`{"version": 1, "colour": "red"}`, 400, "INVALID_REQUEST"},
		{`{"version": 1, "models": {"work_orders": {"fields": {"title": {"colum": "WONUM"}}}}}`, 400, "INVALID_REQUEST"},
		{`{"version": 1} {"version": 1}`, 400, "INVALID_REQUEST"},
		{`{"version": 1, "models": {"nosuch": {}}}`, 400, "VALIDATION_FAILED"},
		{`{"version": 1, "models": {"work_orders": {"fields": {"colour": {"column": "WONUM"}}}}}`, 400, "VALIDATION_FAILED"},
		{`{"version": 1, "x": "` + strings.Repeat("a", maxMappingsBody) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
	} {
		code, body := ta.call("PUT", wire.PathMappings, tc.body)
		if e := wireError(t, body); code != tc.status || e.Code != tc.code {
			t.Errorf("%.60s: %d %s, want %d %s", tc.body, code, body, tc.status, tc.code)
		}
	}
	if t2, _ := ta.sampleTitle(); t2 != title {
		t.Errorf("old mapping lost after malformed PUTs: title %q", t2)
	}
	if code, got := ta.call("GET", wire.PathMappings, ""); code != http.StatusOK || !bytes.Equal(got, stored) {
		t.Errorf("GET after malformed PUTs: %d %s", code, got)
	}

	// An empty document removes the overrides.
	if code, body := ta.call("PUT", wire.PathMappings, `{"version": 1}`); code != http.StatusOK {
		t.Fatalf("PUT empty: %d %s", code, body)
	}
	if t2, cf := ta.sampleTitle(); t2 != before || cf != nil {
		t.Errorf("overrides not removed: %q %v", t2, cf)
	}
}

func TestMappingsSurviveRestart(t *testing.T) {
	dsn := maximoDB(t)
	state := filepath.Join(t.TempDir(), "state")
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE "METERS" ("ID" integer NOT NULL, "NAME" text)`); err != nil {
		t.Fatal(err)
	}
	db.Exec(`CREATE UNIQUE INDEX "METERS_NDX1" ON "METERS" ("ID")`)
	db.Exec(`INSERT INTO "METERS" VALUES (1, 'flow')`)
	doc := `{"version": 1, "models": {"work_orders": {"fields": {"title": {"concat": ["WONUM", "DESCRIPTION"], "separator": " | "}}}},
		"custom_models": {"meters": {"table": "METERS", "key": ["ID"], "watermark": {"strategy": "row_hash"},
			"fields": {"name": {"column": "NAME", "type": "string"}}}}}`

	first := newTestAgent(t, dsn, state, nil)
	code, stored := first.call("PUT", wire.PathMappings, doc)
	if code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, stored)
	}
	first.close()

	// A restarted agent answers with the overrides before it opens the database, and
	// applies them when it does.
	second := newTestAgent(t, dsn, state, nil)
	if code, got := second.call("GET", wire.PathMappings, ""); code != http.StatusOK || !bytes.Equal(got, stored) {
		t.Errorf("GET after restart: %d %s", code, got)
	}
	if title, _ := second.sampleTitle(); !strings.Contains(title, " | ") {
		t.Errorf("overrides not applied after restart: title %q", title)
	}
	if code, body := second.call("GET", "/v1/agent/models/meters/sample", ""); code != http.StatusOK || !strings.Contains(string(body), `"flow"`) {
		t.Errorf("custom model after restart: %d %s", code, body)
	}
	second.close()

	// The schema changed under the overrides: the agent runs without them and says so.
	if _, err := db.Exec(`DROP TABLE "METERS"`); err != nil {
		t.Fatal(err)
	}
	third := newTestAgent(t, dsn, state, nil)
	if title, _ := third.sampleTitle(); strings.Contains(title, " | ") {
		t.Errorf("rejected overrides applied: title %q", title)
	}
	if len(third.logs.lines("MAPPING OVERRIDES NOT APPLIED")) == 0 {
		t.Error("no loud log line about the rejected overrides")
	}
	code, body := third.call("GET", wire.PathDiagnostics, "")
	var d Diagnostics
	if err := json.Unmarshal(body, &d); code != http.StatusOK || err != nil {
		t.Fatalf("diagnostics: %d %s", code, body)
	}
	if d.Mappings.Rejected == nil || !strings.Contains(strings.Join(d.Mappings.Rejected.Problems, ";"), `custom_models.meters.table: table "METERS" does not exist`) {
		t.Errorf("diagnostics do not report the rejection: %+v", d.Mappings)
	}
	if string(d.Mappings.Overrides) != "{\"version\":1}" {
		t.Errorf("overrides in force: %s", d.Mappings.Overrides)
	}
	if got, _ := os.ReadFile(filepath.Join(state, MappingsFile)); !bytes.Equal(got, stored) {
		t.Error("the rejected overrides were removed from the state directory")
	}
	// New overrides that fit clear the rejection.
	if code, body := third.call("PUT", wire.PathMappings, goodOverrides); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if third.source.mappingsProblem() != nil {
		t.Error("rejection still reported after a good PUT")
	}
}

func TestSchema(t *testing.T) {
	ta := newTestAgent(t, maximoDB(t), "", nil)
	code, body := ta.call("GET", wire.PathSchema, "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var s struct {
		Dialect string `json:"dialect"`
		Tables  []struct {
			Name    string `json:"name"`
			Columns []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Kind     string `json:"kind"`
				Nullable *bool  `json:"nullable"`
			} `json:"columns"`
			Indexes []struct {
				Name    string   `json:"name"`
				Unique  bool     `json:"unique"`
				Columns []string `json:"columns"`
			} `json:"indexes"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(body, &s); err != nil || s.Dialect != "sqlite" {
		t.Fatalf("%v: %.300s", err, body)
	}
	found := false
	for _, tbl := range s.Tables {
		if tbl.Name != "WORKORDER" {
			continue
		}
		found = true
		if len(tbl.Columns) < 20 || tbl.Columns[0].Type == "" || tbl.Columns[0].Kind == "" || tbl.Columns[0].Nullable == nil {
			t.Errorf("WORKORDER columns: %+v", tbl.Columns[:1])
		}
		key := false
		for _, ix := range tbl.Indexes {
			key = key || ix.Unique && reflect.DeepEqual(ix.Columns, []string{"WONUM", "SITEID"}) || ix.Unique && reflect.DeepEqual(ix.Columns, []string{"SITEID", "WONUM"})
		}
		if !key {
			t.Errorf("WORKORDER has no unique (SITEID, WONUM) index: %+v", tbl.Indexes)
		}
	}
	if !found {
		t.Error("no WORKORDER table")
	}
}

// writeResults posts a batch and decodes the answer.
func (ta *testAgent) writes(body string) (int, []wire.WriteResult, []byte) {
	ta.t.Helper()
	code, raw := ta.call("POST", wire.PathWrites, body)
	var res wire.WriteResults
	if code == http.StatusOK {
		if err := json.Unmarshal(raw, &res); err != nil {
			ta.t.Fatalf("write results: %v: %s", err, raw)
		}
	}
	return code, res.Results, raw
}

func recordOf(t *testing.T, r wire.WriteResult) map[string]any {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("write failed: %+v", r.Error)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Record, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func countRows(t *testing.T, dsn, q string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWrites(t *testing.T) {
	ta := newTestAgent(t, maximoDB(t), "", nil)
	code, res, raw := ta.writes(`{"model": "work_orders", "writes": [
		{"op": "create", "fields": {"number": "PB1001", "title": "Replace pump seal", "site_id": "HOUSTON", "priority": "high", "estimated_hours": 2.5}},
		{"op": "create", "fields": {"title": "No number", "status": "finished", "estimated_hours": "lots"}},
		{"op": "update", "remote_id": "HOUSTON/NOSUCH", "fields": {"title": "x"}}
	]}`)
	if code != http.StatusOK || len(res) != 3 {
		t.Fatalf("%d %s", code, raw)
	}
	created := recordOf(t, res[0])
	if created["remote_id"] != "HOUSTON/PB1001" || created["status"] != "open" || created["remote_status"] != "WAPPR" ||
		created["priority"] != "high" || created["remote_data"] == nil {
		t.Errorf("created: %v", created)
	}
	if e := res[1].Error; e == nil || e.Code != "VALIDATION_FAILED" ||
		!reflect.DeepEqual(pointers(e.Fields), []string{"/estimated_hours", "/number", "/site_id", "/status"}) {
		t.Errorf("invalid create: %+v", e)
	}
	if e := res[2].Error; e == nil || e.Code != "NOT_FOUND" {
		t.Errorf("update of a missing record: %+v", e)
	}

	code, res, raw = ta.writes(`{"model": "work_orders", "writes": [
		{"op": "update", "remote_id": "HOUSTON/PB1001", "fields": {"title": "Replace both pump seals", "priority": null}},
		{"op": "status", "remote_id": "HOUSTON/PB1001", "fields": {"status": "in_progress"}, "memo": "crew on site"}
	]}`)
	if code != http.StatusOK || len(res) != 2 {
		t.Fatalf("%d %s", code, raw)
	}
	if u := recordOf(t, res[0]); u["title"] != "Replace both pump seals" || u["priority"] != nil {
		t.Errorf("updated: %v", u)
	}
	if s := recordOf(t, res[1]); s["status"] != "in_progress" || s["remote_status"] != "INPRG" {
		t.Errorf("status changed: %v", s)
	}
	if n := countRows(t, ta.dsn, `SELECT COUNT(*) FROM WOSTATUS WHERE WONUM = 'PB1001' AND STATUS = 'INPRG' AND MEMO = 'crew on site'`); n != 1 {
		t.Errorf("status history rows: %d", n)
	}
	// Read-only models say why.
	code, res, raw = ta.writes(`{"model": "assets", "writes": [{"op": "create", "fields": {"name": "x"}}]}`)
	if code != http.StatusOK || res[0].Error == nil || res[0].Error.Code != "INVALID_REQUEST" {
		t.Errorf("write to a read-only model: %d %s", code, raw)
	}

	// Malformed batches: 400 before the database is touched.
	total := countRows(t, ta.dsn, `SELECT COUNT(*) FROM WORKORDER`)
	many := `{"model": "work_orders", "writes": [` + strings.Repeat(`{"op": "create", "fields": {"number": "M1", "title": "t", "site_id": "HOUSTON"}},`, 100) +
		`{"op": "create", "fields": {"number": "M2", "title": "t", "site_id": "HOUSTON"}}]}`
	for _, tc := range []struct {
		body     string
		status   int
		pointers []string
	}{
		{`not json`, 400, nil},
		{`{"model": "work_orders", "writes": [{"op": "create", "fields": {"number": "M1", "title": "t", "site_id": "HOUSTON"}}], "extra": 1}`, 400, nil},
		{`{"model": "work_orders", "writes": [{"op": "create", "fields": {"number": "M1", "title": "t", "site_id": "HOUSTON"}, "colour": "red"}]}`, 400, nil},
		{`{"model": "work_orders", "writes": []}`, 400, []string{"/writes"}},
		{`{"writes": [{"op": "create", "fields": {}}]}`, 400, []string{"/model"}},
		{`{"model": "work_orders", "writes": [{"op": "create", "fields": {"number": "M1", "title": "t", "site_id": "HOUSTON"}},
			{"op": "delete", "remote_id": "HOUSTON/1000", "fields": {}}, {"op": "update", "fields": {"title": "x"}},
			{"op": "create", "remote_id": "HOUSTON/1", "fields": {"number": "M3"}}, {"op": "status", "remote_id": "HOUSTON/1000"}]}`, 400,
			[]string{"/writes/1/op", "/writes/2/remote_id", "/writes/3/remote_id", "/writes/4/fields"}},
		{many, 400, []string{"/writes"}},
		{`{"model": "meters", "writes": [{"op": "create", "fields": {"name": "x"}}]}`, 404, nil},
	} {
		code, _, raw := ta.writes(tc.body)
		e := wireError(t, raw)
		if code != tc.status || (tc.pointers != nil && !reflect.DeepEqual(pointers(e.Fields), tc.pointers)) {
			t.Errorf("%.80s: %d %s", tc.body, code, raw)
		}
	}
	if n := countRows(t, ta.dsn, `SELECT COUNT(*) FROM WORKORDER`); n != total {
		t.Errorf("a malformed batch wrote: %d work orders, was %d", n, total)
	}
}

// TestUnreachableDatabase takes the database away: writes answer 200 with every record
// CONNECTION_UNREACHABLE, mapping changes and schema reads a 503, and nothing is kept.
func TestUnreachableDatabase(t *testing.T) {
	dsn := maximoDB(t)
	ta := newTestAgent(t, dsn, "", nil)
	if code, body := ta.call("GET", wire.PathSchema, ""); code != http.StatusOK {
		t.Fatalf("schema: %d %s", code, body)
	}
	ta.source.close()
	dir := filepath.Dir(dsn)
	if err := os.Rename(dir, dir+"-away"); err != nil {
		t.Fatal(err)
	}

	code, res, raw := ta.writes(`{"model": "work_orders", "writes": [
		{"op": "create", "fields": {"number": "PB2001", "title": "t", "site_id": "HOUSTON"}},
		{"op": "status", "remote_id": "HOUSTON/1001", "fields": {"status": "closed"}}]}`)
	if code != http.StatusOK || len(res) != 2 {
		t.Fatalf("%d %s", code, raw)
	}
	for i, r := range res {
		if r.Error == nil || r.Error.Code != "CONNECTION_UNREACHABLE" || r.Record != nil {
			t.Errorf("write %d: %+v", i, r)
		}
	}
	if strings.Contains(string(raw), dir) {
		t.Errorf("the answer names the database file: %s", raw)
	}
	code, body := ta.call("PUT", wire.PathMappings, goodOverrides)
	if e := wireError(t, body); code != http.StatusServiceUnavailable || e.Code != "CONNECTION_UNREACHABLE" {
		t.Errorf("PUT mappings: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(ta.cfg.StateDir, MappingsFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unvalidated overrides persisted: %v", err)
	}
	if code, body := ta.call("GET", wire.PathSchema, ""); code != http.StatusServiceUnavailable || wireError(t, body).Code != "CONNECTION_UNREACHABLE" {
		t.Errorf("schema: %d %s", code, body)
	}
	code, body = ta.call("GET", wire.PathDiagnostics, "")
	var d Diagnostics
	if err := json.Unmarshal(body, &d); err != nil || code != http.StatusOK || d.Database.State != wire.DBUnreachable ||
		d.Database.Error == nil || d.Database.Error.Code != "CONNECTION_UNREACHABLE" {
		t.Errorf("diagnostics: %d %s", code, body)
	}

	// The database returns: everything works again without a restart.
	if err := os.Rename(dir+"-away", dir); err != nil {
		t.Fatal(err)
	}
	code, res, raw = ta.writes(`{"model": "work_orders", "writes": [{"op": "create", "fields": {"number": "PB2001", "title": "t", "site_id": "HOUSTON"}}]}`)
	if code != http.StatusOK || res[0].Error != nil {
		t.Errorf("after recovery: %d %s", code, raw)
	}
}

func TestPassthrough(t *testing.T) {
	dsn := maximoDB(t)
	off := newTestAgent(t, dsn, "", nil)
	code, body := off.call("POST", wire.PathPassthrough, `{"sql": "SELECT 1"}`)
	if e := wireError(t, body); code != http.StatusForbidden || e.Code != "PERMISSION_DENIED" || !strings.Contains(e.Message, "agent.yaml") {
		t.Errorf("disabled: %d %s", code, body)
	}

	ta := newTestAgent(t, dsn, "", func(c *Config) { c.Passthrough = PassthroughConfig{Enabled: true, MaxRows: 3} })
	code, body = ta.call("POST", wire.PathPassthrough, `{"sql": "SELECT WONUM, SITEID, REPORTDATE FROM WORKORDER WHERE SITEID = ? ORDER BY WONUM", "params": ["HOUSTON"], "max_rows": 50}`)
	var res wire.PassthroughResult
	if err := json.Unmarshal(body, &res); code != http.StatusOK || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	if !reflect.DeepEqual(res.Columns, []string{"WONUM", "SITEID", "REPORTDATE"}) || len(res.Rows) != 3 || !res.Truncated || res.Rows[0][1] != "HOUSTON" {
		t.Errorf("agent.yaml's max_rows of 3 not applied: %s", body)
	}
	code, body = ta.call("POST", wire.PathPassthrough, `{"sql": "SELECT ? + ?, ?, ?", "params": [40, 2, "x", null], "max_rows": 1}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"rows":[[42,"x",null]]`) || !strings.Contains(string(body), `"truncated":false`) {
		t.Errorf("params: %d %s", code, body)
	}

	before := countRows(t, dsn, `SELECT COUNT(*) FROM WORKORDER`)
	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{`{"sql": "DELETE FROM WORKORDER"}`, "PERMISSION_DENIED", 403},
		{`{"sql": "UPDATE WORKORDER SET DESCRIPTION = 'x'"}`, "PERMISSION_DENIED", 403},
		{`{"sql": "INSERT INTO WORKORDER (WONUM) VALUES ('X')"}`, "PERMISSION_DENIED", 403},
		{`{"sql": "DROP TABLE WORKORDER"}`, "PERMISSION_DENIED", 403},
		{`{"sql": "SELECT 1; DELETE FROM WORKORDER"}`, "INVALID_REQUEST", 400},
		{`{"sql": "SELECT * FROM NOSUCHTABLE"}`, "INVALID_REQUEST", 400},
		{`{"sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n", "timeout_ms": 100}`, "INVALID_REQUEST", 400},
		{`{"sql": ""}`, "INVALID_REQUEST", 400},
		{`{"sql": "SELECT 1", "max_rows": 10001}`, "INVALID_REQUEST", 400},
		{`{"sql": "SELECT 1", "timeout_ms": 60001}`, "INVALID_REQUEST", 400},
		{`{"sql": "SELECT ?", "params": [{"a": 1}]}`, "INVALID_REQUEST", 400},
		{`{"sql": "SELECT 1", "limit": 5}`, "INVALID_REQUEST", 400},
		{`{"sql": "SELECT 1"`, "INVALID_REQUEST", 400},
	} {
		code, body := ta.call("POST", wire.PathPassthrough, tc.body)
		e := wireError(t, body)
		if code != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.body, code, body, tc.status, tc.code)
		}
		if strings.Contains(e.Message, "sqlite") || strings.Contains(e.Message, "no such table") {
			t.Errorf("%s: driver text sent: %s", tc.body, e.Message)
		}
	}
	if n := countRows(t, dsn, `SELECT COUNT(*) FROM WORKORDER`); n != before {
		t.Errorf("passthrough changed the database: %d work orders, was %d", n, before)
	}
}

func TestDiagnostics(t *testing.T) {
	ta := newTestAgent(t, maximoDB(t), "", func(c *Config) {
		c.Relay.Proxy = "http://plantit:proxy-pa55word@127.0.0.1:3128"
	})
	ta.call("PUT", wire.PathMappings, goodOverrides)
	code, body := ta.call("GET", wire.PathDiagnostics, "")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, secret := range []string{"pbagent_s3cret-value", "proxy-pa55word", ta.dsn} {
		if strings.Contains(string(body), secret) {
			t.Errorf("diagnostics show %q: %s", secret, body)
		}
	}
	var d Diagnostics
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.AgentID != "plant-1" || d.Version == "" || d.OS == "" || d.Connection == nil || d.Connection.System != "maximo" ||
		d.Connection.Timezone != "America/Chicago" || d.Database.State != wire.DBReachable || d.Database.Error != nil ||
		!strings.Contains(strings.Join(d.Models, ","), "work_orders") || d.Passthrough.Enabled || d.Passthrough.MaxRows != 1000 ||
		d.Runtime.HeapAllocBytes == 0 || d.Runtime.Goroutines == 0 || d.Tunnel.Connected {
		t.Errorf("diagnostics: %s", body)
	}
	if !strings.Contains(string(d.Mappings.Overrides), `"wo_class"`) || d.Mappings.Rejected != nil {
		t.Errorf("overrides in force: %s", d.Mappings.Overrides)
	}
	// Without a connection the snapshot still answers.
	bare := newTestAgent(t, "", "", func(c *Config) { c.Connection = nil })
	if code, body := bare.call("GET", wire.PathDiagnostics, ""); code != http.StatusOK || !strings.Contains(string(body), `"state":"unknown"`) {
		t.Errorf("without a connection: %d %s", code, body)
	}
	if code, body := bare.call("GET", wire.PathMappings, ""); code != http.StatusNotFound || wireError(t, body).Code != "NOT_FOUND" {
		t.Errorf("mappings without a connection: %d %s", code, body)
	}
}

func TestRequestIDInLogs(t *testing.T) {
	ta := newTestAgent(t, maximoDB(t), "", nil)
	code, _ := ta.call("PUT", wire.PathMappings, goodOverrides, wire.HeaderRequestID, "req_7Fh2kQ")
	if code != http.StatusOK {
		t.Fatal(code)
	}
	lines := ta.logs.lines("request_id=req_7Fh2kQ")
	var call, set bool
	for _, l := range lines {
		call = call || strings.Contains(l, `msg="relay call"`) && strings.Contains(l, "method=PUT") &&
			strings.Contains(l, "path="+wire.PathMappings) && strings.Contains(l, "status=200") && strings.Contains(l, "duration=")
		set = set || strings.Contains(l, `msg="mapping overrides set"`)
	}
	if !call || !set {
		t.Errorf("log lines with the request id:\n%s", strings.Join(lines, "\n"))
	}
	// A failed write logs its cause with the id; the answer holds none of it.
	code, body := ta.call("POST", wire.PathWrites, `{"model": "work_orders", "writes": [{"op": "update", "remote_id": "HOUSTON/NOSUCH", "fields": {"title": "x"}}]}`,
		wire.HeaderRequestID, "req_w1")
	if code != http.StatusOK || len(ta.logs.lines("request_id=req_w1", `msg="write failed"`, "remote_id=HOUSTON/NOSUCH")) != 1 {
		t.Errorf("write failure not logged with its request id: %d %s", code, body)
	}

	// Without an id from the relay the agent makes one and answers with it.
	req := httptest.NewRequest("GET", "http://agent"+wire.PathMappings, nil)
	rec := httptest.NewRecorder()
	ta.h.ServeHTTP(rec, req)
	id := rec.Header().Get(wire.HeaderRequestID)
	if !strings.HasPrefix(id, "agt_") || len(ta.logs.lines("request_id="+id)) == 0 {
		t.Errorf("made-up request id %q not logged", id)
	}
}

type agentAuth map[string]string

func (a agentAuth) AuthenticateAgent(_ context.Context, id, secret string) error {
	if a[id] == secret {
		return nil
	}
	return tunnel.ErrUnauthorized
}

// TestCommandsThroughTunnel calls the handlers as the relay does: over a real tunnel,
// through the session's HTTP client.
func TestCommandsThroughTunnel(t *testing.T) {
	ta := newTestAgent(t, maximoDB(t), "", nil)
	ep := tunnel.NewEndpoint(tunnel.EndpointConfig{Auth: agentAuth{"plant-1": "pbagent_s3cret-value"}, Logger: logtest.New(t)})
	srv := httptest.NewServer(ep)
	defer srv.Close()
	defer ep.Close()
	client, err := tunnel.NewClient(tunnel.ClientConfig{
		Dialer:  tunnel.DialerConfig{RelayURL: "ws" + strings.TrimPrefix(srv.URL, "http")},
		Hello:   tunnel.Hello{AgentID: "plant-1", Secret: "pbagent_s3cret-value", Version: "test", OS: "linux/amd64"},
		Handler: ta.h,
		Logger:  logtest.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	var s *tunnel.Session
	deadline := time.Now().Add(10 * time.Second)
	for s == nil {
		if s, err = ep.Session("plant-1"); err != nil {
			if time.Now().After(deadline) {
				t.Fatal("agent did not connect")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	do := func(method, path, body, id string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://agent"+path, strings.NewReader(body))
		req.Header.Set(wire.HeaderRequestID, id)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if got := resp.Header.Get(wire.HeaderRequestID); got != id {
			t.Errorf("answer's request id %q, want %q", got, id)
		}
		return resp.StatusCode, b
	}
	custom := `{"version": 1, "models": {"work_orders": {"custom_fields": {"wo_class": {"column": "WOCLASS"}}}}}`
	if code, body := do("PUT", wire.PathMappings, custom, "req_tun1"); code != http.StatusOK {
		t.Fatalf("PUT mappings through the tunnel: %d %s", code, body)
	}
	code, body := do("POST", wire.PathWrites, `{"model": "work_orders", "writes": [
		{"op": "create", "fields": {"number": "PB3001", "title": "Through the tunnel", "site_id": "HOUSTON"}}]}`, "req_tun2")
	var res wire.WriteResults
	if err := json.Unmarshal(body, &res); code != http.StatusOK || err != nil || len(res.Results) != 1 {
		t.Fatalf("writes through the tunnel: %d %s", code, body)
	}
	if rec := recordOf(t, res.Results[0]); rec["title"] != "Through the tunnel" || !reflect.DeepEqual(rec["custom_fields"], map[string]any{"wo_class": "WORKORDER"}) {
		t.Errorf("written through the tunnel, with the overrides: %v", rec)
	}
	code, body = do("GET", wire.PathDiagnostics, "", "req_tun3")
	var d Diagnostics
	if err := json.Unmarshal(body, &d); code != http.StatusOK || err != nil || d.Database.State != wire.DBReachable {
		t.Errorf("diagnostics through the tunnel: %d %s", code, body)
	}
	for _, id := range []string{"req_tun1", "req_tun2", "req_tun3"} {
		if len(ta.logs.lines("request_id="+id, `msg="relay call"`)) != 1 {
			t.Errorf("no log line for %s", id)
		}
	}
	if rec := recordOf(t, res.Results[0]); rec["id"] != model.RecordID("plant-1", "work_orders", "HOUSTON/PB3001") {
		t.Errorf("record id %v", rec["id"])
	}
}

// TestPostgres runs writes and passthrough against a Maximo demo database on a
// throwaway PostgreSQL, and stops the server between two batches: the write that
// meets the dead server is CONNECTION_UNREACHABLE, the rest are not attempted.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDB(t, "")
	ctx := context.Background()
	db, err := demodb.Open(ctx, "postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	err = demodb.CreateAt(ctx, db, "maximo", 30, 1, time.Date(2025, 6, 18, 14, 30, 0, 0, time.UTC), slog.New(slog.DiscardHandler))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ta := newTestAgent(t, dsn, "", func(c *Config) {
		c.Connection.Driver = "postgres"
		c.Passthrough.Enabled = true
	})

	code, body := ta.call("POST", wire.PathPassthrough, `{"sql": "SELECT \"WONUM\", \"REPORTDATE\" FROM \"WORKORDER\" WHERE \"SITEID\" = $1 ORDER BY \"WONUM\"", "params": ["HOUSTON"], "max_rows": 1}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"truncated":true`) || !strings.Contains(string(body), `Z"]]`) {
		t.Errorf("passthrough read: %d %s", code, body)
	}
	code, body = ta.call("POST", wire.PathPassthrough, `{"sql": "WITH d AS (DELETE FROM \"WORKORDER\" RETURNING 1) SELECT count(*) FROM d"}`)
	if e := wireError(t, body); code != http.StatusForbidden || e.Code != "PERMISSION_DENIED" {
		t.Errorf("passthrough delete: %d %s", code, body)
	}

	code, res, raw := ta.writes(`{"model": "work_orders", "writes": [{"op": "create", "fields": {"number": "PB4001", "title": "t", "site_id": "HOUSTON"}}]}`)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, raw)
	}
	if rec := recordOf(t, res[0]); rec["remote_id"] != "HOUSTON/PB4001" {
		t.Errorf("created: %v", rec)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	code, res, raw = ta.writes(`{"model": "work_orders", "writes": [
		{"op": "update", "remote_id": "HOUSTON/PB4001", "fields": {"title": "u"}},
		{"op": "status", "remote_id": "HOUSTON/PB4001", "fields": {"status": "closed"}}]}`)
	if code != http.StatusOK || len(res) != 2 {
		t.Fatalf("%d %s", code, raw)
	}
	if e := res[0].Error; e == nil || e.Code != "CONNECTION_UNREACHABLE" || strings.HasPrefix(e.Message, "not attempted") {
		t.Errorf("first write against the stopped server: %+v", e)
	}
	if e := res[1].Error; e == nil || e.Code != "CONNECTION_UNREACHABLE" || !strings.HasPrefix(e.Message, "not attempted") {
		t.Errorf("second write: %+v", e)
	}
	if strings.Contains(string(raw), "127.0.0.1") || strings.Contains(string(raw), "postgres") {
		t.Errorf("the answer names the server: %s", raw)
	}
}
