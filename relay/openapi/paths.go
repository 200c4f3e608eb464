package openapi

import (
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

const apiDescription = `One REST API over the maintenance systems (CMMS/EAM, ERP) of every plant connected
through a plantbridge-agent.

**Authentication.** Send an API key of your account: ` + "`Authorization: Bearer pb_live_…`" + `. A connection
of another account answers 404, like one that does not exist.

**Records.** Reads are served from the relay's store, so they are fast and work while a plant is offline;
` + "`GET /v1/connections/{id}/sync-status`" + ` says how fresh they are. Every record has id, remote_id,
created_at, modified_at, remote_created_at, remote_updated_at and remote_was_deleted; every normalized enum
has a remote_ sibling with the native code; times are RFC 3339 in UTC; decimals are strings.

**Pagination.** Lists answer ` + "`{next, previous, results}`" + ` (or ` + "`{next, results}`" + `). Pass a
cursor back unchanged with the same filters; an edited cursor, or one used with other filters, is a 400.

**Writes** go through the agent into the plant's system and answer with the record as stored. They accept
an ` + "`Idempotency-Key`" + ` header: a repeat of the same request gets the first answer again (with
` + "`Idempotent-Replayed: true`" + `), the same key with another request is a 409. An offline agent is an
immediate 503 CONNECTION_UNREACHABLE.

**Errors** always have the shape ` + "`{\"error\": {\"code\", \"type\", \"message\", \"request_id\", \"details\"}}`" + `;
branch on code. Every answer carries ` + "`X-Request-Id`" + `; quote it when asking for help.

**Limits.** Each API key has a token bucket; every answer carries the RateLimit-* headers, and a 429 says
when to retry in Retry-After. Request bodies over the limit are 413; unknown JSON members are 400.

Answers may gain members in later versions; clients should ignore members they do not know.`

func tags() []tag {
	out := []tag{
		{"Connections", "Plants connected through an agent: create one, enroll its agent, watch its state."},
		{"Sync", "Freshness of the stored records, and manual syncs."},
	}
	for _, def := range model.Models {
		out = append(out, tag{Name: modelTitle(def.Name), Description: "The unified " + def.Name + " model: reads from the store, writes through the agent."})
	}
	return append(out,
		tag{"Custom models", "Models added per connection by a mapping."},
		tag{"Mappings", "Per-connection changes to the system's mapping, applied by the agent at once."},
		tag{"Jobs", "Async bulk writes."},
		tag{"Plant database", "The plant database as the agent sees it: its schema, and read-only SQL."},
		tag{"Webhooks", "Endpoints that receive signed events (Standard Webhooks), and their delivery log."},
		tag{"Agents", "Used by plantbridge-agent, not by API consumers."},
		tag{"Operations", "Health, readiness, metrics and this document. No API key."},
	)
}

// Headers.

var rateLimitHeaders = []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"}

var rateLimitDescriptions = map[string]string{
	"RateLimit-Limit":     "Requests the API key may make at once (the bucket's size).",
	"RateLimit-Remaining": "Requests left in the bucket now.",
	"RateLimit-Reset":     "Seconds until the bucket is full again.",
	"RateLimit-Policy":    "The policy: burst;w=seconds to refill it (draft-ietf-httpapi-ratelimit-headers).",
}

func rateLimitSchema(name string) *Schema {
	if name == "RateLimit-Policy" {
		return str("")
	}
	return &Schema{Type: "integer", Minimum: floatPtr(0)}
}

func addHeaders(h *Ordered[*header]) {
	h.Set("X-Request-Id", &header{Required: true, Schema: &Schema{Type: "string", Pattern: "^req_"},
		Description: "The request's id; also in error bodies and in the relay's and the agent's logs."})
	for _, n := range rateLimitHeaders {
		h.Set(n, &header{Required: true, Schema: rateLimitSchema(n), Description: rateLimitDescriptions[n]})
	}
	h.Set("Retry-After", &header{Required: true, Schema: &Schema{Type: "integer", Minimum: floatPtr(1)},
		Description: "Seconds to wait before retrying."})
	h.Set("Idempotent-Replayed", &header{Schema: constant("", "true"),
		Description: "Set when the answer is the stored answer of an earlier request with the same Idempotency-Key."})
	h.Set("WWW-Authenticate", &header{Required: true, Schema: str(""), Description: "The authentication scheme: Bearer."})
	h.Set("Allow", &header{Required: true, Schema: str(""), Description: "The methods the path accepts."})
}

// Parameters.

func addParameters(p *Ordered[*parameter]) {
	p.Set("ConnectionId", &parameter{Name: "id", In: "path", Required: true, Schema: str(""),
		Description: "The connection's id (conn_…)."})
	p.Set("RecordId", &parameter{Name: "record_id", In: "path", Required: true, Schema: str(""),
		Description: "The record's unified id."})
	p.Set("JobId", &parameter{Name: "job_id", In: "path", Required: true, Schema: str(""),
		Description: "The job's id (job_…)."})
	p.Set("CustomModelName", &parameter{Name: "name", In: "path", Required: true,
		Schema:      &Schema{Type: "string", Pattern: "^[a-z][a-z0-9_]{0,62}$"},
		Description: "The custom model's name: lower case letters, digits and _, starting with a letter."})
	p.Set("ModelName", &parameter{Name: "model", In: "path", Required: true, Schema: enum("", model.Names()...),
		Description: "A unified model."})
	p.Set("WebhookId", &parameter{Name: "id", In: "path", Required: true, Schema: str(""),
		Description: "The webhook endpoint's id (ep_…)."})
	p.Set("Cursor", &parameter{Name: "cursor", In: "query", Schema: str(""),
		Description: "A next or previous value of an earlier page, unchanged. Other filters must stay the same; page_size may change."})
	p.Set("PageSize", &parameter{Name: "page_size", In: "query",
		Schema:      &Schema{Type: "integer", Minimum: floatPtr(1), Maximum: floatPtr(1000), Default: 100},
		Description: "Items per page."})
	p.Set("ModifiedAfter", &parameter{Name: "modified_after", In: "query", Schema: dateTime(""),
		Description: "Only records the relay stored a change of after this time (exclusive)."})
	p.Set("ModifiedBefore", &parameter{Name: "modified_before", In: "query", Schema: dateTime(""),
		Description: "Only records the relay stored a change of before this time (exclusive)."})
	p.Set("IncludeDeleted", &parameter{Name: "include_deleted", In: "query", Schema: &Schema{Type: "boolean", Default: false},
		Description: "Include records deleted in the source system (remote_was_deleted: true)."})
	p.Set("IncludeRemoteData", &parameter{Name: "include_remote_data", In: "query", Schema: &Schema{Type: "boolean", Default: false},
		Description: "Add remote_data, the raw source row, to every record."})
	p.Set("IdempotencyKey", &parameter{Name: "Idempotency-Key", In: "header", Schema: &Schema{Type: "string", MinLength: intPtr(1), MaxLength: intPtr(255)},
		Description: "Makes a retried write safe: the same key with the same request gets the first answer again; " +
			"with another request it is a 409 CONFLICT. A write that failed with a 5xx may be retried with the same key."})
}

// Errors.

var errorTypes = []string{"invalid_request_error", "authentication_error", "permission_error", "rate_limit_error",
	"api_error", "connection_error"}

var allCodes = []string{"INVALID_REQUEST", "VALIDATION_FAILED", "AUTHENTICATION_FAILED", "PERMISSION_DENIED",
	"NOT_FOUND", "METHOD_NOT_ALLOWED", "CONFLICT", "PAYLOAD_TOO_LARGE", "RATE_LIMIT_EXCEEDED", "INTERNAL",
	"CONNECTION_UNREACHABLE", "REAUTH_REQUIRED", "SOURCE_RATE_LIMITED", "SOURCE_ERROR"}

// errorResponses are the error answers, by status, with the codes each may carry.
var errorResponses = []struct {
	status      int
	name        string
	description string
	codes       []string
}{
	{400, "BadRequest", "The request is malformed (INVALID_REQUEST: bad JSON, unknown member, bad parameter or cursor) " +
		"or a field is invalid (VALIDATION_FAILED, with details.fields pointing at each).", []string{"INVALID_REQUEST", "VALIDATION_FAILED"}},
	{401, "Unauthorized", "No API key, or one that is unknown or revoked.", []string{"AUTHENTICATION_FAILED"}},
	{403, "Forbidden", "The request is not allowed on this connection.", []string{"PERMISSION_DENIED"}},
	{404, "NotFound", "No such resource in your account.", []string{"NOT_FOUND"}},
	{405, "MethodNotAllowed", "The path does not take this method; Allow lists those it takes.", []string{"METHOD_NOT_ALLOWED"}},
	{409, "Conflict", "The Idempotency-Key was used with another request (or its first request is still running), " +
		"or the resource is in a state that does not allow this.", []string{"CONFLICT"}},
	{413, "PayloadTooLarge", "The request body is larger than the relay takes (details.limit_bytes).", []string{"PAYLOAD_TOO_LARGE"}},
	{429, "TooManyRequests", "The API key is over its rate limit; retry after Retry-After seconds.", []string{"RATE_LIMIT_EXCEEDED"}},
	{500, "InternalError", "The relay failed; quote the request id when asking for help.", []string{"INTERNAL"}},
	{502, "BadGateway", "The plant's system answered with an error, or the agent's answer could not be read.", []string{"SOURCE_ERROR"}},
	{503, "ServiceUnavailable", "The plant cannot be reached now: its agent is offline or not enrolled, or its circuit is open " +
		"(CONNECTION_UNREACHABLE), the plant database refused the agent's login (REAUTH_REQUIRED), or the database is " +
		"too busy (SOURCE_RATE_LIMITED). Nothing was written.", []string{"CONNECTION_UNREACHABLE", "REAUTH_REQUIRED", "SOURCE_RATE_LIMITED"}},
}

var errorResponseNames = func() map[int]string {
	m := map[int]string{}
	for _, e := range errorResponses {
		m[e.status] = e.name
	}
	return m
}()

func errorSchema(desc string, codes []string) *Schema {
	return object(desc, req("error", object("The error.",
		req("code", enum("Stable code to branch on.", codes...)),
		req("type", enum("The class of the error.", errorTypes...)),
		req("message", str("What went wrong and what to do about it, for people. Never internal error text.")),
		req("request_id", str("The request's id, as in X-Request-Id.")),
		opt("details", ref("ErrorDetails")))))
}

func addErrorResponses(r *Ordered[*response], s *Ordered[*Schema]) {
	s.Set("Error", errorSchema("The one error shape of the API.", allCodes))
	s.Set("ErrorDetails", &Schema{Type: "object", AdditionalProperties: true,
		Description: "More about the error; the members depend on the code.",
		Properties: object("",
			opt("fields", array("VALIDATION_FAILED, and unknown members: each invalid field.", ref("FieldError"))),
			opt("parameter", str("The query parameter at fault.")),
			opt("limit_bytes", integer("PAYLOAD_TOO_LARGE: the body limit.")),
			opt("state", str("CONNECTION_UNREACHABLE: the connection's state (pending_enrollment, offline).")),
			opt("circuit", str("CONNECTION_UNREACHABLE: open while the relay rests a failing agent.")),
			opt("limit_per_second", number("RATE_LIMIT_EXCEEDED: the sustained rate.")),
			opt("burst", integer("RATE_LIMIT_EXCEEDED: the burst.")),
			opt("valid_event_types", array("Webhooks: the event types there are.", &Schema{Type: "string"})),
		).Properties})
	s.Set("FieldError", object("One invalid field.",
		req("pointer", str("JSON Pointer (RFC 6901) to the field in the request body, such as /status or /records/3/fields/due_at.")),
		req("message", str("What is wrong with it."))))
	s.Set("WriteError", object("Why one write of a batch or job failed: the error shape, without a request id "+
		"(the request's is in X-Request-Id).",
		req("code", enum("Stable code to branch on.", allCodes...)),
		req("type", enum("The class of the error.", errorTypes...)),
		req("message", str("What went wrong.")),
		opt("details", ref("ErrorDetails"))))
	for _, e := range errorResponses {
		resp := &response{Description: e.description, Headers: &Ordered[*header]{},
			Content: map[string]*mediaType{"application/json": {Schema: errorSchema("", e.codes)}}}
		resp.Headers.Set("X-Request-Id", &header{Ref: "#/components/headers/X-Request-Id"})
		switch e.status {
		case 401:
			resp.Headers.Set("WWW-Authenticate", &header{Description: "The authentication scheme: Bearer (not sent for a refused enrollment token).", Schema: str("")})
		case 405:
			resp.Headers.Set("Allow", &header{Ref: "#/components/headers/Allow"})
		case 429:
			resp.Headers.Set("Retry-After", &header{Ref: "#/components/headers/Retry-After"})
		}
		if e.status != 401 {
			// Sent on every answer after authentication; not on the enrollment endpoint.
			for _, h := range rateLimitHeaders {
				resp.Headers.Set(h, &header{Description: rateLimitDescriptions[h], Schema: rateLimitSchema(h)})
			}
		}
		r.Set(e.name, resp)
	}
}

// Schemas of the API's own objects.

const connectionStates = "pending_enrollment: no agent has enrolled yet; online; offline: the agent has no tunnel " +
	"(announced after a grace period); reauth_required: the plant database refused the agent's login; degraded: " +
	"the agent is connected but cannot read the database, or its buffer is full."

func connectionSchema() *Schema {
	return object("A plant connected, or to be connected, through an agent.",
		req("id", str("The connection's id (conn_…).")),
		req("name", str("A name for people.")),
		req("system", enum("The maintenance system, which picks the mapping profile.", profiles.Systems()...)),
		req("settings", ref("ConnectionSettings")),
		req("agent_id", str("The id the connection's agent authenticates with (agt_…).")),
		req("agent_enrolled_at", nullable(dateTime("When an agent enrolled with a token of this connection; null before."))),
		req("created_at", dateTime("")),
		req("updated_at", dateTime("")))
}

func addAPISchemas(s *Ordered[*Schema]) {
	settings := object("Settings of the connection. Members other than these are kept for your own use.",
		opt("passthrough_enabled", boolean("Allow read-only SQL through /passthrough (plant IT must enable it on the agent too). Default false.")),
		opt("field_mappings", described(ref("MappingOverrides"), "The mapping changes the agent last accepted; "+
			"read-only here, changed through /field-mappings and /custom-models.")))
	settings.AdditionalProperties = true
	s.Set("ConnectionSettings", settings)
	settingsIn := object("Settings of the connection. Members other than these are kept for your own use.",
		opt("passthrough_enabled", boolean("Allow read-only SQL through /passthrough (plant IT must enable it on the agent too). Default false.")))
	settingsIn.AdditionalProperties = true
	s.Set("ConnectionSettingsInput", settingsIn)
	s.Set("Connection", connectionSchema())
	s.Set("ConnectionList", object("A page of connections.",
		req("next", nullable(str("Cursor of the next page; null on the last page."))),
		req("results", array("", ref("Connection")))))
	create := object("A new connection.",
		req("name", &Schema{Type: "string", MinLength: intPtr(1), MaxLength: intPtr(200), Description: "A name for people."}),
		req("system", enum("The maintenance system.", profiles.Systems()...)),
		opt("settings", ref("ConnectionSettingsInput")))
	create.AdditionalProperties = false
	s.Set("ConnectionCreate", create)
	update := object("Changes to a connection; members left out stay as they are.",
		opt("name", &Schema{Type: "string", MinLength: intPtr(1), MaxLength: intPtr(200)}),
		opt("settings", described(ref("ConnectionSettingsInput"), "Replaces the settings (the mapping changes are kept).")))
	update.AdditionalProperties = false
	s.Set("ConnectionUpdate", update)
	s.Set("Enrollment", object("A one-time enrollment token for the connection's agent. Shown once.",
		req("token", str("The token (pb_enroll_…); it works once, until expires_at.")),
		req("expires_at", dateTime("")),
		req("command", str("What plant IT runs on the agent's machine to enroll it."))))
	s.Set("ConnectionCreated", with(connectionSchema(), "The new connection, with the enrollment token for its agent.",
		req("enrollment", ref("Enrollment"))))

	s.Set("ConnectionStatus", object("The connection's state, its agent, its plant database, the agent's buffer, "+
		"and the relay's circuit breaker for calls to the agent.",
		req("connection_id", str("")),
		req("state", enum(connectionStates, "pending_enrollment", "online", "offline", "reauth_required", "degraded")),
		opt("reason", str("Why the state is not online, in plain words.")),
		req("agent", nullable(ref("AgentStatus"))),
		req("database", ref("DatabaseStatus")),
		req("buffer", ref("BufferStatus")),
		req("circuit", enum("closed: calls go to the agent; open: they fail at once for a few seconds after "+
			"repeated failures; half_open: one call tests the agent.", "closed", "open", "half_open"))))
	s.Set("AgentStatus", object("The connection's agent; null before enrollment.",
		req("id", str("")),
		req("connected", boolean("The agent has a tunnel to this relay now.")),
		opt("version", str("")),
		opt("hostname", str("")),
		opt("os", str("")),
		req("connected_since", nullable(dateTime("Start of the current tunnel."))),
		req("last_seen_at", nullable(dateTime("Last sign of life: a keepalive answer, or the end of the last tunnel."))),
		req("rtt_ms", nullable(number("Round trip of the last keepalive, in milliseconds.")))))
	s.Set("DatabaseStatus", object("The plant database as the agent last found it.",
		req("state", enum("unknown until the agent reports.", "unknown", "reachable", "unreachable", "auth_failed", "permission_denied", "busy")),
		opt("table", str("The table a permission_denied is about.")),
		req("last_error", nullable(ref("AgentError"))),
		req("checked_at", nullable(dateTime("")))))
	s.Set("AgentError", object("An error the agent reported.",
		req("code", str("An error code, such as SOURCE_ERROR or REAUTH_REQUIRED.")),
		req("message", str("")),
		opt("fields", array("", ref("FieldError")))))
	s.Set("BufferStatus", object("The agent's outbox of batches not yet taken by the relay.",
		req("batches", integer("")),
		req("bytes", integer("")),
		req("max_bytes", integer("The outbox's size limit.")),
		req("full", boolean("Reading is paused until the relay takes batches again."))))

	s.Set("SyncStatusList", object("The sync state of every model of the connection.",
		req("connection_id", str("")),
		req("results", array("One per model, by name; models the agent has not reported on are pending.", ref("SyncStatus")))))
	s.Set("SyncStatus", object("The sync state of one model.",
		req("model", str("A unified or custom model.")),
		req("status", enum("pending: not reported by the agent yet.", "pending", "syncing", "done", "failed", "paused")),
		req("last_sync_start", nullable(dateTime(""))),
		req("last_sync_finished", nullable(dateTime(""))),
		req("last_successful_sync_at", nullable(dateTime(""))),
		req("next_sync_start", nullable(dateTime(""))),
		req("is_initial_sync", boolean("The model has not finished a first sync yet.")),
		req("records_synced", integer("Records read by the last (or current) run.")),
		req("error", nullable(ref("SyncError"))),
		opt("progress", ref("SyncProgress")),
		req("updated_at", nullable(dateTime("When the agent last reported on the model."))),
	))
	s.Set("SyncError", object("Why a sync or job failed.", req("code", str("")), req("message", str(""))))
	s.Set("SyncProgress", object("Progress of a running sync, from the agent's last report.",
		req("rows_read", integer("")), req("batches_buffered", integer("")), req("rows_per_second", number(""))))
	syncReq := object("A manual sync.",
		opt("models", array("Models to sync; none means all.", &Schema{Type: "string"})),
		opt("full", boolean("A full re-sync: read everything in the history window, and mark records the source no longer has as deleted. Default false.")))
	syncReq.AdditionalProperties = false
	s.Set("SyncRequest", syncReq)
	s.Set("SyncAccepted", object("The agent took the sync request.",
		req("connection_id", str("")),
		req("models", nullable(array("The models the agent syncs; null for all.", &Schema{Type: "string"}))),
		req("full", boolean("")),
		req("status", constant("", "accepted"))))

	s.Set("ConnectionEventList", object("A page of connection events, newest first.",
		req("next", nullable(str("Cursor of the next page; null on the last page."))),
		req("results", array("", ref("ConnectionEvent")))))
	s.Set("ConnectionEvent", object("A tunnel event of the connection's agent, for diagnosing connectivity.",
		req("id", integer("")),
		req("kind", enum("", "connect", "disconnect", "reconnect_attempt", "connect_failed", "auth_failed")),
		req("agent_id", str("")),
		opt("remote_addr", str("The agent's address as the relay saw it.")),
		opt("rtt_ms", number("")),
		opt("reason", str("Why a tunnel ended: agent_closed, keepalive_timeout, relay_drain, replaced, auth_failed, revoked.")),
		opt("detail", str("")),
		req("at", dateTime(""))))

	s.Set("Job", jobSchema())
	s.Set("JobWithResults", with(jobSchema(), "An async job with a page of its per-record results.",
		req("results", object("A page of the job's results, in input order.",
			req("next", nullable(str("Cursor of the next page of results; null on the last page."))),
			req("results", array("", ref("JobResult")))))))
	s.Set("JobResult", writeResult("The result of one write of a job.", ref("Record")))
	s.Set("BatchSummary", object("Counts of a batch's results.",
		req("total", integer("")), req("succeeded", integer("")), req("failed", integer(""))))

	s.Set("RemoteSchema", object("The tables and columns the agent discovered in the plant database.",
		req("dialect", enum("", "sqlserver", "oracle", "postgres", "sqlite")),
		opt("schema", str("The database schema or owner that was read.")),
		req("tables", nullable(array("In name order.", ref("RemoteTable"))))))
	s.Set("RemoteTable", object("A table or view.",
		req("name", str("")),
		opt("view", boolean("")),
		req("columns", nullable(array("", ref("RemoteColumn")))),
		opt("indexes", array("Unique indexes count as keys too: Maximo declares them instead of primary keys.", ref("RemoteIndex")))))
	s.Set("RemoteColumn", object("A column.",
		req("name", str("")),
		req("type", str("The database's type name.")),
		req("kind", enum("How the agent reads it.", "string", "int", "decimal", "float", "bool", "time", "timetz", "date", "binary", "rowversion", "dats")),
		req("nullable", boolean("")),
		opt("padded", boolean("A fixed-width character column (CHAR(n)): the agent trims the blanks that pad its values."))))
	s.Set("RemoteIndex", object("An index.",
		req("name", str("")),
		req("unique", boolean("")),
		opt("primary", boolean("")),
		req("columns", nullable(array("", &Schema{Type: "string"})))))
	pt := object("One read-only SQL statement, with parameters bound by the database.",
		req("sql", &Schema{Type: "string", MinLength: intPtr(1), Description: "A single SELECT (or WITH … SELECT)."}),
		opt("params", array("Values of the statement's placeholders, in order.", anyValue(""))),
		opt("max_rows", bounded(integer("Rows returned at most. Default 100."), 0, 10000)),
		opt("timeout_ms", bounded(integer("Time the statement may run, in milliseconds. Default 10000."), 0, 60000)))
	pt.AdditionalProperties = false
	s.Set("PassthroughRequest", pt)
	s.Set("PassthroughResult", object("The statement's rows.",
		req("columns", nullable(array("", &Schema{Type: "string"}))),
		req("rows", nullable(array("", array("One row, a value per column.", anyValue(""))))),
		req("truncated", boolean("More rows than max_rows matched."))))

	enroll := object("An enrollment.",
		req("token", str("The enrollment token of the connection.")),
		opt("hostname", str("")), opt("version", str("")), opt("os", str("")))
	enroll.AdditionalProperties = false
	s.Set("EnrollRequest", enroll)
	s.Set("EnrollResponse", object("The agent's credential, shown once.",
		req("agent_id", str("")), req("connection_id", str("")), req("secret", str("The agent's secret for the tunnel."))))
	s.Set("Health", object("", req("status", constant("", "ok")), req("version", str("The relay's version."))))
	s.Set("Readiness", object("",
		req("status", enum("", "ready", "unavailable")),
		req("store", enum("", "ok", "unreachable"))))
}

func jobSchema() *Schema {
	return object("An async write job.",
		req("id", str("The job's id (job_…).")),
		req("object", constant("", "job")),
		req("connection_id", str("")),
		req("model", str("")),
		req("status", enum("", "queued", "running", "completed", "failed")),
		req("total", integer("Writes in the job.")),
		req("processed", integer("Writes done so far.")),
		req("succeeded", integer("")),
		req("failed", integer("")),
		req("error", nullable(ref("SyncError"))),
		req("created_at", dateTime("")),
		req("started_at", nullable(dateTime(""))),
		req("finished_at", nullable(dateTime(""))))
}

// addPaths adds every route of the relay.
func (d *document) addPaths() {
	d.add(op{method: "POST", path: "/v1/connections", id: "createConnection", tag: "Connections",
		summary: "Create a connection",
		desc:    "Answers with a one-time enrollment token; plant IT runs the command it comes with on the agent's machine.",
		body:    ref("ConnectionCreate"),
		ok:      []okResp{{201, "The connection and its enrollment token.", ref("ConnectionCreated")}}})
	d.add(op{method: "GET", path: "/v1/connections", id: "listConnections", tag: "Connections",
		summary: "List connections", query: []string{"Cursor", "PageSize"},
		ok: []okResp{{200, "A page of connections.", ref("ConnectionList")}}})
	d.add(op{method: "GET", path: "/v1/connections/{id}", id: "getConnection", tag: "Connections",
		summary: "Get a connection", ok: []okResp{{200, "The connection.", ref("Connection")}}})
	d.add(op{method: "PATCH", path: "/v1/connections/{id}", id: "updateConnection", tag: "Connections",
		summary: "Change a connection's name or settings", body: ref("ConnectionUpdate"),
		ok: []okResp{{200, "The connection.", ref("Connection")}}})
	d.add(op{method: "DELETE", path: "/v1/connections/{id}", id: "deleteConnection", tag: "Connections",
		summary: "Delete a connection", desc: "Revokes its agent's credential and closes its tunnel.",
		ok: []okResp{{204, "Deleted.", nil}}})
	d.add(op{method: "POST", path: "/v1/connections/{id}/enrollment-tokens", id: "createEnrollmentToken", tag: "Connections",
		summary: "Create another enrollment token",
		desc:    "For a token that expired, or to move the connection to another machine: enrolling replaces the agent's credential.",
		ok:      []okResp{{201, "The enrollment token.", ref("Enrollment")}}})
	d.add(op{method: "GET", path: "/v1/connections/{id}/status", id: "getConnectionStatus", tag: "Connections",
		summary: "Get a connection's state",
		ok:      []okResp{{200, "The state of the connection, its agent and its plant database.", ref("ConnectionStatus")}}})
	d.add(op{method: "GET", path: "/v1/connections/{id}/events", id: "listConnectionEvents", tag: "Connections",
		summary: "List a connection's tunnel events", query: []string{"Cursor", "PageSize"},
		ok: []okResp{{200, "A page of events.", ref("ConnectionEventList")}}})
	d.add(op{method: "GET", path: "/v1/connections/{id}/sync-status", id: "getSyncStatus", tag: "Sync",
		summary: "Get the sync state of every model",
		ok:      []okResp{{200, "The sync state per model.", ref("SyncStatusList")}}})
	d.add(op{method: "POST", path: "/v1/connections/{id}/syncs", id: "triggerSync", tag: "Sync",
		summary: "Start a sync now", desc: "Runs the models' incremental sync (or a full re-sync) at once.",
		body: ref("SyncRequest"), agent: true,
		ok: []okResp{{202, "The agent started the sync.", ref("SyncAccepted")}}})

	d.add(op{method: "GET", path: "/v1/connections/{id}/remote-schema", id: "getRemoteSchema", tag: "Plant database",
		summary: "Get the plant database's schema", agent: true,
		ok: []okResp{{200, "The tables and columns the agent discovered.", ref("RemoteSchema")}}})
	d.add(op{method: "POST", path: "/v1/connections/{id}/passthrough", id: "passthrough", tag: "Plant database",
		summary: "Run a read-only SQL statement",
		desc: "Off unless settings.passthrough_enabled is true on the connection and plant IT enabled it on the agent. " +
			"The statement runs read-only, with its parameters bound, a row limit and a time limit.",
		body: ref("PassthroughRequest"), agent: true, errors: []int{403},
		ok: []okResp{{200, "The rows.", ref("PassthroughResult")}}})

	d.add(op{method: "GET", path: "/v1/connections/{id}/field-mappings", id: "getFieldMappings", tag: "Mappings",
		summary: "Get the connection's mapping changes",
		desc:    "From the agent when it is online, else the relay's copy of what the agent last accepted.",
		errors:  []int{502, 503},
		ok:      []okResp{{200, "The mapping changes.", ref("MappingOverrides")}}})
	d.add(op{method: "PUT", path: "/v1/connections/{id}/field-mappings", id: "putFieldMappings", tag: "Mappings",
		summary: "Replace the connection's mapping changes",
		desc: "The agent checks the document against the profile and the plant's schema and applies it at once; " +
			"its objections are a VALIDATION_FAILED error.",
		body: ref("MappingOverrides"), agent: true,
		ok: []okResp{{200, "The mapping changes the agent accepted.", ref("MappingOverrides")}}})
	d.add(op{method: "GET", path: "/v1/connections/{id}/field-mappings/{model}", id: "getModelMapping", tag: "Mappings",
		summary: "Get the mapping changes of one model", errors: []int{502, 503},
		ok: []okResp{{200, "The model's mapping changes.", ref("MappingModelOverride")}}})
	d.add(op{method: "PUT", path: "/v1/connections/{id}/field-mappings/{model}", id: "putModelMapping", tag: "Mappings",
		summary: "Replace the mapping changes of one model", body: ref("MappingModelOverride"), agent: true,
		ok: []okResp{{200, "The model's mapping changes as the agent accepted them.", ref("MappingModelOverride")}}})
	d.add(op{method: "PUT", path: "/v1/connections/{id}/custom-models/{name}", id: "putCustomModel", tag: "Custom models",
		summary: "Define a custom model",
		desc:    "A table, its key, a watermark and typed fields; its records are served under /custom/{name} after the next sync.",
		body:    ref("MappingModel"), agent: true,
		ok: []okResp{{200, "The custom model as the agent accepted it.", ref("MappingModel")}}})
	d.add(op{method: "DELETE", path: "/v1/connections/{id}/custom-models/{name}", id: "deleteCustomModel", tag: "Custom models",
		summary: "Remove a custom model", agent: true,
		ok: []okResp{{204, "Removed.", nil}}})

	d.addRecordPaths()

	d.add(op{method: "GET", path: "/v1/jobs/{job_id}", id: "getJob", tag: "Jobs",
		summary: "Get an async job and its results", query: []string{"Cursor", "PageSize"},
		ok: []okResp{{200, "The job with a page of its results.", ref("JobWithResults")}}})

	d.addWebhookPaths()

	d.addAgentPaths()
	d.addOperationsPaths()
}

func (d *document) addAgentPaths() {
	d.add(op{method: "POST", path: "/v1/agents/enroll", id: "enrollAgent", tag: "Agents", public: true,
		summary: "Exchange an enrollment token for the agent's credential",
		desc:    "plantbridge-agent enroll calls this. Each token works once.",
		body:    ref("EnrollRequest"), errors: []int{401, 409, 500},
		ok: []okResp{{200, "The agent's credential.", ref("EnrollResponse")}}})
	text := map[string]*mediaType{"text/plain": {Schema: str("")}}
	d.set("GET", "/v1/tunnel", &operation{OperationID: "openTunnel", Tags: []string{"Agents"},
		Summary: "Open the agent's tunnel",
		Description: "A websocket upgrade that plantbridge-agent makes with its credential and the headers " +
			"X-Plantbridge-Agent-Id, X-Plantbridge-Agent-Version, X-Plantbridge-Hostname and X-Plantbridge-Os; " +
			"the connection then carries yamux streams of HTTP exchanges both ways.",
		Security: &[]map[string][]string{{"agentCredential": {}}},
		Responses: orderedOf[*response](
			"101", &response{Description: "Switching to the websocket protocol."},
			"400", &response{Description: "The hello headers are invalid.", Content: text},
			"401", &response{Description: "No credential, or one the relay does not accept.", Content: text},
			"426", &response{Description: "The request is not a websocket upgrade.", Content: text},
			"503", &response{Description: "The relay is draining or cannot check credentials now; retry after Retry-After.", Content: text},
		)})
}

func (d *document) addOperationsPaths() {
	public := &[]map[string][]string{}
	d.set("GET", "/healthz", &operation{OperationID: "health", Tags: []string{"Operations"}, Security: public,
		Summary: "Liveness: the relay process serves requests",
		Responses: orderedOf[*response]("200", &response{Description: "Alive.",
			Content: map[string]*mediaType{"application/json": {Schema: ref("Health")}}})})
	d.set("GET", "/readyz", &operation{OperationID: "ready", Tags: []string{"Operations"}, Security: public,
		Summary: "Readiness: the relay can reach its store",
		Responses: orderedOf[*response](
			"200", &response{Description: "Ready.", Content: map[string]*mediaType{"application/json": {Schema: ref("Readiness")}}},
			"503", &response{Description: "The store cannot be reached.", Content: map[string]*mediaType{"application/json": {Schema: ref("Readiness")}}},
		)})
	d.set("GET", "/metrics", &operation{OperationID: "metrics", Tags: []string{"Operations"}, Security: public,
		Summary: "Prometheus metrics",
		Description: "Requests by route and status, connected agents, tunnel round trips, sync ingest, webhook " +
			"deliveries, and the Go runtime. Not authenticated: do not expose it publicly.",
		Responses: orderedOf[*response]("200", &response{Description: "The metrics, in the Prometheus text format (or OpenMetrics when asked for).",
			Content: map[string]*mediaType{"text/plain": {Schema: str("")}, "application/openmetrics-text": {Schema: str("")}}})})
	d.set("GET", "/openapi.json", &operation{OperationID: "openapi", Tags: []string{"Operations"}, Security: public,
		Summary: "This document",
		Responses: orderedOf[*response]("200", &response{Description: "The OpenAPI 3.1 document of the relay.",
			Content: map[string]*mediaType{"application/json": {Schema: &Schema{Type: "object"}}}})})
}

func orderedOf[V any](kv ...any) *Ordered[V] {
	o := &Ordered[V]{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1].(V))
	}
	return o
}
