package store

import (
	"context"
	"fmt"
	"time"
)

// PrunePolicy says what Prune deletes. A zero field leaves that kind of row
// alone. Expired idempotency keys, enrollment tokens a day past expiry and
// retired webhook secrets are always deleted: nothing can use them.
type PrunePolicy struct {
	// EventsMaxAge deletes connection events older than this.
	EventsMaxAge time.Duration
	// EventsKeepPerConnection keeps only this many newest events per
	// connection, so that a flapping agent cannot fill the disk.
	EventsKeepPerConnection int
	// BatchesMaxAge forgets batch ids older than this. A batch re-sent after
	// that is applied again, which is harmless: its unchanged records keep
	// their modified_at. Keep it well beyond the longest outage an agent
	// buffers through.
	BatchesMaxAge time.Duration
	// WebhookEventsMaxAge deletes webhook events older than this with their
	// deliveries and attempt log.
	WebhookEventsMaxAge time.Duration
}

// PruneResult counts the rows Prune deleted.
type PruneResult struct {
	ConnectionEvents int64
	Batches          int64
	IdempotencyKeys  int64
	EnrollmentTokens int64
	WebhookEvents    int64
	WebhookSecrets   int64
}

// Prune implements Store.
func (s *sqlStore) Prune(ctx context.Context, p PrunePolicy) (PruneResult, error) {
	now := s.clock()
	var res PruneResult
	steps := []struct {
		name  string
		skip  bool
		n     *int64
		query string
		args  []any
	}{
		{"connection events by age", p.EventsMaxAge <= 0, &res.ConnectionEvents,
			`DELETE FROM connection_events WHERE at < ?`, []any{s.t(now.Add(-p.EventsMaxAge))}},
		{"connection events by count", p.EventsKeepPerConnection <= 0, &res.ConnectionEvents,
			`DELETE FROM connection_events WHERE id IN (
				SELECT id FROM (
					SELECT id, ROW_NUMBER() OVER (PARTITION BY connection_id ORDER BY id DESC) AS rn FROM connection_events
				) ranked WHERE rn > ?)`, []any{p.EventsKeepPerConnection}},
		{"batches", p.BatchesMaxAge <= 0, &res.Batches,
			`DELETE FROM record_batches WHERE applied_at < ?`, []any{s.t(now.Add(-p.BatchesMaxAge))}},
		{"idempotency keys", false, &res.IdempotencyKeys,
			`DELETE FROM idempotency_keys WHERE expires_at <= ?`, []any{s.t(now)}},
		{"enrollment tokens", false, &res.EnrollmentTokens,
			// Kept a day past expiry so that a late redeem still says
			// "expired" rather than "unknown".
			`DELETE FROM enrollment_tokens WHERE expires_at < ?`, []any{s.t(now.Add(-24 * time.Hour))}},
		{"webhook events", p.WebhookEventsMaxAge <= 0, &res.WebhookEvents,
			`DELETE FROM webhook_events WHERE created_at < ?`, []any{s.t(now.Add(-p.WebhookEventsMaxAge))}},
		{"webhook secrets", false, &res.WebhookSecrets,
			`DELETE FROM webhook_secrets WHERE expires_at <= ?`, []any{s.t(now)}},
	}
	for _, st := range steps {
		if st.skip {
			continue
		}
		n, err := s.exec(ctx, s.w, st.query, st.args...)
		if err != nil {
			return res, fmt.Errorf("prune %s: %w", st.name, err)
		}
		*st.n += n
	}
	return res, nil
}
