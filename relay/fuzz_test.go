package relay

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRelay is a relay whose handler is called in-process.
func fuzzRelay(f *testing.F) (http.Handler, string, string) {
	tr := startRelay(f, relayOpts{quiet: true, cfg: func(c *Config) { c.API.RateLimit, c.API.RateBurst = 1e9, 1<<30 }})
	id, _ := tr.connection("maximo")
	return tr.srv.Handler(), tr.key, id
}

func serveFuzz(t *testing.T, h http.Handler, key, method, target, body string) {
	req := httptest.NewRequest(method, "http://relay"+target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("%s %s %q: %d %s", method, target, body, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"request_id"`) {
		t.Fatalf("%s %s: error without the error shape: %s", method, target, rec.Body)
	}
}

// FuzzListQuery: no query string makes a record list fail with anything but a 4xx.
func FuzzListQuery(f *testing.F) {
	h, key, id := fuzzRelay(f)
	for _, q := range []string{"", "page_size=0", "page_size=1000", "modified_after=2026-01-01T00:00:00Z",
		"modified_before=2026-13-01T00:00:00Z", "include_deleted=yes", "cursor=%00", "cursor=a.b&cursor=c.d", "x=%zz"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if strings.ContainsAny(q, " #\r\n") {
			return
		}
		serveFuzz(t, h, key, "GET", "/v1/connections/"+id+"/work_orders?"+q, "")
	})
}

// FuzzBodies: no JSON body makes a write endpoint fail with anything but a 4xx (the agent
// is offline, so a valid write is a 503).
func FuzzBodies(f *testing.F) {
	h, key, id := fuzzRelay(f)
	for _, b := range []string{`{}`, `{"name":"x","system":"maximo"}`, `{"title":1}`, `[]`, `null`, `{"records":[{"fields":{}}]}`,
		`{"records":[` + strings.Repeat(`{"op":"update","id":"x","fields":{"title":"y"}},`, 3) + `{}]}`, `{"status":"open","asset_id":"nope"}`} {
		for _, path := range []int{0, 1, 2, 3, 4} {
			f.Add(path, b)
		}
	}
	f.Fuzz(func(t *testing.T, path int, body string) {
		targets := []struct{ method, path string }{
			{"POST", "/v1/connections"},
			{"POST", "/v1/connections/" + id + "/work_orders"},
			{"POST", "/v1/connections/" + id + "/work_orders/batch"},
			{"POST", "/v1/connections/" + id + "/work_orders/async"},
			{"PATCH", "/v1/connections/" + id},
		}
		tg := targets[uint(path)%uint(len(targets))]
		serveFuzz(t, h, key, tg.method, tg.path, body)
	})
}
