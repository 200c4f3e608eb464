package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WebhookSecretPrefix starts every signing secret, as the Standard Webhooks
// specification has it.
const WebhookSecretPrefix = "whsec_"

// WebhookEndpoint is a URL that receives an account's events.
type WebhookEndpoint struct {
	ID          string
	AccountID   string
	URL         string
	Description string
	// EventTypes are the subscribed event types; empty means all.
	EventTypes []string
	// ConnectionIDs are the subscribed connections; empty means all.
	ConnectionIDs []string
	Enabled       bool
	// Secrets are the valid signing secrets, newest first. There is more
	// than one during a rotation's overlap; a delivery is signed with each.
	Secrets []WebhookSecret
	// Health is how deliveries to the endpoint have gone.
	Health    WebhookHealth
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WebhookHealth sums up an endpoint's recent deliveries. RecordAttempt keeps
// it current; enabling the endpoint starts it afresh.
type WebhookHealth struct {
	LastSuccessAt *time.Time
	LastFailureAt *time.Time
	// FailingSince is the first failed attempt after the last success; nil
	// while the endpoint is healthy.
	FailingSince *time.Time
	// ConsecutiveFailures counts the failed attempts since the last success.
	ConsecutiveFailures int
	// DisabledReason says why the endpoint is disabled; empty while it is
	// enabled.
	DisabledReason string
	DisabledAt     *time.Time
}

// WebhookSecret is a signing secret.
type WebhookSecret struct {
	Secret    string
	CreatedAt time.Time
	// ExpiresAt is set on a secret retired by a rotation.
	ExpiresAt *time.Time
}

// NewWebhookEndpoint holds an endpoint to create.
type NewWebhookEndpoint struct {
	URL           string
	Description   string
	EventTypes    []string
	ConnectionIDs []string
	// Disabled creates the endpoint disabled.
	Disabled bool
}

// WebhookEndpointUpdate holds the fields to change; nil ones stay as they
// are. A pointer to an empty list subscribes to all.
type WebhookEndpointUpdate struct {
	URL           *string
	Description   *string
	EventTypes    *[]string
	ConnectionIDs *[]string
	// Enabled enables or disables the endpoint. Enabling clears the health's
	// failure streak and disabled reason, so that the endpoint gets a whole
	// retry window again.
	Enabled *bool
	// DisabledReason is recorded when Enabled is set to false.
	DisabledReason string
}

// WebhookEvent is an event to deliver.
type WebhookEvent struct {
	// ID is the message id (msg_…), the webhook-id of every delivery of it.
	ID           string
	AccountID    string
	Type         string
	ConnectionID string
	// Payload is the event's data object.
	Payload   json.RawMessage
	CreatedAt time.Time
}

// NewWebhookEvent holds an event to enqueue.
type NewWebhookEvent struct {
	AccountID    string
	Type         string
	ConnectionID string
	Payload      json.RawMessage
	// EndpointID, when set, sends the event to that endpoint only,
	// regardless of its subscriptions: the endpoint's test button.
	EndpointID string
}

// DeliveryStatus is the state of a delivery.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Delivery is one event queued for one endpoint, as claimed for sending.
type Delivery struct {
	ID         int64
	EndpointID string
	// URL and Secrets are the endpoint's at claim time.
	URL           string
	Secrets       []string
	Event         WebhookEvent
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	LockedUntil   *time.Time
	CreatedAt     time.Time
}

// Attempt is one delivery attempt, as logged.
type Attempt struct {
	// ID, DeliveryID, EndpointID, EventID, EventType and Number are set by
	// the store.
	ID         int64
	DeliveryID int64
	EndpointID string
	EventID    string
	EventType  string
	// Number counts the delivery's attempts from 1.
	Number int
	// At is when the attempt started; the store's clock when zero.
	At time.Time
	// StatusCode is the response status; 0 when there was no response.
	StatusCode int
	Duration   time.Duration
	// Error says what went wrong, if anything; empty on success.
	Error string
	// NextRetry is when to try again; nil after success or the last try.
	NextRetry *time.Time
}

func newWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: webhook url %q: want an absolute http(s) URL", ErrInvalid, raw)
	}
	return nil
}

// stringList encodes a subscription list, sorted and without duplicates so
// that equal subscriptions are stored equally.
func stringList(l []string) (string, error) {
	out := make([]string, 0, len(l))
	for _, v := range l {
		v = strings.TrimSpace(v)
		if v == "" {
			return "", fmt.Errorf("%w: empty entry in a subscription list", ErrInvalid)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	b, _ := json.Marshal(slices.Compact(out))
	return string(b), nil
}

// checkConnections verifies that every id is one of the account's
// connections; another account's is ErrNotFound, like everywhere else.
func (s *sqlStore) checkConnections(ctx context.Context, db queryer, accountID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{accountID}
	for _, id := range ids {
		args = append(args, id)
	}
	var n int
	err := s.queryRow(ctx, db, `SELECT COUNT(*) FROM connections WHERE account_id = ? AND deleted_at IS NULL AND id IN (`+
		placeholders(len(ids))+`)`, args...).Scan(&n)
	if err != nil {
		return err
	}
	if n != len(slices.Compact(slices.Sorted(slices.Values(ids)))) {
		return fmt.Errorf("subscribed connection: %w", ErrNotFound)
	}
	return nil
}

// endpointColumns are the columns an endpoint is created with;
// endpointSelect adds those of its health.
const (
	endpointColumns = `id, account_id, url, description, event_types, connection_ids, enabled, created_at, updated_at`
	endpointSelect  = endpointColumns + `, last_success_at, last_failure_at, failing_since, consecutive_failures,
		disabled_reason, disabled_at`
)

func scanEndpoint(row interface{ Scan(...any) error }) (WebhookEndpoint, error) {
	var (
		e            WebhookEndpoint
		types, conns string
	)
	h := &e.Health
	if err := row.Scan(&e.ID, &e.AccountID, &e.URL, &e.Description, &types, &conns, &e.Enabled,
		scanTime{&e.CreatedAt}, scanTime{&e.UpdatedAt}, scanNullTime{&h.LastSuccessAt}, scanNullTime{&h.LastFailureAt},
		scanNullTime{&h.FailingSince}, &h.ConsecutiveFailures, &h.DisabledReason, scanNullTime{&h.DisabledAt}); err != nil {
		return WebhookEndpoint{}, err
	}
	if err := json.Unmarshal([]byte(types), &e.EventTypes); err != nil {
		return WebhookEndpoint{}, fmt.Errorf("endpoint %s event types: %w", e.ID, err)
	}
	if err := json.Unmarshal([]byte(conns), &e.ConnectionIDs); err != nil {
		return WebhookEndpoint{}, fmt.Errorf("endpoint %s connection ids: %w", e.ID, err)
	}
	return e, nil
}

// loadSecrets fills in the valid secrets of the endpoints.
func (s *sqlStore) loadSecrets(ctx context.Context, db queryer, eps []WebhookEndpoint) error {
	if len(eps) == 0 {
		return nil
	}
	byID := make(map[string]*WebhookEndpoint, len(eps))
	args := []any{s.t(s.clock())}
	for i := range eps {
		byID[eps[i].ID] = &eps[i]
		eps[i].Secrets = nil
		args = append(args, eps[i].ID)
	}
	rows, err := s.query(ctx, db, `SELECT endpoint_id, secret, created_at, expires_at FROM webhook_secrets
		WHERE (expires_at IS NULL OR expires_at > ?) AND endpoint_id IN (`+placeholders(len(eps))+`)
		ORDER BY id DESC`, args...)
	if err != nil {
		return fmt.Errorf("load secrets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			sec WebhookSecret
		)
		if err := rows.Scan(&id, &sec.Secret, scanTime{&sec.CreatedAt}, scanNullTime{&sec.ExpiresAt}); err != nil {
			return fmt.Errorf("load secrets: %w", err)
		}
		byID[id].Secrets = append(byID[id].Secrets, sec)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load secrets: %w", err)
	}
	return nil
}

// CreateWebhookEndpoint implements Store.
func (s *sqlStore) CreateWebhookEndpoint(ctx context.Context, accountID string, ne NewWebhookEndpoint) (WebhookEndpoint, error) {
	if err := checkWebhookURL(ne.URL); err != nil {
		return WebhookEndpoint{}, fmt.Errorf("create webhook endpoint: %w", err)
	}
	types, err := stringList(ne.EventTypes)
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("create webhook endpoint: %w", err)
	}
	conns, err := stringList(ne.ConnectionIDs)
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("create webhook endpoint: %w", err)
	}
	now := s.clock()
	var e WebhookEndpoint
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkConnections(ctx, tx, accountID, ne.ConnectionIDs); err != nil {
			return err
		}
		var err error
		e, err = scanEndpoint(s.queryRow(ctx, tx, `INSERT INTO webhook_endpoints (`+endpointColumns+`)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?)
			RETURNING `+endpointSelect,
			s.newID("ep"), accountID, ne.URL, ne.Description, types, conns, !ne.Disabled, s.t(now), s.t(now), accountID))
		if err != nil {
			return fmt.Errorf("account: %w", notFound(err))
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO webhook_secrets (endpoint_id, secret, created_at) VALUES (?, ?, ?)`,
			e.ID, newWebhookSecret(), s.t(now)); err != nil {
			return err
		}
		eps := []WebhookEndpoint{e}
		err = s.loadSecrets(ctx, tx, eps)
		e = eps[0]
		return err
	})
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("create webhook endpoint: %w", err)
	}
	return e, nil
}

// GetWebhookEndpoint implements Store.
func (s *sqlStore) GetWebhookEndpoint(ctx context.Context, accountID, id string) (WebhookEndpoint, error) {
	e, err := s.getEndpoint(ctx, s.r, accountID, id)
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("get webhook endpoint: %w", err)
	}
	return e, nil
}

func (s *sqlStore) getEndpoint(ctx context.Context, db queryer, accountID, id string) (WebhookEndpoint, error) {
	e, err := scanEndpoint(s.queryRow(ctx, db, `SELECT `+endpointSelect+` FROM webhook_endpoints
		WHERE id = ? AND account_id = ?`, id, accountID))
	if err != nil {
		return WebhookEndpoint{}, notFound(err)
	}
	eps := []WebhookEndpoint{e}
	if err := s.loadSecrets(ctx, db, eps); err != nil {
		return WebhookEndpoint{}, err
	}
	return eps[0], nil
}

// ListWebhookEndpoints implements Store.
func (s *sqlStore) ListWebhookEndpoints(ctx context.Context, accountID string, p Page) ([]WebhookEndpoint, string, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
	}
	rows, err := s.query(ctx, s.r, `SELECT `+endpointSelect+` FROM webhook_endpoints
		WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?`, accountID, p.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
	}
	var list []WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
		}
		list = append(list, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	if err := s.loadSecrets(ctx, s.r, list); err != nil {
		return nil, "", fmt.Errorf("list webhook endpoints: %w", err)
	}
	return list, next, nil
}

// UpdateWebhookEndpoint implements Store.
func (s *sqlStore) UpdateWebhookEndpoint(ctx context.Context, accountID, id string, u WebhookEndpointUpdate) (WebhookEndpoint, error) {
	var urlArg, desc, types, conns, enabled any
	if u.URL != nil {
		if err := checkWebhookURL(*u.URL); err != nil {
			return WebhookEndpoint{}, fmt.Errorf("update webhook endpoint: %w", err)
		}
		urlArg = *u.URL
	}
	if u.Description != nil {
		desc = *u.Description
	}
	if u.EventTypes != nil {
		v, err := stringList(*u.EventTypes)
		if err != nil {
			return WebhookEndpoint{}, fmt.Errorf("update webhook endpoint: %w", err)
		}
		types = v
	}
	if u.ConnectionIDs != nil {
		v, err := stringList(*u.ConnectionIDs)
		if err != nil {
			return WebhookEndpoint{}, fmt.Errorf("update webhook endpoint: %w", err)
		}
		conns = v
	}
	if u.Enabled != nil {
		enabled = *u.Enabled
	}
	var e WebhookEndpoint
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if u.ConnectionIDs != nil {
			if err := s.checkConnections(ctx, tx, accountID, *u.ConnectionIDs); err != nil {
				return err
			}
		}
		n, err := s.exec(ctx, tx, `UPDATE webhook_endpoints SET url = COALESCE(?, url), description = COALESCE(?, description),
				event_types = COALESCE(?, event_types), connection_ids = COALESCE(?, connection_ids),
				enabled = COALESCE(?, enabled), updated_at = ?
			WHERE id = ? AND account_id = ?`, urlArg, desc, types, conns, enabled, s.t(s.clock()), id, accountID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		switch {
		case u.Enabled == nil:
		case *u.Enabled:
			_, err = s.exec(ctx, tx, `UPDATE webhook_endpoints SET failing_since = NULL, consecutive_failures = 0,
				disabled_reason = '', disabled_at = NULL WHERE id = ?`, id)
		default:
			// Only an enabled endpoint is disabled now: disabling twice
			// keeps the first reason.
			_, err = s.exec(ctx, tx, `UPDATE webhook_endpoints SET disabled_reason = ?, disabled_at = ?
				WHERE id = ? AND disabled_at IS NULL`, u.DisabledReason, s.t(s.clock()), id)
		}
		if err != nil {
			return err
		}
		e, err = s.getEndpoint(ctx, tx, accountID, id)
		return err
	})
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("update webhook endpoint: %w", err)
	}
	return e, nil
}

// DeleteWebhookEndpoint implements Store.
func (s *sqlStore) DeleteWebhookEndpoint(ctx context.Context, accountID, id string) error {
	n, err := s.exec(ctx, s.w, `DELETE FROM webhook_endpoints WHERE id = ? AND account_id = ?`, id, accountID)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete webhook endpoint: %w", ErrNotFound)
	}
	return nil
}

// RotateWebhookSecret implements Store.
func (s *sqlStore) RotateWebhookSecret(ctx context.Context, accountID, id string, overlap time.Duration) (WebhookEndpoint, error) {
	if overlap < 0 {
		return WebhookEndpoint{}, fmt.Errorf("rotate webhook secret: %w: negative overlap", ErrInvalid)
	}
	now := s.clock()
	var e WebhookEndpoint
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, err := s.exec(ctx, tx, `UPDATE webhook_endpoints SET updated_at = ? WHERE id = ? AND account_id = ?`,
			s.t(now), id, accountID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		// Only secrets that would outlive the overlap are cut short; one
		// retired earlier keeps its own, shorter expiry.
		expires := now.Add(overlap)
		if _, err := s.exec(ctx, tx, `UPDATE webhook_secrets SET expires_at = ?
			WHERE endpoint_id = ? AND (expires_at IS NULL OR expires_at > ?)`, s.t(expires), id, s.t(expires)); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO webhook_secrets (endpoint_id, secret, created_at) VALUES (?, ?, ?)`,
			id, newWebhookSecret(), s.t(now)); err != nil {
			return err
		}
		e, err = s.getEndpoint(ctx, tx, accountID, id)
		return err
	})
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	return e, nil
}

// deliveryChunk bounds a multi-row insert of deliveries (6 columns).
const deliveryChunk = 500

// EnqueueDeliveries implements Store.
func (s *sqlStore) EnqueueDeliveries(ctx context.Context, ne NewWebhookEvent) (WebhookEvent, int, error) {
	if err := validName("event type", ne.Type); err != nil {
		return WebhookEvent{}, 0, fmt.Errorf("enqueue deliveries: %w", err)
	}
	payload := ne.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	if !json.Valid(payload) {
		return WebhookEvent{}, 0, fmt.Errorf("enqueue deliveries: %w: payload is not JSON", ErrInvalid)
	}
	now := s.clock()
	ev := WebhookEvent{
		ID:           s.newID("msg"),
		AccountID:    ne.AccountID,
		Type:         ne.Type,
		ConnectionID: ne.ConnectionID,
		Payload:      payload,
		CreatedAt:    now,
	}
	queued := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var conn any
		if ev.ConnectionID != "" {
			conn = ev.ConnectionID
		}
		n, err := s.exec(ctx, tx, `INSERT INTO webhook_events (id, account_id, type, connection_id, payload, created_at)
			SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?)`,
			ev.ID, ev.AccountID, ev.Type, conn, string(payload), s.t(now), ev.AccountID)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("account: %w", ErrNotFound)
		}
		query := `SELECT id, event_types, connection_ids FROM webhook_endpoints WHERE account_id = ?`
		args := []any{ev.AccountID}
		if ne.EndpointID != "" {
			query += ` AND id = ?`
			args = append(args, ne.EndpointID)
		} else {
			query += ` AND enabled = TRUE`
		}
		rows, err := s.query(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		var targets []string
		for rows.Next() {
			var id, types, conns string
			if err := rows.Scan(&id, &types, &conns); err != nil {
				rows.Close()
				return err
			}
			if ne.EndpointID != "" || subscribed(types, ev.Type) && subscribed(conns, ev.ConnectionID) {
				targets = append(targets, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if ne.EndpointID != "" && len(targets) == 0 {
			return fmt.Errorf("endpoint: %w", ErrNotFound)
		}
		for start := 0; start < len(targets); start += deliveryChunk {
			chunk := targets[start:min(start+deliveryChunk, len(targets))]
			args := make([]any, 0, 6*len(chunk))
			for _, ep := range chunk {
				args = append(args, ep, ev.ID, string(DeliveryPending), s.t(now), s.t(now), s.t(now))
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, status, next_attempt_at, created_at, updated_at)
				VALUES `+valuesRows(len(chunk), 6), args...); err != nil {
				return err
			}
		}
		queued = len(targets)
		return nil
	})
	if err != nil {
		return WebhookEvent{}, 0, fmt.Errorf("enqueue deliveries: %w", err)
	}
	return ev, queued, nil
}

// subscribed reports whether a stored subscription list (a JSON array, empty
// for all) includes v. An event without a connection matches only
// subscriptions to all connections.
func subscribed(list, v string) bool {
	if list == "[]" {
		return true
	}
	var l []string
	if json.Unmarshal([]byte(list), &l) != nil {
		return false
	}
	return len(l) == 0 || v != "" && slices.Contains(l, v)
}

// ClaimDueDeliveries implements Store.
func (s *sqlStore) ClaimDueDeliveries(ctx context.Context, now time.Time, limit int, leaseFor time.Duration) ([]Delivery, error) {
	return s.ClaimDeliveries(ctx, DeliveryClaim{Now: now, Limit: limit, LeaseFor: leaseFor})
}

// DeliveryClaim asks ClaimDeliveries for due deliveries.
type DeliveryClaim struct {
	// Now is the time the deliveries must be due at.
	Now time.Time
	// Limit is the most deliveries to take, at most MaxPageSize.
	Limit int
	// LeaseFor is how long the deliveries are the caller's.
	LeaseFor time.Duration
	// PerEndpoint, when positive, is the most deliveries of any one endpoint
	// to take: a sender that bounds its requests per endpoint then claims
	// no more than it can start, and an endpoint with a long backlog does
	// not fill the claim.
	PerEndpoint int
	// SkipEndpoints are endpoints to take nothing from, such as those the
	// caller is already sending to as much as it will.
	SkipEndpoints []string
}

// maxClaimWindow bounds the candidate rows a per-endpoint claim ranks.
const maxClaimWindow = 10 * MaxPageSize

// ClaimDeliveries implements Store.
//
// Like ClaimJob, one statement picks and leases the rows: SKIP LOCKED on
// PostgreSQL keeps concurrent claimers (also in other replicas) off the rows
// another claimer is taking, and the lease it commits keeps them off
// afterwards. Deliveries of disabled endpoints wait until re-enabled.
//
// With PerEndpoint, the oldest Limit×PerEndpoint due deliveries are ranked
// within their endpoint and those past PerEndpoint left for later; ranking
// only that window keeps the cost of a claim independent of the backlog.
func (s *sqlStore) ClaimDeliveries(ctx context.Context, c DeliveryClaim) ([]Delivery, error) {
	limit, err := pageLimit(c.Limit)
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	if c.LeaseFor <= 0 {
		return nil, fmt.Errorf("claim due deliveries: %w: lease %s", ErrInvalid, c.LeaseFor)
	}
	if c.PerEndpoint < 0 {
		return nil, fmt.Errorf("claim due deliveries: %w: %d per endpoint", ErrInvalid, c.PerEndpoint)
	}
	query, args := s.claimQuery(c, limit)
	var list []Delivery
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := s.query(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		rows, err = s.query(ctx, tx, `SELECT d.id, d.endpoint_id, e.url, e.account_id, d.status, d.attempts, d.next_attempt_at,
				d.locked_until, d.created_at, ev.id, ev.type, ev.connection_id, ev.payload, ev.created_at
			FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id
			JOIN webhook_events ev ON ev.id = d.event_id
			WHERE d.id IN (`+placeholders(len(ids))+`) ORDER BY d.next_attempt_at, d.id`, ids...)
		if err != nil {
			return err
		}
		var eps []WebhookEndpoint
		seen := make(map[string]bool)
		for rows.Next() {
			var (
				d       Delivery
				status  string
				conn    *string
				payload []byte
			)
			if err := rows.Scan(&d.ID, &d.EndpointID, &d.URL, &d.Event.AccountID, &status, &d.Attempts,
				scanTime{&d.NextAttemptAt}, scanNullTime{&d.LockedUntil}, scanTime{&d.CreatedAt},
				&d.Event.ID, &d.Event.Type, &conn, &payload, scanTime{&d.Event.CreatedAt}); err != nil {
				rows.Close()
				return err
			}
			d.Status = DeliveryStatus(status)
			d.Event.Payload = payload
			if conn != nil {
				d.Event.ConnectionID = *conn
			}
			list = append(list, d)
			if !seen[d.EndpointID] {
				seen[d.EndpointID] = true
				eps = append(eps, WebhookEndpoint{ID: d.EndpointID})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if err := s.loadSecrets(ctx, tx, eps); err != nil {
			return err
		}
		secrets := make(map[string][]string, len(eps))
		for _, e := range eps {
			for _, sec := range e.Secrets {
				secrets[e.ID] = append(secrets[e.ID], sec.Secret)
			}
		}
		for i := range list {
			list[i].Secrets = secrets[list[i].EndpointID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due deliveries: %w", err)
	}
	return list, nil
}

// claimQuery returns the statement that leases the deliveries of a claim.
func (s *sqlStore) claimQuery(c DeliveryClaim, limit int) (string, []any) {
	now := c.Now.UTC().Truncate(time.Microsecond)
	due := `d.status = 'pending' AND d.next_attempt_at <= ? AND (d.locked_until IS NULL OR d.locked_until <= ?)
		AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id AND e.enabled = TRUE)`
	dueArgs := []any{s.t(now), s.t(now)}
	if len(c.SkipEndpoints) > 0 {
		due += ` AND d.endpoint_id NOT IN (` + placeholders(len(c.SkipEndpoints)) + `)`
		for _, id := range c.SkipEndpoints {
			dueArgs = append(dueArgs, id)
		}
	}
	var (
		query string
		args  []any
	)
	if c.PerEndpoint == 0 {
		query = `WITH due AS MATERIALIZED (
				SELECT d.id FROM webhook_deliveries d WHERE ` + due + `
				ORDER BY d.next_attempt_at, d.id LIMIT ?` + s.d.skipLocked + `)`
		args = append(append(args, dueArgs...), limit)
	} else {
		query = `WITH cand AS MATERIALIZED (
				SELECT d.id, d.endpoint_id, d.next_attempt_at FROM webhook_deliveries d WHERE ` + due + `
				ORDER BY d.next_attempt_at, d.id LIMIT ?),
			ranked AS (
				SELECT id, next_attempt_at,
					ROW_NUMBER() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rn
				FROM cand),
			top AS MATERIALIZED (
				SELECT id FROM ranked WHERE rn <= ? ORDER BY next_attempt_at, id LIMIT ?),
			due AS MATERIALIZED (
				SELECT d.id FROM webhook_deliveries d
				WHERE d.id IN (SELECT id FROM top) AND ` + due + s.d.skipLocked + `)`
		// The locking query repeats the conditions, which PostgreSQL
		// checks again on the latest version of a row it had to wait for;
		// it looks the few chosen rows up by key instead of walking the
		// queue again.
		args = append(args, dueArgs...)
		args = append(args, min(limit*c.PerEndpoint, maxClaimWindow), c.PerEndpoint, limit)
		args = append(args, dueArgs...)
	}
	query += `
		UPDATE webhook_deliveries SET locked_until = ?, updated_at = ?
		WHERE id IN (SELECT id FROM due)
		RETURNING id`
	args = append(args, s.t(now.Add(c.LeaseFor)), s.t(now))
	return query, args
}

// AttemptRecord is an attempt to record for a delivery.
type AttemptRecord struct {
	DeliveryID int64
	Attempt    Attempt
}

// RecordAttempt implements Store.
func (s *sqlStore) RecordAttempt(ctx context.Context, deliveryID int64, a Attempt) (Attempt, error) {
	out, errs, err := s.RecordAttempts(ctx, []AttemptRecord{{DeliveryID: deliveryID, Attempt: a}})
	if err != nil {
		return Attempt{}, err
	}
	if errs[0] != nil {
		return Attempt{}, errs[0]
	}
	return out[0], nil
}

// recordChunk bounds a multi-row insert of attempts (9 columns).
const recordChunk = 250

// RecordAttempts implements Store.
//
// The statements are per batch where they can be: one read of the
// deliveries and one of their events, one update of each delivery, one
// insert of the attempts and one update of each endpoint's health. On
// SQLite, whose single writer bounds delivery throughput, that is several
// times fewer statements than recording each attempt alone.
func (s *sqlStore) RecordAttempts(ctx context.Context, recs []AttemptRecord) ([]Attempt, []error, error) {
	if len(recs) == 0 {
		return nil, nil, nil
	}
	prepared := make([]Attempt, len(recs))
	for i, r := range recs {
		a := r.Attempt
		if a.At.IsZero() {
			a.At = s.clock()
		}
		a.At = a.At.UTC().Truncate(time.Microsecond)
		a.Duration = a.Duration.Truncate(time.Microsecond)
		if a.NextRetry != nil {
			t := a.NextRetry.UTC().Truncate(time.Microsecond)
			a.NextRetry = &t
		}
		if attemptOK(a) {
			a.NextRetry = nil
		}
		a.DeliveryID = r.DeliveryID
		prepared[i] = a
	}
	var (
		out  []Attempt
		errs []error
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out, errs = slices.Clone(prepared), make([]error, len(recs))
		type current struct {
			endpoint, event, status string
			attempts                int
		}
		cur := make(map[int64]current, len(recs))
		ids := make([]any, len(recs))
		for i, r := range recs {
			ids[i] = r.DeliveryID
		}
		rows, err := s.query(ctx, tx, `SELECT id, endpoint_id, event_id, attempts, status FROM webhook_deliveries
			WHERE id IN (`+placeholders(len(ids))+`)`+s.d.forUpdate, ids...)
		if err != nil {
			return err
		}
		events := map[string]string{}
		for rows.Next() {
			var (
				id int64
				c  current
			)
			if err := rows.Scan(&id, &c.endpoint, &c.event, &c.attempts, &c.status); err != nil {
				rows.Close()
				return err
			}
			cur[id] = c
			events[c.event] = ""
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(events) > 0 {
			evIDs := make([]any, 0, len(events))
			for id := range events {
				evIDs = append(evIDs, id)
			}
			rows, err := s.query(ctx, tx, `SELECT id, type FROM webhook_events WHERE id IN (`+placeholders(len(evIDs))+`)`, evIDs...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id, typ string
				if err := rows.Scan(&id, &typ); err != nil {
					rows.Close()
					return err
				}
				events[id] = typ
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}

		var (
			todo   []int // indexes of the attempts to record, in order
			health = map[string]*healthChange{}
			order  []string // endpoints with attempts
		)
		for i := range out {
			a := &out[i]
			c, found := cur[a.DeliveryID]
			switch {
			case !found:
				errs[i] = fmt.Errorf("record attempt: delivery %d: %w", a.DeliveryID, ErrNotFound)
				continue
			case c.status != string(DeliveryPending):
				errs[i] = fmt.Errorf("record attempt: %w: delivery %d is already %s", ErrConflict, a.DeliveryID, c.status)
				continue
			}
			c.attempts++
			a.EndpointID, a.EventID, a.EventType, a.Number = c.endpoint, c.event, events[c.event], c.attempts
			ok := attemptOK(*a)
			status := DeliveryFailed
			switch {
			case ok:
				status = DeliverySucceeded
			case a.NextRetry != nil:
				status = DeliveryPending
			}
			c.status = string(status)
			cur[a.DeliveryID] = c
			var code any
			if a.StatusCode != 0 {
				code = a.StatusCode
			}
			if _, err := s.exec(ctx, tx, `UPDATE webhook_deliveries SET attempts = ?, status = ?,
					next_attempt_at = COALESCE(?, next_attempt_at), locked_until = NULL,
					last_attempt_at = ?, last_status_code = ?, last_error = ?, updated_at = ?
				WHERE id = ?`, a.Number, string(status), s.nt(a.NextRetry), s.t(a.At), code, a.Error, s.t(s.clock()),
				a.DeliveryID); err != nil {
				return err
			}
			h := health[a.EndpointID]
			if h == nil {
				h = &healthChange{}
				health[a.EndpointID] = h
				order = append(order, a.EndpointID)
			}
			h.add(*a, ok)
			todo = append(todo, i)
		}

		for start := 0; start < len(todo); start += recordChunk {
			chunk := todo[start:min(start+recordChunk, len(todo))]
			args := make([]any, 0, 9*len(chunk))
			byDelivery := make(map[int64]int, len(chunk))
			for _, i := range chunk {
				a := out[i]
				args = append(args, a.DeliveryID, a.EndpointID, a.EventID, a.Number, s.t(a.At), a.StatusCode,
					a.Duration.Microseconds(), a.Error, s.nt(a.NextRetry))
				byDelivery[a.DeliveryID] = i
			}
			rows, err := s.query(ctx, tx, `INSERT INTO webhook_attempts (delivery_id, endpoint_id, event_id, attempt, at,
					status_code, duration_us, error, next_retry_at)
				VALUES `+valuesRows(len(chunk), 9)+` RETURNING id, delivery_id`, args...)
			if err != nil {
				return err
			}
			// RETURNING rows come in no promised order; a batch has one
			// attempt per delivery, so the delivery says whose id it is.
			for rows.Next() {
				var id, delivery int64
				if err := rows.Scan(&id, &delivery); err != nil {
					rows.Close()
					return err
				}
				out[byDelivery[delivery]].ID = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}

		// In one order everywhere: two replicas recording attempts to the
		// same endpoints must not wait on each other's row locks in a
		// cycle.
		slices.Sort(order)
		for _, ep := range order {
			h := health[ep]
			var err error
			if h.lastSuccess != nil {
				_, err = s.exec(ctx, tx, `UPDATE webhook_endpoints SET last_success_at = ?,
						last_failure_at = COALESCE(?, last_failure_at), failing_since = ?, consecutive_failures = ?
					WHERE id = ?`, s.nt(h.lastSuccess), s.nt(h.lastFailure), s.nt(h.failingSince), h.failures, ep)
			} else {
				_, err = s.exec(ctx, tx, `UPDATE webhook_endpoints SET last_failure_at = ?,
						failing_since = COALESCE(failing_since, ?), consecutive_failures = consecutive_failures + ?
					WHERE id = ?`, s.nt(h.lastFailure), s.nt(h.failingSince), h.failures, ep)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("record attempt: %w", err)
	}
	for i := range out {
		if errs[i] != nil {
			out[i] = Attempt{}
		}
	}
	return out, errs, nil
}

func attemptOK(a Attempt) bool {
	return a.StatusCode >= 200 && a.StatusCode < 300 && a.Error == ""
}

// healthChange folds a batch's attempts to one endpoint, in order, into
// the change of its health.
type healthChange struct {
	// lastSuccess is the batch's last success; when nil the failures add
	// to those stored.
	lastSuccess, lastFailure *time.Time
	// failingSince and failures are the failures after lastSuccess, or
	// all of them.
	failingSince *time.Time
	failures     int
}

func (h *healthChange) add(a Attempt, ok bool) {
	at := a.At
	if ok {
		h.lastSuccess, h.failingSince, h.failures = &at, nil, 0
		return
	}
	h.lastFailure = &at
	if h.failingSince == nil {
		h.failingSince = &at
	}
	h.failures++
}

// DisableFailingWebhookEndpoint implements Store.
func (s *sqlStore) DisableFailingWebhookEndpoint(ctx context.Context, deliveryID int64, reason string) (WebhookEndpoint, bool, error) {
	var (
		e        WebhookEndpoint
		disabled bool
	)
	now := s.clock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var endpointID, accountID string
		if err := s.queryRow(ctx, tx, `SELECT d.endpoint_id, e.account_id FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?`, deliveryID).Scan(&endpointID, &accountID); err != nil {
			return fmt.Errorf("delivery %d: %w", deliveryID, notFound(err))
		}
		n, err := s.exec(ctx, tx, `UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = ?, disabled_at = ?, updated_at = ?
			WHERE id = ? AND enabled = TRUE AND failing_since IS NOT NULL
				AND failing_since <= (SELECT MIN(at) FROM webhook_attempts WHERE delivery_id = ?)`,
			reason, s.t(now), s.t(now), endpointID, deliveryID)
		if err != nil {
			return err
		}
		disabled = n == 1
		e, err = s.getEndpoint(ctx, tx, accountID, endpointID)
		return err
	})
	if err != nil {
		return WebhookEndpoint{}, false, fmt.Errorf("disable failing webhook endpoint: %w", err)
	}
	return e, disabled, nil
}

// ListAttempts implements Store.
func (s *sqlStore) ListAttempts(ctx context.Context, accountID, endpointID string, p Page) ([]Attempt, string, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list attempts: %w", err)
	}
	before, err := intCursor(p.After)
	if err != nil {
		return nil, "", fmt.Errorf("list attempts: %w", err)
	}
	var one int
	if err := s.queryRow(ctx, s.r, `SELECT 1 FROM webhook_endpoints WHERE id = ? AND account_id = ?`, endpointID, accountID).
		Scan(&one); err != nil {
		return nil, "", fmt.Errorf("list attempts: %w", notFound(err))
	}
	query := `SELECT a.id, a.delivery_id, a.endpoint_id, a.event_id, ev.type, a.attempt, a.at, a.status_code,
			a.duration_us, a.error, a.next_retry_at
		FROM webhook_attempts a JOIN webhook_events ev ON ev.id = a.event_id
		WHERE a.endpoint_id = ?`
	args := []any{endpointID}
	if before > 0 {
		query += ` AND a.id < ?`
		args = append(args, before)
	}
	query += ` ORDER BY a.id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.query(ctx, s.r, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list attempts: %w", err)
	}
	defer rows.Close()
	var list []Attempt
	for rows.Next() {
		var (
			a   Attempt
			dur int64
		)
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.EndpointID, &a.EventID, &a.EventType, &a.Number, scanTime{&a.At},
			&a.StatusCode, &dur, &a.Error, scanNullTime{&a.NextRetry}); err != nil {
			return nil, "", fmt.Errorf("list attempts: %w", err)
		}
		a.Duration = time.Duration(dur) * time.Microsecond
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list attempts: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = strconv.FormatInt(list[limit-1].ID, 10)
	}
	return list, next, nil
}
