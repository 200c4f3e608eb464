// Package openapi builds the OpenAPI 3.1 document of the relay's public API, served
// at /openapi.json.
//
// The document is built in Go rather than written as a file: the routes are a table
// (paths.go) that adds to each operation the answers every operation shares
// (authentication, rate limit, request id, the error shape), and the record schemas and
// record routes are generated from the unified model's definitions (records.go), so
// that they cannot drift from what the relay serves. The relay's tests check the
// document against real answers of every route.
package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/plantbridge/plantbridge/internal/version"
)

// document is an OpenAPI 3.1 document.
type document struct {
	OpenAPI    string                         `json:"openapi"`
	Info       info                           `json:"info"`
	Security   []map[string][]string          `json:"security"`
	Tags       []tag                          `json:"tags"`
	Paths      *Ordered[*Ordered[*operation]] `json:"paths"`
	Webhooks   *Ordered[*Ordered[*operation]] `json:"webhooks"`
	Components components                     `json:"components"`
}

type info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description"`
}

type tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

type components struct {
	Schemas         *Ordered[*Schema]         `json:"schemas"`
	Responses       *Ordered[*response]       `json:"responses"`
	Parameters      *Ordered[*parameter]      `json:"parameters"`
	Headers         *Ordered[*header]         `json:"headers"`
	SecuritySchemes *Ordered[*securityScheme] `json:"securitySchemes"`
}

type operation struct {
	OperationID string                 `json:"operationId"`
	Tags        []string               `json:"tags"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description,omitempty"`
	Security    *[]map[string][]string `json:"security,omitempty"`
	Parameters  []*parameter           `json:"parameters,omitempty"`
	RequestBody *requestBody           `json:"requestBody,omitempty"`
	Responses   *Ordered[*response]    `json:"responses"`
}

type parameter struct {
	Ref         string  `json:"$ref,omitempty"`
	Name        string  `json:"name,omitempty"`
	In          string  `json:"in,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
}

type requestBody struct {
	Description string                `json:"description,omitempty"`
	Required    bool                  `json:"required"`
	Content     map[string]*mediaType `json:"content"`
}

type mediaType struct {
	Schema *Schema `json:"schema"`
}

type response struct {
	Ref         string                `json:"$ref,omitempty"`
	Description string                `json:"description,omitempty"`
	Headers     *Ordered[*header]     `json:"headers,omitempty"`
	Content     map[string]*mediaType `json:"content,omitempty"`
}

type header struct {
	Ref         string  `json:"$ref,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
}

type securityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme"`
	BearerFormat string `json:"bearerFormat,omitempty"`
	Description  string `json:"description"`
}

var (
	once sync.Once
	doc  []byte
)

// JSON returns the document.
func JSON() []byte {
	once.Do(func() {
		var err error
		doc, err = json.Marshal(build())
		if err != nil {
			panic(fmt.Sprintf("openapi: encode the document: %v", err)) // only a bug in this package gets here
		}
		doc = append(doc, '\n')
	})
	return doc
}

// Handler serves the document. It needs no authentication: the document describes
// the API, not anybody's data.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := JSON()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(b)
	})
}

func build() *document {
	d := &document{
		OpenAPI: "3.1.0",
		Info: info{
			Title:       "Plantbridge relay API",
			Version:     version.Version,
			Description: apiDescription,
		},
		Security: []map[string][]string{{"apiKey": {}}},
		Tags:     tags(),
		Paths:    &Ordered[*Ordered[*operation]]{},
		Webhooks: &Ordered[*Ordered[*operation]]{},
		Components: components{
			Schemas:         &Ordered[*Schema]{},
			Responses:       &Ordered[*response]{},
			Parameters:      &Ordered[*parameter]{},
			Headers:         &Ordered[*header]{},
			SecuritySchemes: &Ordered[*securityScheme]{},
		},
	}
	d.Components.SecuritySchemes.Set("apiKey", &securityScheme{Type: "http", Scheme: "bearer", BearerFormat: "pb_live_…",
		Description: "An API key of the account, shown once when it is created (plantbridge-relay accounts create, keys create)."})
	d.Components.SecuritySchemes.Set("agentCredential", &securityScheme{Type: "http", Scheme: "bearer",
		Description: "An agent's credential, from POST /v1/agents/enroll. Used by plantbridge-agent only."})
	addHeaders(d.Components.Headers)
	addParameters(d.Components.Parameters)
	addErrorResponses(d.Components.Responses, d.Components.Schemas)
	addAPISchemas(d.Components.Schemas)
	addRecordSchemas(d.Components.Schemas)
	addMappingSchemas(d.Components.Schemas)
	addWebhookSchemas(d.Components.Schemas)
	d.addPaths()
	d.addWebhooks()
	return d
}

// op describes one operation; add turns it into the document's form with the
// parameters, headers and error answers that follow from it.
type op struct {
	method, path string
	id, tag      string
	summary      string
	desc         string
	// query names components/parameters of the operation, besides its path's.
	query []string
	// body is the JSON request body; bodyOptional lets it be left out.
	body         *Schema
	bodyOptional bool
	ok           []okResp
	// errors lists error statuses besides those implied: 401, 429 and 500 for every
	// authenticated operation, 400 with parameters or a body, 404 with path parameters,
	// 413 with a body, 409 with idempotent, 502 and 503 with agent.
	errors []int
	// public operations need no API key and have no rate limit.
	public bool
	// agent operations call the connection's agent and wait for it.
	agent bool
	// idempotent operations take an Idempotency-Key.
	idempotent bool
	// headers adds the operation's own headers to its success answers.
	headers map[string]*header
}

type okResp struct {
	status int
	desc   string
	schema *Schema // nil: no body
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// pathParams maps the names of path parameters to components/parameters.
var pathParams = map[string]string{
	"id":        "ConnectionId",
	"record_id": "RecordId",
	"job_id":    "JobId",
	"name":      "CustomModelName",
	"model":     "ModelName",
}

func (d *document) add(o op) {
	out := &operation{OperationID: o.id, Tags: []string{o.tag}, Summary: o.summary, Description: o.desc,
		Responses: &Ordered[*response]{}}
	if o.public {
		out.Security = &[]map[string][]string{}
	}
	hasPath := false
	for _, m := range pathParam.FindAllStringSubmatch(o.path, -1) {
		name, ok := pathParams[m[1]]
		if strings.HasPrefix(o.path, "/v1/webhooks/") && m[1] == "id" {
			name, ok = "WebhookId", true
		}
		if !ok {
			panic("openapi: no parameter for {" + m[1] + "} in " + o.path)
		}
		out.Parameters = append(out.Parameters, &parameter{Ref: "#/components/parameters/" + name})
		hasPath = true
	}
	for _, q := range o.query {
		out.Parameters = append(out.Parameters, &parameter{Ref: "#/components/parameters/" + q})
	}
	if o.idempotent {
		out.Parameters = append(out.Parameters, &parameter{Ref: "#/components/parameters/IdempotencyKey"})
	}
	if o.body != nil {
		out.RequestBody = &requestBody{Required: !o.bodyOptional,
			Content: map[string]*mediaType{"application/json": {Schema: o.body}}}
	}
	for _, r := range o.ok {
		resp := &response{Description: r.desc, Headers: &Ordered[*header]{}}
		resp.Headers.Set("X-Request-Id", &header{Ref: "#/components/headers/X-Request-Id"})
		if !o.public {
			for _, h := range rateLimitHeaders {
				resp.Headers.Set(h, &header{Ref: "#/components/headers/" + h})
			}
		}
		if o.idempotent {
			resp.Headers.Set("Idempotent-Replayed", &header{Ref: "#/components/headers/Idempotent-Replayed"})
		}
		for _, k := range sortedKeys(o.headers) {
			resp.Headers.Set(k, o.headers[k])
		}
		if r.schema != nil {
			resp.Content = map[string]*mediaType{"application/json": {Schema: r.schema}}
		}
		out.Responses.Set(strconv.Itoa(r.status), resp)
	}
	errs := slices.Clone(o.errors)
	if !o.public {
		errs = append(errs, 401, 429, 500)
	}
	if len(o.query) > 0 || o.body != nil {
		errs = append(errs, 400)
	}
	if hasPath {
		errs = append(errs, 404)
	}
	if o.body != nil {
		errs = append(errs, 413)
	}
	if o.idempotent {
		errs = append(errs, 409)
	}
	if o.agent {
		errs = append(errs, 502, 503)
	}
	slices.Sort(errs)
	for _, s := range slices.Compact(errs) {
		name, ok := errorResponseNames[s]
		if !ok {
			panic(fmt.Sprintf("openapi: no error response for %d", s))
		}
		out.Responses.Set(strconv.Itoa(s), &response{Ref: "#/components/responses/" + name})
	}
	d.set(o.method, o.path, out)
}

// set puts an operation in the document as it is.
func (d *document) set(method, path string, o *operation) {
	item, ok := d.Paths.Get(path)
	if !ok {
		item = &Ordered[*operation]{}
		d.Paths.Set(path, item)
	}
	if _, dup := item.Get(strings.ToLower(method)); dup {
		panic("openapi: " + method + " " + path + " twice")
	}
	item.Set(strings.ToLower(method), o)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
