package webhooks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/relay/api"
	"github.com/plantbridge/plantbridge/relay/store"
)

// API serves /v1/webhooks (DESIGN.md §6). Its handlers expect the relay's
// authentication to have put the caller in the request context
// (api.WithPrincipal); another account's endpoint is 404.
type API struct {
	svc *Service
	st  store.Store
	log *slog.Logger
}

// NewAPI returns the webhook API of svc; log receives request errors.
func NewAPI(svc *Service, log *slog.Logger) *API {
	if log == nil {
		log = svc.log
	}
	return &API{svc: svc, st: svc.st, log: log}
}

// DefaultRotationOverlap is how long the old secret keeps signing after a
// rotation when the request names no overlap.
const DefaultRotationOverlap = 24 * time.Hour

// MaxRotationOverlap bounds the overlap of a rotation.
const MaxRotationOverlap = 7 * 24 * time.Hour

// bodyLimit bounds the request bodies of the webhook API.
const bodyLimit = 64 << 10

// Register mounts the handlers on mux:
//
//	POST   /v1/webhooks                        create; the answer holds the secret, once
//	GET    /v1/webhooks                        list (cursor, page_size)
//	GET    /v1/webhooks/event-types            the event types with example data
//	GET    /v1/webhooks/{id}                   one endpoint with its delivery health
//	PATCH  /v1/webhooks/{id}                   change url, description, event_types, connection_ids, enabled
//	DELETE /v1/webhooks/{id}                   delete with its queue and log
//	POST   /v1/webhooks/{id}/rotate-secret     new secret, once; the old one signs for overlap_seconds more
//	POST   /v1/webhooks/{id}/test              queue a sample event: 202 with its id
//	GET    /v1/webhooks/{id}/deliveries        the attempt log, newest first (cursor, page_size)
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/webhooks", a.create)
	mux.HandleFunc("GET /v1/webhooks", a.list)
	mux.HandleFunc("GET /v1/webhooks/event-types", a.eventTypes)
	mux.HandleFunc("GET /v1/webhooks/{id}", a.get)
	mux.HandleFunc("PATCH /v1/webhooks/{id}", a.update)
	mux.HandleFunc("DELETE /v1/webhooks/{id}", a.delete)
	mux.HandleFunc("POST /v1/webhooks/{id}/rotate-secret", a.rotate)
	mux.HandleFunc("POST /v1/webhooks/{id}/test", a.test)
	mux.HandleFunc("GET /v1/webhooks/{id}/deliveries", a.deliveries)
}

// EndpointJSON is an endpoint as the API shows it.
type EndpointJSON struct {
	ID          string `json:"id"`
	URL         string `json:"url"`
	Description string `json:"description"`
	// EventTypes and ConnectionIDs are empty for all.
	EventTypes    []string   `json:"event_types"`
	ConnectionIDs []string   `json:"connection_ids"`
	Enabled       bool       `json:"enabled"`
	Health        HealthJSON `json:"health"`
	// Secret is shown by create and rotate-secret only.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt is set during a rotation's overlap: until
	// then requests carry a signature with the old secret too.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// HealthJSON is an endpoint's delivery health, for the dashboard.
type HealthJSON struct {
	LastSuccessAt       *time.Time `json:"last_success_at"`
	LastFailureAt       *time.Time `json:"last_failure_at"`
	FailingSince        *time.Time `json:"failing_since"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	DisabledReason      string     `json:"disabled_reason,omitempty"`
	DisabledAt          *time.Time `json:"disabled_at"`
}

func endpointJSON(e store.WebhookEndpoint, withSecret bool) EndpointJSON {
	out := EndpointJSON{ID: e.ID, URL: e.URL, Description: e.Description, EventTypes: e.EventTypes,
		ConnectionIDs: e.ConnectionIDs, Enabled: e.Enabled, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		Health: HealthJSON{LastSuccessAt: e.Health.LastSuccessAt, LastFailureAt: e.Health.LastFailureAt,
			FailingSince: e.Health.FailingSince, ConsecutiveFailures: e.Health.ConsecutiveFailures,
			DisabledReason: e.Health.DisabledReason, DisabledAt: e.Health.DisabledAt}}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if out.ConnectionIDs == nil {
		out.ConnectionIDs = []string{}
	}
	for _, sec := range e.Secrets {
		if sec.ExpiresAt != nil && (out.PreviousSecretExpiresAt == nil || sec.ExpiresAt.After(*out.PreviousSecretExpiresAt)) {
			out.PreviousSecretExpiresAt = sec.ExpiresAt
		}
	}
	if withSecret && len(e.Secrets) > 0 {
		out.Secret = e.Secrets[0].Secret
	}
	return out
}

// AttemptJSON is one entry of the delivery log.
type AttemptJSON struct {
	ID         int64  `json:"id"`
	DeliveryID int64  `json:"delivery_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	// Attempt counts the delivery's attempts from 1.
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// StatusCode is null when no response came.
	StatusCode *int  `json:"status_code"`
	DurationMS int64 `json:"duration_ms"`
	Succeeded  bool  `json:"succeeded"`
	// Error says why the attempt failed, with an excerpt of the response.
	Error string `json:"error,omitempty"`
	// NextRetryAt is when the delivery is tried again; null after a
	// success or the last attempt.
	NextRetryAt *time.Time `json:"next_retry_at"`
}

// ListJSON is a page of a list.
type ListJSON[T any] struct {
	Results []T `json:"results"`
	// Next is the cursor of the next page; null on the last.
	Next *string `json:"next"`
}

type createRequest struct {
	URL           string   `json:"url"`
	Description   string   `json:"description"`
	EventTypes    []string `json:"event_types"`
	ConnectionIDs []string `json:"connection_ids"`
	Enabled       *bool    `json:"enabled"`
}

type updateRequest struct {
	URL           *string   `json:"url"`
	Description   *string   `json:"description"`
	EventTypes    *[]string `json:"event_types"`
	ConnectionIDs *[]string `json:"connection_ids"`
	Enabled       *bool     `json:"enabled"`
}

type rotateRequest struct {
	// OverlapSeconds is how long the old secret keeps signing; default
	// 86400.
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

type testRequest struct {
	EventType string `json:"event_type"`
}

// TestJSON answers a test send.
type TestJSON struct {
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// Status is "queued": the attempt shows in the delivery log.
	Status string `json:"status"`
	// Payload is the body sent, for comparing with what arrived.
	Payload json.RawMessage `json:"payload"`
}

// EventTypeJSON describes an event type.
type EventTypeJSON struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	Example     any    `json:"example"`
}

func account(r *http.Request) (string, error) {
	p, ok := api.PrincipalFrom(r.Context())
	if !ok {
		return "", api.Errorf(api.CodeAuthenticationFailed, "authentication required (Authorization: Bearer <api key>)")
	}
	return p.Account.ID, nil
}

func notFound(id string) error {
	return api.Errorf(api.CodeNotFound, "webhook endpoint %q not found", id)
}

func fieldError(pointer, format string, args ...any) *api.Error {
	msg := fmt.Sprintf(format, args...)
	return api.Errorf(api.CodeValidationFailed, "%s", msg).
		WithDetails(map[string]any{"fields": []map[string]string{{"pointer": pointer, "message": msg}}})
}

// checkEventTypes refuses unknown event types, listing the valid ones.
func checkEventTypes(pointer string, types []string) error {
	for i, t := range types {
		if !KnownEventType(t) {
			e := fieldError(fmt.Sprintf("%s/%d", pointer, i), "unknown event type %q", t)
			e.Details["valid_event_types"] = EventTypeNames()
			return e
		}
	}
	return nil
}

// checkURL turns a refused URL into a field error.
func (a *API) checkURL(ctx context.Context, raw string) error {
	err := a.svc.CheckURL(ctx, raw)
	if te, ok := targetErrorFrom(err); ok {
		return fieldError("/url", "%s", te.Reason)
	}
	return err
}

// storeError maps store errors of an endpoint call.
func storeError(id string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(id)
	case errors.Is(err, store.ErrInvalid):
		return api.Errorf(api.CodeValidationFailed, "the request is not valid").WithCause(err)
	}
	return err
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	var req createRequest
	if err := api.DecodeJSON(w, r, bodyLimit, &req); err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	if req.URL == "" {
		api.WriteError(w, r, a.log, fieldError("/url", "url is required"))
		return
	}
	if err := a.checkURL(r.Context(), req.URL); err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	if err := checkEventTypes("/event_types", req.EventTypes); err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	e, err := a.st.CreateWebhookEndpoint(r.Context(), acct, store.NewWebhookEndpoint{URL: req.URL,
		Description: req.Description, EventTypes: req.EventTypes, ConnectionIDs: req.ConnectionIDs,
		Disabled: req.Enabled != nil && !*req.Enabled})
	switch {
	case errors.Is(err, store.ErrNotFound):
		// The account exists (it authenticated), so a connection does not.
		err = fieldError("/connection_ids", "a connection id is not one of your connections")
	case errors.Is(err, store.ErrInvalid):
		err = fieldError("/connection_ids", "connection ids must not be empty strings").WithCause(err)
	}
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, endpointJSON(e, true))
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	p, err := page(r, "endpoints")
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	list, next, err := a.st.ListWebhookEndpoints(r.Context(), acct, p)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	out := ListJSON[EndpointJSON]{Results: make([]EndpointJSON, 0, len(list)), Next: nextCursor("endpoints", next)}
	for _, e := range list {
		out.Results = append(out.Results, endpointJSON(e, false))
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (a *API) eventTypes(w http.ResponseWriter, r *http.Request) {
	if _, err := account(r); err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	out := ListJSON[EventTypeJSON]{}
	for _, t := range eventTypes {
		out.Results = append(out.Results, EventTypeJSON{Type: t.Type, Description: t.Description, Example: t.Example})
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	id := r.PathValue("id")
	e, err := a.st.GetWebhookEndpoint(r.Context(), acct, id)
	if err != nil {
		api.WriteError(w, r, a.log, storeError(id, err))
		return
	}
	api.WriteJSON(w, http.StatusOK, endpointJSON(e, false))
}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	id := r.PathValue("id")
	var req updateRequest
	if err := api.DecodeJSON(w, r, bodyLimit, &req); err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	// Looked up first, so that a missing endpoint is 404 before any
	// complaint about the body, and a store ErrNotFound below can only be
	// about a connection.
	if _, err := a.st.GetWebhookEndpoint(r.Context(), acct, id); err != nil {
		api.WriteError(w, r, a.log, storeError(id, err))
		return
	}
	if req.URL != nil {
		if err := a.checkURL(r.Context(), *req.URL); err != nil {
			api.WriteError(w, r, a.log, err)
			return
		}
	}
	if req.EventTypes != nil {
		if err := checkEventTypes("/event_types", *req.EventTypes); err != nil {
			api.WriteError(w, r, a.log, err)
			return
		}
	}
	u := store.WebhookEndpointUpdate{URL: req.URL, Description: req.Description, EventTypes: req.EventTypes,
		ConnectionIDs: req.ConnectionIDs, Enabled: req.Enabled, DisabledReason: "disabled through the API"}
	e, err := a.st.UpdateWebhookEndpoint(r.Context(), acct, id, u)
	switch {
	case errors.Is(err, store.ErrNotFound) && req.ConnectionIDs != nil:
		err = fieldError("/connection_ids", "a connection id is not one of your connections")
	case errors.Is(err, store.ErrInvalid):
		err = fieldError("/connection_ids", "connection ids must not be empty strings").WithCause(err)
	}
	if err != nil {
		api.WriteError(w, r, a.log, storeError(id, err))
		return
	}
	if req.Enabled != nil && *req.Enabled {
		// Deliveries that waited while it was disabled are due.
		a.svc.Wake()
	}
	api.WriteJSON(w, http.StatusOK, endpointJSON(e, false))
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	id := r.PathValue("id")
	if err := a.st.DeleteWebhookEndpoint(r.Context(), acct, id); err != nil {
		api.WriteError(w, r, a.log, storeError(id, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) rotate(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	id := r.PathValue("id")
	var req rotateRequest
	if r.ContentLength != 0 {
		if err := api.DecodeJSON(w, r, bodyLimit, &req); err != nil {
			api.WriteError(w, r, a.log, err)
			return
		}
	}
	overlap := DefaultRotationOverlap
	if req.OverlapSeconds != nil {
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
		if *req.OverlapSeconds < 0 || overlap > MaxRotationOverlap {
			api.WriteError(w, r, a.log, fieldError("/overlap_seconds", "overlap_seconds must be from 0 to %d",
				int64(MaxRotationOverlap/time.Second)))
			return
		}
	}
	e, err := a.st.RotateWebhookSecret(r.Context(), acct, id, overlap)
	if err != nil {
		api.WriteError(w, r, a.log, storeError(id, err))
		return
	}
	api.WriteJSON(w, http.StatusOK, endpointJSON(e, true))
}

func (a *API) test(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	id := r.PathValue("id")
	req := testRequest{EventType: EventSyncCompleted}
	if r.ContentLength != 0 {
		if err := api.DecodeJSON(w, r, bodyLimit, &req); err != nil {
			api.WriteError(w, r, a.log, err)
			return
		}
	}
	if !KnownEventType(req.EventType) {
		e := fieldError("/event_type", "unknown event type %q", req.EventType)
		e.Details["valid_event_types"] = EventTypeNames()
		api.WriteError(w, r, a.log, e)
		return
	}
	ev, err := a.svc.SendTest(r.Context(), acct, id, req.EventType)
	if errors.Is(err, ErrEndpointDisabled) {
		err = api.Errorf(api.CodeConflict, "webhook endpoint %q is disabled; enable it to send a test", id)
	}
	if err != nil {
		api.WriteError(w, r, a.log, storeError(id, err))
		return
	}
	body, err := messageBody(ev)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	api.WriteJSON(w, http.StatusAccepted, TestJSON{EventID: ev.ID, EventType: ev.Type, Status: "queued", Payload: body})
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	acct, err := account(r)
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	id := r.PathValue("id")
	p, err := page(r, "attempts")
	if err != nil {
		api.WriteError(w, r, a.log, err)
		return
	}
	list, next, err := a.st.ListAttempts(r.Context(), acct, id, p)
	if err != nil {
		api.WriteError(w, r, a.log, storeError(id, err))
		return
	}
	out := ListJSON[AttemptJSON]{Results: make([]AttemptJSON, 0, len(list)), Next: nextCursor("attempts", next)}
	for _, at := range list {
		j := AttemptJSON{ID: at.ID, DeliveryID: at.DeliveryID, EventID: at.EventID, EventType: at.EventType,
			Attempt: at.Number, At: at.At, DurationMS: at.Duration.Milliseconds(), Error: at.Error, NextRetryAt: at.NextRetry,
			Succeeded: at.Error == "" && at.StatusCode >= 200 && at.StatusCode < 300}
		if at.StatusCode != 0 {
			j.StatusCode = &at.StatusCode
		}
		out.Results = append(out.Results, j)
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// Cursors are the store's position, tagged with the list they belong to
// and base64url-encoded: opaque to clients, who pass them back unchanged.
// They need no signature: every list is scoped to the caller's account, so
// an edited cursor only moves within the caller's own data.

func nextCursor(list, after string) *string {
	if after == "" {
		return nil
	}
	c := base64.RawURLEncoding.EncodeToString([]byte(list + ":" + after))
	return &c
}

func page(r *http.Request, list string) (store.Page, error) {
	q := r.URL.Query()
	var p store.Page
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageSize {
			return p, api.Errorf(api.CodeInvalidRequest, "page_size must be a whole number from 1 to %d", store.MaxPageSize).
				WithDetails(map[string]any{"parameter": "page_size"})
		}
		p.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		tag, after, ok := strings.Cut(string(b), ":")
		if err != nil || !ok || tag != list || after == "" {
			return p, api.Errorf(api.CodeInvalidRequest, "the cursor is not valid: pass back a next value unchanged").
				WithDetails(map[string]any{"parameter": "cursor"})
		}
		p.After = after
	}
	for k := range q {
		if !slices.Contains([]string{"cursor", "page_size"}, k) {
			return p, api.Errorf(api.CodeInvalidRequest, "unknown query parameter %q", k).
				WithDetails(map[string]any{"parameter": k})
		}
	}
	return p, nil
}
