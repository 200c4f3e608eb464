package model

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordID(t *testing.T) {
	a := RecordID("c1", "work_orders", "BEDFORD/1000")
	if a != RecordID("c1", "work_orders", "BEDFORD/1000") || !strings.HasPrefix(a, "wo_") || len(a) != 27 {
		t.Errorf("id %q", a)
	}
	for _, other := range []string{RecordID("c2", "work_orders", "BEDFORD/1000"), RecordID("c1", "assets", "BEDFORD/1000"), RecordID("c1", "work_orders", "TEXAS/1000")} {
		if other == a {
			t.Errorf("collision %s", other)
		}
	}
	if id := RecordID("c1", "meters", "x"); !strings.HasPrefix(id, "cm_") {
		t.Errorf("custom id %s", id)
	}
	// Ids are stored by the relay and by API consumers: they must never change.
	for _, tc := range []struct{ conn, model, rid, want string }{
		{"c1", "work_orders", "BEDFORD/1000", "wo_vpjcmzpkrqsb6uemfsllmduc"},
		{"conn_test", "meters", "x", "cm_cbms5st445rftjusc2vvowpl"},
		{strings.Repeat("k", 300), "assets", "A/B", "ast_k6wygihvrtzwbszsspkdt6co"},
	} {
		if got := RecordID(tc.conn, tc.model, tc.rid); got != tc.want {
			t.Errorf("RecordID(%q, %q, %q) = %s, want %s", tc.conn, tc.model, tc.rid, got, tc.want)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, parts := range [][]string{{"BEDFORD", "1000"}, {"A/B", "50%", ""}, {"x"}} {
		if got := SplitKey(JoinKey(parts)); !reflect.DeepEqual(got, parts) {
			t.Errorf("%v → %q → %v", parts, JoinKey(parts), got)
		}
	}
	if JoinKey([]string{"BEDFORD", "1000"}) != "BEDFORD/1000" {
		t.Errorf("plain keys must stay readable")
	}
}

func TestRecordJSON(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	r := Record{ID: "wo_x", RemoteID: "S/1", Model: "work_orders", RemoteUpdatedAt: &now,
		Fields:       map[string]any{"status": nil, "remote_status": "ODD", "reported_at": now, "estimated_hours": "1.50", "assignee_ids": []string{"usr_a"}},
		CustomFields: map[string]any{"shift": "B"}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"status":null`, `"remote_status":"ODD"`, `"reported_at":"2024-05-01T12:00:00Z"`, `"custom_fields":{"shift":"B"}`, `"remote_was_deleted":false`, `"created_at":null`} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s", s, want)
		}
	}
	if strings.Contains(s, "remote_data") {
		t.Errorf("nil remote_data encoded: %s", s)
	}
	back := Record{Model: "work_orders"}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Fields, r.Fields) || !back.RemoteUpdatedAt.Equal(now) || back.CustomFields["shift"] != "B" {
		t.Errorf("round trip: %#v", back)
	}
}

func TestValidate(t *testing.T) {
	errs := Validate("work_orders", map[string]any{
		"status": "done", "priority": "high", "estimated_hours": "x", "due_at": "2024-01-01T00:00:00Z",
		"assignee_ids": []any{"a", 3}, "bogus": 1, "id": "x", "remote_status": "WAPPR", "remote_title": "x",
	}, OpCreate)
	var got []string
	for _, e := range errs {
		got = append(got, e.Pointer)
	}
	want := []string{"/assignee_ids/1", "/bogus", "/estimated_hours", "/id", "/remote_title", "/status"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pointers %v, want %v", got, want)
	}
	if errs := Validate("purchase_orders", map[string]any{"lines": []any{map[string]any{"quantity": "2", "nope": 1}}}, OpCreate); len(errs) != 1 || errs[0].Pointer != "/lines/0/nope" {
		t.Errorf("lines: %v", errs)
	}
	if Pointer("a/b", "c~d") != "/a~1b/c~0d" {
		t.Errorf("pointer escaping")
	}
}

func TestModelsTable(t *testing.T) {
	if len(Models) != 9 {
		t.Fatalf("%d models", len(Models))
	}
	for _, d := range Models {
		for _, f := range d.Fields {
			if commonKeys[f.Name] {
				t.Errorf("%s.%s clashes with a common key", d.Name, f.Name)
			}
			if (f.Type == Ref || f.Type == RefList) && Lookup(f.Ref) == nil {
				t.Errorf("%s.%s refers to %s", d.Name, f.Name, f.Ref)
			}
		}
	}
	if Lookup("work_orders").Field("status").Values[0] != "open" {
		t.Errorf("enum values")
	}
}
