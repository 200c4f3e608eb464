package e2e

import (
	"database/sql"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"

	_ "github.com/mattn/go-sqlite3"
)

// TestWritesThroughTheAgent writes work orders through the API, the tunnel and a real
// agent into a Maximo database, and checks the rows in the database itself: single
// create, update and status change, field errors before anything reaches the plant, a
// batch with per-record results, an async job of 5,000 records, and an offline agent.
func TestWritesThroughTheAgent(t *testing.T) {
	leaktest.Check(t)
	s := startStack(t, 20)
	s.waitOnline()
	wo := "/v1/connections/" + s.connID + "/work_orders"
	db, err := sql.Open("sqlite3", "file:"+s.plantDB+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	row := func(wonum string) (desc, status string) {
		t.Helper()
		if err := db.QueryRow(`SELECT DESCRIPTION, STATUS FROM WORKORDER WHERE WONUM = ?`, wonum).Scan(&desc, &status); err != nil {
			t.Fatalf("work order %s in the plant database: %v", wonum, err)
		}
		return desc, status
	}

	site := s.firstSite()
	code, created := s.call("POST", wo, map[string]any{"number": "E2E-1", "title": "Replace pump seal", "site_id": site, "priority": "high"})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, created)
	}
	if d, st := row("E2E-1"); d != "Replace pump seal" || st != "WAPPR" {
		t.Errorf("created row: %q %q", d, st)
	}
	id := created["id"].(string)
	// Readable at once from the relay.
	if code, got := s.call("GET", wo+"/"+id, nil); code != 200 || got["title"] != "Replace pump seal" {
		t.Errorf("read after create: %d %v", code, got)
	}
	if code, got := s.call("PATCH", wo+"/"+id, map[string]any{"title": "Replace pump seal and bearing"}); code != 200 || got["title"] != "Replace pump seal and bearing" {
		t.Fatalf("update: %d %v", code, got)
	}
	if code, got := s.call("PATCH", wo+"/"+id, map[string]any{"status": "in_progress"}); code != 200 || got["status"] != "in_progress" {
		t.Fatalf("status change: %d %v", code, got)
	}
	if _, st := row("E2E-1"); st != "INPRG" {
		t.Errorf("status in the plant database: %q", st)
	}
	var history int
	db.QueryRow(`SELECT COUNT(*) FROM WOSTATUS WHERE WONUM = 'E2E-1'`).Scan(&history)
	if history == 0 {
		t.Error("status change left no WOSTATUS history row")
	}

	// Field errors are answered with pointers, and nothing is written.
	code, bad := s.call("POST", wo, map[string]any{"number": "E2E-2", "title": "x", "priority": "whenever"})
	if code != 400 || bad["error"].(map[string]any)["code"] != "VALIDATION_FAILED" {
		t.Fatalf("invalid write: %d %v", code, bad)
	}
	code, bad = s.call("POST", wo, map[string]any{"number": "E2E-3", "title": "no site"})
	if code != 400 {
		t.Fatalf("write without a required field: %d %v", code, bad)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM WORKORDER WHERE WONUM IN ('E2E-2', 'E2E-3')`).Scan(&n)
	if n != 0 {
		t.Errorf("%d invalid work orders reached the plant database", n)
	}

	// A batch: per-record results, the valid ones written.
	code, batch := s.call("POST", wo+"/batch", map[string]any{"records": []any{
		map[string]any{"fields": map[string]any{"number": "E2E-B1", "title": "ok", "site_id": site}},
		map[string]any{"fields": map[string]any{"number": "E2E-B2", "title": "bad", "site_id": site, "priority": "soonish"}},
		map[string]any{"op": "update", "id": id, "fields": map[string]any{"title": "batch update"}},
	}})
	if code != 200 {
		t.Fatalf("batch: %d %v", code, batch)
	}
	results := batch["results"].([]any)
	want := []float64{201, 400, 200}
	for i, r := range results {
		if got := r.(map[string]any)["status"]; got != want[i] {
			t.Errorf("batch result %d: status %v, want %v: %v", i, got, want[i], r)
		}
	}

	// An async job of 5,000 work orders.
	const jobSize = 5000
	recs := make([]any, jobSize)
	for i := range recs {
		f := map[string]any{"number": fmt.Sprintf("J%05d", i), "title": fmt.Sprintf("Job record %d", i), "site_id": site}
		if i%1000 == 999 {
			f["priority"] = "eventually" // one invalid record in every thousand
		}
		recs[i] = map[string]any{"fields": f}
	}
	code, job := s.call("POST", wo+"/async", map[string]any{"records": recs})
	if code != http.StatusAccepted {
		t.Fatalf("async: %d %v", code, job)
	}
	jobURL := "/v1/jobs/" + job["id"].(string)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, j := s.call("GET", jobURL, nil)
		if j["status"] == "completed" {
			if j["succeeded"] != float64(jobSize-5) || j["failed"] != 5.0 || j["processed"] != float64(jobSize) {
				t.Fatalf("job: %v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not done: %v", j)
		}
		time.Sleep(200 * time.Millisecond)
	}
	db.QueryRow(`SELECT COUNT(*) FROM WORKORDER WHERE WONUM LIKE 'J%'`).Scan(&n)
	if n != jobSize-5 {
		t.Errorf("the plant database holds %d job work orders, want %d", n, jobSize-5)
	}
	// Per-record results, paged.
	seen, failed := 0, 0
	next := ""
	for {
		path := jobURL + "?page_size=1000"
		if next != "" {
			path += "&cursor=" + next
		}
		_, j := s.call("GET", path, nil)
		res := j["results"].(map[string]any)
		for _, r := range res["results"].([]any) {
			seen++
			if r.(map[string]any)["error"] != nil {
				failed++
			}
		}
		nx, _ := res["next"].(string)
		if nx == "" {
			break
		}
		next = nx
	}
	if seen != jobSize || failed != 5 {
		t.Errorf("job results: %d seen, %d failed", seen, failed)
	}

	// Agent offline: an immediate 503, not a hung request.
	s.stopAgent()
	start := time.Now()
	code, off := s.call("POST", wo, map[string]any{"number": "E2E-4", "title": "offline", "site_id": site})
	if code != 503 || off["error"].(map[string]any)["code"] != "CONNECTION_UNREACHABLE" {
		t.Fatalf("offline write: %d %v", code, off)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("offline write took %v", d)
	}
}

// TestMappingsThroughTheAgent changes mappings through the API: the agent validates them
// against the plant's schema and applies them at once; a rejected document keeps the
// old mapping and its problems reach the caller; a custom model is synced and served.
func TestMappingsThroughTheAgent(t *testing.T) {
	leaktest.Check(t)
	s := startStack(t, 20)
	s.waitOnline()
	c := "/v1/connections/" + s.connID

	// A column that does not exist: refused by the agent with a pointer.
	code, bad := s.call("PUT", c+"/field-mappings/work_orders", map[string]any{
		"custom_fields": map[string]any{"crew": map[string]any{"column": "NO_SUCH_COLUMN", "type": "string"}}})
	if code != 400 || bad["error"].(map[string]any)["code"] != "VALIDATION_FAILED" {
		t.Fatalf("invalid mapping: %d %v", code, bad)
	}
	// A real column: accepted, and the next sync carries the custom field.
	code, ok := s.call("PUT", c+"/field-mappings/work_orders", map[string]any{
		"custom_fields": map[string]any{"labor_cost": map[string]any{"column": "ACTLABCOST", "type": "decimal"}}})
	if code != 200 {
		t.Fatalf("valid mapping: %d %v", code, ok)
	}
	code, doc := s.call("GET", c+"/field-mappings", nil)
	if code != 200 || doc["models"].(map[string]any)["work_orders"] == nil {
		t.Fatalf("field-mappings: %d %v", code, doc)
	}

	// A custom model over a table the profile does not map.
	code, cm := s.call("PUT", c+"/custom-models/craft_rates", map[string]any{
		"table": "LABORCRAFTRATE", "key": []string{"LABORCODE", "CRAFT", "ORGID"}, "watermark": map[string]any{"strategy": "row_hash"},
		"fields": map[string]any{"labor_code": map[string]any{"column": "LABORCODE", "type": "string"},
			"rate": map[string]any{"column": "RATE", "type": "decimal"}}})
	if code != 200 {
		t.Fatalf("custom model: %d %v", code, cm)
	}
	if code, _ := s.call("POST", c+"/syncs", map[string]any{"models": []string{"work_orders", "craft_rates"}, "full": true}); code != 202 {
		t.Fatalf("sync: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, rates := s.call("GET", c+"/custom/craft_rates?page_size=1000", nil)
		_, wos := s.call("GET", c+"/work_orders?page_size=1", nil)
		res, _ := rates["results"].([]any)
		wr, _ := wos["results"].([]any)
		var cf map[string]any
		if len(wr) == 1 {
			cf, _ = wr[0].(map[string]any)["custom_fields"].(map[string]any)
		}
		if len(res) > 0 && res[0].(map[string]any)["rate"] != nil && cf != nil && cf["labor_cost"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("custom model or field not synced: %v / %v", rates, wr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := s.call("GET", c+"/custom/nothing_here", nil); code != 404 {
		t.Errorf("unknown custom model: %d", code)
	}
}
