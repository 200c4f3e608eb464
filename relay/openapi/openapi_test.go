package openapi

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/relay/api"
	"github.com/plantbridge/plantbridge/relay/webhooks"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

func load(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(JSON())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return doc
}

// TestDocumentValid: the document is a valid OpenAPI 3.1 document, every operation has
// an id, a summary, and the error answers, and the examples match their schemas.
func TestDocumentValid(t *testing.T) {
	doc := load(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			where := method + " " + path
			if o.OperationID == "" || o.Summary == "" || len(o.Tags) != 1 {
				t.Errorf("%s: operation id %q, summary %q, tags %v", where, o.OperationID, o.Summary, o.Tags)
			}
			if prev, dup := ids[o.OperationID]; dup {
				t.Errorf("operation id %s of %s and %s", o.OperationID, prev, where)
			}
			ids[o.OperationID] = where
			if !strings.HasPrefix(path, "/v1/") || path == "/v1/tunnel" {
				continue
			}
			for _, status := range []string{"401", "500"} {
				if o.Responses.Value(status) == nil && path != "/v1/agents/enroll" {
					t.Errorf("%s: no %s answer", where, status)
				}
			}
		}
	}
	if len(doc.Webhooks) != len(webhooks.EventTypeNames()) {
		t.Errorf("%d webhooks, want one per event type %v", len(doc.Webhooks), webhooks.EventTypeNames())
	}
}

// TestRecordSchemas: every field of every unified model is in its record schema and
// its write schema with the type the model gives it; enums have their values and a
// remote_ sibling.
func TestRecordSchemas(t *testing.T) {
	doc := load(t)
	schemas := doc.Components.Schemas
	for _, def := range model.Models {
		name := recordSchemaName(def.Name)
		read, write := schemas[name].Value, schemas[name+"Fields"].Value
		if read == nil || write == nil {
			t.Fatalf("%s: no schemas %s and %sFields", def.Name, name, name)
		}
		for _, k := range []string{"id", "remote_id", "created_at", "modified_at", "remote_created_at", "remote_updated_at", "remote_was_deleted"} {
			if !slices.Contains(read.Required, k) {
				t.Errorf("%s: %s not required", name, k)
			}
		}
		if read.Properties["remote_data"] == nil || read.Properties["custom_fields"] == nil || write.Properties["custom_fields"] == nil {
			t.Errorf("%s: no remote_data or custom_fields", name)
		}
		if write.Properties["id"] != nil || write.Properties["remote_data"] != nil {
			t.Errorf("%sFields lets a write set read-only members", name)
		}
		for _, f := range def.Fields {
			for _, s := range []*openapi3.Schema{read, write} {
				p := s.Properties[f.Name]
				if p == nil {
					t.Errorf("%s: no %s", name, f.Name)
					continue
				}
				checkFieldType(t, name+"."+f.Name, f, p.Value)
				if f.Type == model.Enum {
					sib := s.Properties[model.RemoteSibling(f.Name)]
					if sib == nil || !sib.Value.Type.Includes("string") {
						t.Errorf("%s: no string %s", name, model.RemoteSibling(f.Name))
					}
				}
			}
			if f.Type == model.Lines {
				line := schemas[lineSchemaName(def.Name)].Value
				for _, lf := range f.Lines {
					if line.Properties[lf.Name] == nil {
						t.Errorf("%s: no line field %s", lineSchemaName(def.Name), lf.Name)
						continue
					}
					checkFieldType(t, lineSchemaName(def.Name)+"."+lf.Name, lf, line.Properties[lf.Name].Value)
				}
			}
		}
		for _, suffix := range []string{"", "/{record_id}", "/batch", "/async"} {
			if doc.Paths.Value("/v1/connections/{id}/"+def.Name+suffix) == nil {
				t.Errorf("no path for %s%s", def.Name, suffix)
			}
		}
	}
}

func checkFieldType(t *testing.T, where string, f model.Field, s *openapi3.Schema) {
	t.Helper()
	want := map[model.Type]string{model.String: "string", model.Int: "integer", model.Decimal: "string",
		model.Bool: "boolean", model.Time: "string", model.Enum: "string", model.Ref: "string",
		model.RefList: "array", model.StringList: "array", model.Object: "object", model.Lines: "array"}[f.Type]
	if !s.Type.Includes(want) || !s.Type.Includes("null") {
		t.Errorf("%s: type %v, want %s or null", where, s.Type, want)
	}
	switch f.Type {
	case model.Enum:
		for _, v := range f.Values {
			if !slices.Contains(s.Enum, any(v)) {
				t.Errorf("%s: enum %v lacks %s", where, s.Enum, v)
			}
		}
	case model.Time:
		if s.Format != "date-time" {
			t.Errorf("%s: format %q", where, s.Format)
		}
	case model.RefList, model.StringList:
		if !s.Items.Value.Type.Is("string") {
			t.Errorf("%s: items %v", where, s.Items.Value.Type)
		}
	}
}

// TestSchemasMatchGoTypes: the hand-written schemas of the API's objects have exactly
// the members their Go types encode, and require those the relay always writes.
func TestSchemasMatchGoTypes(t *testing.T) {
	doc := load(t)
	cases := []struct {
		schema string
		v      any
		// input schemas (requests) require only what the server checks.
		input bool
	}{
		{"Connection", api.ConnectionJSON{}, false},
		{"Enrollment", api.EnrollmentJSON{}, false},
		{"ConnectionStatus", api.ConnectionStatus{}, false},
		{"AgentStatus", api.AgentJSON{}, false},
		{"DatabaseStatus", api.DatabaseJSON{}, false},
		{"AgentError", wire.Error{}, false},
		{"FieldError", wire.FieldError{}, false},
		{"BufferStatus", wire.BufferStatus{}, false},
		{"SyncStatus", api.SyncStatusJSON{}, false},
		{"SyncError", api.SyncErrorJSON{}, false},
		{"SyncProgress", api.ModelProgress{}, false},
		{"ConnectionEvent", api.EventJSON{}, false},
		{"Job", api.JobJSON{}, false},
		{"RemoteSchema", dialect.Schema{}, false},
		{"RemoteTable", dialect.Table{}, false},
		{"RemoteColumn", dialect.Column{}, false},
		{"RemoteIndex", dialect.Index{}, false},
		{"PassthroughRequest", wire.PassthroughRequest{}, true},
		{"PassthroughResult", wire.PassthroughResult{}, false},
		{"EnrollRequest", wire.EnrollRequest{}, true},
		{"EnrollResponse", wire.EnrollResponse{}, false},
		{"SyncRequest", wire.SyncRequest{}, true},
		{"WebhookEndpoint", webhooks.EndpointJSON{}, false},
		{"WebhookEndpointHealth", webhooks.HealthJSON{}, false},
		{"WebhookAttempt", webhooks.AttemptJSON{}, false},
		{"WebhookTestResult", webhooks.TestJSON{}, false},
		{"WebhookMessage", webhooks.Message{}, false},
	}
	for _, c := range cases {
		ref := doc.Components.Schemas[c.schema]
		if ref == nil {
			t.Errorf("no schema %s", c.schema)
			continue
		}
		s := ref.Value
		members, always := jsonMembers(reflect.TypeOf(c.v))
		var props []string
		for k := range s.Properties {
			props = append(props, k)
		}
		slices.Sort(props)
		if !slices.Equal(props, members) {
			t.Errorf("%s: schema members %v, Go type %T encodes %v", c.schema, props, c.v, members)
		}
		if c.input {
			continue
		}
		req := slices.Sorted(slices.Values(s.Required))
		if !slices.Equal(req, always) {
			t.Errorf("%s: schema requires %v, Go type %T always writes %v", c.schema, req, c.v, always)
		}
	}
}

// jsonMembers lists the members encoding/json writes for a struct type, and those it
// always writes (no omitempty).
func jsonMembers(t reflect.Type) (all, always []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			a, w := jsonMembers(f.Type)
			all, always = append(all, a...), append(always, w...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, name)
		}
	}
	slices.Sort(all)
	slices.Sort(always)
	return all, always
}

// TestGoDerivedSchemas: schemas derived from Go types give each member the JSON type
// encoding/json writes: times as date-time strings, durations as strings.
func TestGoDerivedSchemas(t *testing.T) {
	doc := load(t)
	var roots []reflect.Type
	for _, et := range webhooks.EventTypes() {
		roots = append(roots, reflect.TypeOf(et.Data))
	}
	roots = append(roots, reflect.TypeFor[profiles.Overrides]())
	seen := map[reflect.Type]bool{}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() || seen[typ] {
			return
		}
		seen[typ] = true
		s := doc.Components.Schemas[prefix+typ.Name()]
		if s == nil {
			t.Errorf("no schema %s%s", prefix, typ.Name())
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				walk(prefix, f.Type)
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			p := s.Value.Properties[name]
			if p == nil {
				t.Errorf("%s%s: no %s", prefix, typ.Name(), name)
				continue
			}
			switch {
			case ft == reflect.TypeFor[time.Time]():
				if p.Value.Format != "date-time" {
					t.Errorf("%s%s.%s: a time without format date-time", prefix, typ.Name(), name)
				}
			case ft == reflect.TypeFor[profiles.Duration]():
				if !p.Value.Type.Is("string") {
					t.Errorf("%s%s.%s: a duration of type %v", prefix, typ.Name(), name, p.Value.Type)
				}
			}
			walk(prefix, f.Type)
		}
	}
	for _, r := range roots {
		prefix := "Webhook"
		if r.PkgPath() == reflect.TypeFor[profiles.Overrides]().PkgPath() {
			prefix = "Mapping"
		}
		walk(prefix, r)
	}
}

// TestWebhookExamples: the sample data of every event type, which the test send
// delivers, matches the event's schema in the document.
func TestWebhookExamples(t *testing.T) {
	doc := load(t)
	for _, et := range webhooks.EventTypes() {
		item := doc.Webhooks[et.Type]
		if item == nil || item.Post == nil {
			t.Errorf("no webhook %s", et.Type)
			continue
		}
		schema := item.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
		data, _ := json.Marshal(et.Example)
		msg := map[string]any{"id": "msg_x", "type": et.Type, "timestamp": "2026-03-01T12:00:00.000000Z",
			"connection_id": nil, "data": json.RawMessage(data)}
		raw, _ := json.Marshal(msg)
		var v any
		json.Unmarshal(raw, &v)
		if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: example does not match: %v", et.Type, err)
		}
	}
}

// TestHandler: the document is served as JSON.
func TestHandler(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(JSON(), &m); err != nil {
		t.Fatal(err)
	}
	if m["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v", m["openapi"])
	}
}
