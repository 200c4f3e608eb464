package openapi

import (
	"reflect"

	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/relay/webhooks"
)

// addMappingSchemas adds the mapping documents of /field-mappings and /custom-models,
// derived from the Go types that define the format (connectors/profiles).
func addMappingSchemas(s *Ordered[*Schema]) {
	g := &goSchemas{prefix: "Mapping", components: s, names: map[reflect.Type]string{}}
	g.of(reflect.TypeFor[profiles.Overrides]())
	for name, desc := range map[string]string{
		"MappingOverrides": "A connection's changes to its system's mapping profile: remapped fields, custom fields, " +
			"custom models and profile parameters. The format is the profiles' YAML format in JSON " +
			"(connectors/profiles/README.md); every table and column is checked against the plant's schema.",
		"MappingModelOverride": "Changes to one model: a whole new source, remapped unified fields, added custom fields.",
		"MappingModel":         "Where a model's records come from: a table, its key, how changes are found, and the field mappings.",
		"MappingField":         "The source of one field: exactly one of column, coalesce, concat, const, ref, ref_list, status_set.",
	} {
		sc, _ := s.Get(name)
		sc.Description = desc
	}
}

// Webhooks.

func addWebhookSchemas(s *Ordered[*Schema]) {
	names := webhooks.EventTypeNames()
	s.Set("WebhookEndpoint", object("An endpoint that receives webhook events.",
		req("id", str("The endpoint's id (ep_…).")),
		req("url", str("Where events are POSTed.")),
		req("description", str("")),
		req("event_types", array("Event types sent; empty for all.", enum("", names...))),
		req("connection_ids", array("Connections whose events are sent; empty for all (and for events about the account).", &Schema{Type: "string"})),
		req("enabled", boolean("Disabled endpoints receive nothing; their deliveries wait. An endpoint failing for the whole retry window is disabled.")),
		req("health", ref("WebhookEndpointHealth")),
		opt("secret", str("The signing secret (whsec_…): only in the answers of create and rotate-secret.")),
		req("previous_secret_expires_at", nullable(dateTime("During a rotation's overlap, until when the old secret signs too."))),
		req("created_at", dateTime("")),
		req("updated_at", dateTime(""))))
	s.Set("WebhookEndpointHealth", object("How deliveries to the endpoint have been going.",
		req("last_success_at", nullable(dateTime(""))),
		req("last_failure_at", nullable(dateTime(""))),
		req("failing_since", nullable(dateTime("Start of the current run of failures."))),
		req("consecutive_failures", integer("")),
		opt("disabled_reason", str("")),
		req("disabled_at", nullable(dateTime("")))))
	s.Set("WebhookEndpointList", object("A page of webhook endpoints.",
		req("results", array("", ref("WebhookEndpoint"))),
		req("next", nullable(str("Cursor of the next page; null on the last page.")))))
	create := object("A new webhook endpoint.",
		req("url", str("https URL to POST events to (http, and private or loopback addresses, only when the relay's configuration allows them). Redirects are not followed.")),
		opt("description", str("")),
		opt("event_types", array("Event types to send; none for all.", enum("", names...))),
		opt("connection_ids", array("Connections whose events to send; none for all.", &Schema{Type: "string"})),
		opt("enabled", boolean("Default true.")))
	create.AdditionalProperties = false
	s.Set("WebhookEndpointCreate", create)
	update := object("Changes to a webhook endpoint; members left out stay as they are.",
		opt("url", str("")),
		opt("description", str("")),
		opt("event_types", array("", enum("", names...))),
		opt("connection_ids", array("", &Schema{Type: "string"})),
		opt("enabled", boolean("Enabling sends the deliveries that waited.")))
	update.AdditionalProperties = false
	s.Set("WebhookEndpointUpdate", update)
	rotate := object("A secret rotation.",
		opt("overlap_seconds", bounded(integer("How long the old secret keeps signing, besides the new one. Default 86400."),
			0, webhooks.MaxRotationOverlap.Seconds())))
	rotate.AdditionalProperties = false
	s.Set("WebhookRotateSecret", rotate)
	test := object("A test send.", opt("event_type", enum("The sample event to send. Default sync.completed.", names...)))
	test.AdditionalProperties = false
	s.Set("WebhookTestRequest", test)
	s.Set("WebhookTestResult", object("The queued sample event; its attempts show in the delivery log.",
		req("event_id", str("")),
		req("event_type", enum("", names...)),
		req("status", constant("", "queued")),
		req("payload", described(ref("WebhookMessage"), "The body the endpoint receives."))))
	s.Set("WebhookEventTypeList", object("The event types.",
		req("results", array("", object("An event type.",
			req("type", enum("", names...)),
			req("description", str("")),
			req("example", openObject("Sample data, as the test send uses it."))))),
		req("next", nullable(str("Always null.")))))
	s.Set("WebhookAttempt", object("One delivery attempt.",
		req("id", integer("")),
		req("delivery_id", integer("The delivery (event and endpoint) the attempt belongs to.")),
		req("event_id", str("The event's id, also the webhook-id header.")),
		req("event_type", enum("", names...)),
		req("attempt", integer("Number of the attempt of its delivery, from 1.")),
		req("at", dateTime("")),
		req("status_code", nullable(integer("The endpoint's status; null when no answer came."))),
		req("duration_ms", integer("")),
		req("succeeded", boolean("")),
		opt("error", str("Why the attempt failed, with an excerpt of the answer.")),
		req("next_retry_at", nullable(dateTime("When the delivery is tried again; null after a success or the last attempt.")))))
	s.Set("WebhookAttemptList", object("A page of the delivery log, newest first.",
		req("results", array("", ref("WebhookAttempt"))),
		req("next", nullable(str("Cursor of the next page; null on the last page.")))))

	// The events' data are derived from the Go types that the webhooks package sends.
	g := &goSchemas{prefix: "Webhook", components: s, names: map[reflect.Type]string{}, required: true}
	for _, t := range webhooks.EventTypes() {
		data := g.of(reflect.TypeOf(t.Data))
		sc, _ := s.Get(data.Ref[len("#/components/schemas/"):])
		sc.Description = "The data of " + t.Type + ": " + t.Description
		sc.Examples = []any{t.Example}
	}
	s.Set("WebhookMessage", message("The body of every webhook request (DESIGN.md §7).", enum("", names...), openObject("Depends on the type.")))
}

// message is the body of a webhook request of a type.
func message(desc string, typ, data *Schema) *Schema {
	return object(desc,
		req("id", str("The event's id, also the webhook-id header: the same on every retry, so that receivers can drop duplicates.")),
		req("type", typ),
		req("timestamp", dateTime("When the event happened.")),
		req("connection_id", nullable(str("The connection the event is about; null for events about the account."))),
		req("data", data))
}

func (d *document) addWebhookPaths() {
	d.add(op{method: "POST", path: "/v1/webhooks", id: "createWebhookEndpoint", tag: "Webhooks",
		summary: "Subscribe an endpoint to events",
		desc:    "Answers with the endpoint's signing secret, shown this once.",
		body:    ref("WebhookEndpointCreate"),
		ok:      []okResp{{201, "The endpoint with its secret.", ref("WebhookEndpoint")}}})
	d.add(op{method: "GET", path: "/v1/webhooks", id: "listWebhookEndpoints", tag: "Webhooks",
		summary: "List webhook endpoints", query: []string{"Cursor", "PageSize"},
		ok: []okResp{{200, "A page of endpoints.", ref("WebhookEndpointList")}}})
	d.add(op{method: "GET", path: "/v1/webhooks/event-types", id: "listWebhookEventTypes", tag: "Webhooks",
		summary: "List the event types",
		ok:      []okResp{{200, "The event types with sample data.", ref("WebhookEventTypeList")}}})
	d.add(op{method: "GET", path: "/v1/webhooks/{id}", id: "getWebhookEndpoint", tag: "Webhooks",
		summary: "Get a webhook endpoint and its delivery health",
		ok:      []okResp{{200, "The endpoint.", ref("WebhookEndpoint")}}})
	d.add(op{method: "PATCH", path: "/v1/webhooks/{id}", id: "updateWebhookEndpoint", tag: "Webhooks",
		summary: "Change a webhook endpoint", body: ref("WebhookEndpointUpdate"),
		ok: []okResp{{200, "The endpoint.", ref("WebhookEndpoint")}}})
	d.add(op{method: "DELETE", path: "/v1/webhooks/{id}", id: "deleteWebhookEndpoint", tag: "Webhooks",
		summary: "Delete a webhook endpoint", desc: "With its queued deliveries and its delivery log.",
		ok: []okResp{{204, "Deleted.", nil}}})
	d.add(op{method: "POST", path: "/v1/webhooks/{id}/rotate-secret", id: "rotateWebhookSecret", tag: "Webhooks",
		summary: "Rotate an endpoint's signing secret",
		desc: "During the overlap every request carries a signature with the new secret and one with the old, " +
			"so that the receiver can switch at any moment.",
		body: ref("WebhookRotateSecret"), bodyOptional: true,
		ok: []okResp{{200, "The endpoint with its new secret.", ref("WebhookEndpoint")}}})
	d.add(op{method: "POST", path: "/v1/webhooks/{id}/test", id: "testWebhookEndpoint", tag: "Webhooks",
		summary: "Send a sample event",
		desc: "Queues a sample event of the chosen type for this endpoint only, whatever it subscribes to, " +
			"signed and logged like real events.",
		body: ref("WebhookTestRequest"), bodyOptional: true, errors: []int{409},
		ok: []okResp{{202, "The queued event.", ref("WebhookTestResult")}}})
	d.add(op{method: "GET", path: "/v1/webhooks/{id}/deliveries", id: "listWebhookDeliveries", tag: "Webhooks",
		summary: "List an endpoint's delivery attempts", query: []string{"Cursor", "PageSize"},
		ok: []okResp{{200, "A page of the delivery log.", ref("WebhookAttemptList")}}})
}

// addWebhooks describes the requests the relay sends to webhook endpoints.
func (d *document) addWebhooks() {
	hdr := func(name, desc string) *parameter {
		return &parameter{Name: name, In: "header", Required: true, Schema: str(""), Description: desc}
	}
	params := []*parameter{
		hdr(webhooks.HeaderID, "The event's id: the same on every retry of the event."),
		hdr(webhooks.HeaderTimestamp, "Unix seconds when the request was signed; reject stale ones."),
		hdr(webhooks.HeaderSignature, "Space-separated signatures v1,<base64 HMAC-SHA256 of id.timestamp.body> "+
			"with the base64-decoded part of the secret after whsec_; several during a secret rotation. "+
			"Verify with any Standard Webhooks library."),
	}
	for _, t := range webhooks.EventTypes() {
		dataName := "Webhook" + reflect.TypeOf(t.Data).Name()
		body := message("The "+t.Type+" event.", constant("", t.Type), ref(dataName))
		d.Webhooks.Set(t.Type, orderedOf[*operation]("post", &operation{
			OperationID: "webhook_" + t.Type, Tags: []string{"Webhooks"},
			Summary:     t.Description,
			Description: "Signed per the Standard Webhooks specification.",
			Parameters:  params,
			RequestBody: &requestBody{Required: true, Content: map[string]*mediaType{"application/json": {Schema: body}}},
			Responses: orderedOf[*response](
				"2XX", &response{Description: "Any 2xx acknowledges the event. Anything else, a redirect, or no answer " +
					"within 10 s is retried with exponential backoff for about 24 hours, with the same webhook-id."}),
		}))
	}
}
