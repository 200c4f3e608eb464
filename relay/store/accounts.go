package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// APIKeyPrefix starts every API key, so that leaked keys are recognisable by
// secret scanners and in logs.
const APIKeyPrefix = "pb_live_"

// apiKeyDisplayLen is how much of a key is kept in clear for display: the
// prefix and four characters of the random part.
const apiKeyDisplayLen = len(APIKeyPrefix) + 4

// Account is a customer: the owner of connections, keys, jobs and webhooks.
type Account struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey describes an API key. The key itself is never stored.
type APIKey struct {
	ID        string
	AccountID string
	Name      string
	// Prefix is the start of the key, for people to tell keys apart.
	Prefix    string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// CreateAccount implements Store.
func (s *sqlStore) CreateAccount(ctx context.Context, name string) (Account, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Account{}, fmt.Errorf("create account: %w: empty name", ErrInvalid)
	}
	a := Account{ID: s.newID("acct"), Name: name, CreatedAt: s.clock()}
	if _, err := s.exec(ctx, s.w, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`,
		a.ID, a.Name, s.t(a.CreatedAt)); err != nil {
		return Account{}, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// GetAccount implements Store.
func (s *sqlStore) GetAccount(ctx context.Context, id string) (Account, error) {
	var a Account
	err := s.queryRow(ctx, s.r, `SELECT id, name, created_at FROM accounts WHERE id = ?`, id).
		Scan(&a.ID, &a.Name, scanTime{&a.CreatedAt})
	if err != nil {
		return Account{}, fmt.Errorf("get account: %w", notFound(err))
	}
	return a, nil
}

// CreateAPIKey implements Store.
func (s *sqlStore) CreateAPIKey(ctx context.Context, accountID, name string) (APIKey, string, error) {
	plain := newSecret(APIKeyPrefix)
	k := APIKey{
		ID:        s.newID("key"),
		AccountID: accountID,
		Name:      strings.TrimSpace(name),
		Prefix:    plain[:apiKeyDisplayLen],
		CreatedAt: s.clock(),
	}
	n, err := s.exec(ctx, s.w, `INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at)
		SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?)`,
		k.ID, k.AccountID, k.Name, k.Prefix, hashSecret(plain), s.t(k.CreatedAt), accountID)
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	if n == 0 {
		return APIKey{}, "", fmt.Errorf("create api key: account: %w", ErrNotFound)
	}
	return k, plain, nil
}

// AuthenticateAPIKey implements Store.
func (s *sqlStore) AuthenticateAPIKey(ctx context.Context, plain string) (APIKey, Account, error) {
	want := hashSecret(plain)
	var (
		k   APIKey
		a   Account
		got []byte
	)
	// The lookup is by hash, so the database never compares the secret
	// itself; the constant-time compare below guards against a lookup that
	// matched loosely (a collation, a driver quirk).
	err := s.queryRow(ctx, s.r, `SELECT k.id, k.account_id, k.name, k.prefix, k.key_hash, k.created_at, k.revoked_at,
			a.id, a.name, a.created_at
		FROM api_keys k JOIN accounts a ON a.id = k.account_id
		WHERE k.key_hash = ?`, want).
		Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, &got, scanTime{&k.CreatedAt}, scanNullTime{&k.RevokedAt},
			&a.ID, &a.Name, scanTime{&a.CreatedAt})
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return APIKey{}, Account{}, fmt.Errorf("authenticate api key: %w", ErrUnauthorized)
		}
		return APIKey{}, Account{}, fmt.Errorf("authenticate api key: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 || k.RevokedAt != nil {
		return APIKey{}, Account{}, fmt.Errorf("authenticate api key: %w", ErrUnauthorized)
	}
	return k, a, nil
}

// ListAPIKeys implements Store.
func (s *sqlStore) ListAPIKeys(ctx context.Context, accountID string) ([]APIKey, error) {
	rows, err := s.query(ctx, s.r, `SELECT id, account_id, name, prefix, created_at, revoked_at
		FROM api_keys WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var list []APIKey
	for rows.Next() {
		var k APIKey
		if err := rows.Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, scanTime{&k.CreatedAt}, scanNullTime{&k.RevokedAt}); err != nil {
			return nil, fmt.Errorf("list api keys: %w", err)
		}
		list = append(list, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return list, nil
}

// RevokeAPIKey implements Store.
func (s *sqlStore) RevokeAPIKey(ctx context.Context, accountID, keyID string) error {
	// COALESCE keeps the first revocation time when revoked twice.
	n, err := s.exec(ctx, s.w, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND account_id = ?`,
		s.t(s.clock()), keyID, accountID)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("revoke api key: %w", ErrNotFound)
	}
	return nil
}
