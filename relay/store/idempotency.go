package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// idempotencyLease is how long a request holds its key before a retry may
// take it over, assuming the first request's process died. It exceeds any
// write's timeout.
const idempotencyLease = 5 * time.Minute

// IdempotentResponse is the stored response of a write made with an
// Idempotency-Key.
type IdempotentResponse struct {
	StatusCode int
	Body       []byte
	CreatedAt  time.Time
}

// ReserveIdempotencyKey implements Store.
func (s *sqlStore) ReserveIdempotencyKey(ctx context.Context, accountID, key, fingerprint string) (*IdempotentResponse, error) {
	if key == "" || len(key) > 255 || fingerprint == "" {
		return nil, fmt.Errorf("reserve idempotency key: %w: key and fingerprint are required", ErrInvalid)
	}
	now := s.clock()
	var stored *IdempotentResponse
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Insert first: of two concurrent first requests, the second waits
		// on the first's row and then sees it, instead of both inserting.
		n, err := s.exec(ctx, tx, `INSERT INTO idempotency_keys (account_id, idem_key, fingerprint, created_at, expires_at, locked_until)
			SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?)
			ON CONFLICT (account_id, idem_key) DO NOTHING`,
			accountID, key, fingerprint, s.t(now), s.t(now.Add(IdempotencyTTL)), s.t(now.Add(idempotencyLease)), accountID)
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		var (
			fp          string
			status      *int
			body        []byte
			created     time.Time
			expires     time.Time
			lockedUntil *time.Time
		)
		err = s.queryRow(ctx, tx, `SELECT fingerprint, status_code, body, created_at, expires_at, locked_until
			FROM idempotency_keys WHERE account_id = ? AND idem_key = ?`+s.d.forUpdate, accountID, key).
			Scan(&fp, &status, &body, scanTime{&created}, scanTime{&expires}, scanNullTime{&lockedUntil})
		if err != nil {
			return fmt.Errorf("account: %w", notFound(err))
		}
		takeOver := !now.Before(expires) || // expired: the key is free again
			(status == nil && fp == fingerprint && lockedUntil != nil && !now.Before(*lockedUntil))
		switch {
		case takeOver:
			_, err := s.exec(ctx, tx, `UPDATE idempotency_keys SET fingerprint = ?, status_code = NULL, body = NULL,
					created_at = ?, expires_at = ?, locked_until = ?
				WHERE account_id = ? AND idem_key = ?`,
				fingerprint, s.t(now), s.t(now.Add(IdempotencyTTL)), s.t(now.Add(idempotencyLease)), accountID, key)
			return err
		case fp != fingerprint:
			return fmt.Errorf("%w: idempotency key reused with a different request", ErrConflict)
		case status == nil:
			return fmt.Errorf("%w: a request with this idempotency key is in progress", ErrConflict)
		}
		stored = &IdempotentResponse{StatusCode: *status, Body: body, CreatedAt: created}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reserve idempotency key: %w", err)
	}
	return stored, nil
}

// SaveIdempotentResponse implements Store.
func (s *sqlStore) SaveIdempotentResponse(ctx context.Context, accountID, key string, resp IdempotentResponse) error {
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	n, err := s.exec(ctx, s.w, `UPDATE idempotency_keys SET status_code = ?, body = ?, locked_until = NULL
		WHERE account_id = ? AND idem_key = ? AND status_code IS NULL`, resp.StatusCode, body, accountID, key)
	if err != nil {
		return fmt.Errorf("save idempotent response: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("save idempotent response: reservation: %w", ErrNotFound)
	}
	return nil
}

// ReleaseIdempotencyKey implements Store.
func (s *sqlStore) ReleaseIdempotencyKey(ctx context.Context, accountID, key string) error {
	if _, err := s.exec(ctx, s.w, `DELETE FROM idempotency_keys WHERE account_id = ? AND idem_key = ? AND status_code IS NULL`,
		accountID, key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
