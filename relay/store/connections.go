package store

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Prefixes of the one-time enrollment token and of the agent secret.
const (
	EnrollmentTokenPrefix = "pb_enroll_"
	AgentSecretPrefix     = "pbagent_"
)

// Connection is one plant system that an agent syncs.
type Connection struct {
	ID        string
	AccountID string
	Name      string
	// System names the system profile: maximo, infor_eam, mp2, sap_pm,
	// generic.
	System string
	// Settings is a JSON object of connection settings.
	Settings json.RawMessage
	// AgentID is the id the connection's agent authenticates with.
	AgentID string
	// AgentEnrolledAt is when the current agent credential was issued; nil
	// before enrollment and after RevokeAgent.
	AgentEnrolledAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// NewConnection holds the fields of a connection to create.
type NewConnection struct {
	Name   string
	System string
	// Settings must be a JSON object; nil means {}.
	Settings json.RawMessage
}

// ConnectionUpdate holds the fields to change; nil ones stay as they are.
type ConnectionUpdate struct {
	Name     *string
	System   *string
	Settings json.RawMessage
}

// EnrollmentToken describes a one-time enrollment token; the token itself is
// never stored.
type EnrollmentToken struct {
	ID           string
	AccountID    string
	ConnectionID string
	CreatedAt    time.Time
	ExpiresAt    time.Time
}

// AgentCredential is what an agent receives when it enrolls.
type AgentCredential struct {
	AgentID      string
	ConnectionID string
	AccountID    string
	// Secret is shown only here; the store keeps its hash.
	Secret string
}

const connectionColumns = `id, account_id, name, system, settings, agent_id, agent_enrolled_at, created_at, updated_at`

func scanConnection(row interface{ Scan(...any) error }) (Connection, error) {
	var c Connection
	var settings []byte
	err := row.Scan(&c.ID, &c.AccountID, &c.Name, &c.System, &settings, &c.AgentID,
		scanNullTime{&c.AgentEnrolledAt}, scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt})
	c.Settings = settings
	return c, err
}

// jsonObject checks that raw is a JSON object and returns it compacted; nil
// becomes {}.
func jsonObject(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "{}", nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return "", fmt.Errorf("%w: settings must be a JSON object", ErrInvalid)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", fmt.Errorf("%w: settings: %v", ErrInvalid, err)
	}
	return b.String(), nil
}

// CreateConnection implements Store.
func (s *sqlStore) CreateConnection(ctx context.Context, accountID string, nc NewConnection) (Connection, error) {
	name, system := strings.TrimSpace(nc.Name), strings.TrimSpace(nc.System)
	if name == "" || system == "" {
		return Connection{}, fmt.Errorf("create connection: %w: name and system are required", ErrInvalid)
	}
	settings, err := jsonObject(nc.Settings)
	if err != nil {
		return Connection{}, fmt.Errorf("create connection: %w", err)
	}
	now := s.clock()
	id := s.newID("conn")
	row := s.queryRow(ctx, s.w, `INSERT INTO connections (id, account_id, name, system, settings, agent_id, created_at, updated_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?)
		RETURNING `+connectionColumns,
		id, accountID, name, system, settings, s.newID("agt"), s.t(now), s.t(now), accountID)
	c, err := scanConnection(row)
	if err != nil {
		return Connection{}, fmt.Errorf("create connection: account: %w", notFound(err))
	}
	return c, nil
}

// GetConnection implements Store.
func (s *sqlStore) GetConnection(ctx context.Context, accountID, id string) (Connection, error) {
	c, err := scanConnection(s.queryRow(ctx, s.r, `SELECT `+connectionColumns+` FROM connections
		WHERE id = ? AND account_id = ? AND deleted_at IS NULL`, id, accountID))
	if err != nil {
		return Connection{}, fmt.Errorf("get connection: %w", notFound(err))
	}
	return c, nil
}

// ListConnections implements Store.
func (s *sqlStore) ListConnections(ctx context.Context, accountID string, p Page) ([]Connection, string, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list connections: %w", err)
	}
	rows, err := s.query(ctx, s.r, `SELECT `+connectionColumns+` FROM connections
		WHERE account_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?`, accountID, p.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var list []Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list connections: %w", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list connections: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = list[limit-1].ID
	}
	return list, next, nil
}

// UpdateConnection implements Store.
func (s *sqlStore) UpdateConnection(ctx context.Context, accountID, id string, u ConnectionUpdate) (Connection, error) {
	var name, system, settings any
	if u.Name != nil {
		if v := strings.TrimSpace(*u.Name); v != "" {
			name = v
		} else {
			return Connection{}, fmt.Errorf("update connection: %w: empty name", ErrInvalid)
		}
	}
	if u.System != nil {
		if v := strings.TrimSpace(*u.System); v != "" {
			system = v
		} else {
			return Connection{}, fmt.Errorf("update connection: %w: empty system", ErrInvalid)
		}
	}
	if u.Settings != nil {
		v, err := jsonObject(u.Settings)
		if err != nil {
			return Connection{}, fmt.Errorf("update connection: %w", err)
		}
		settings = v
	}
	c, err := scanConnection(s.queryRow(ctx, s.w, `UPDATE connections
		SET name = COALESCE(?, name), system = COALESCE(?, system), settings = COALESCE(?, settings), updated_at = ?
		WHERE id = ? AND account_id = ? AND deleted_at IS NULL
		RETURNING `+connectionColumns,
		name, system, settings, s.t(s.clock()), id, accountID))
	if err != nil {
		return Connection{}, fmt.Errorf("update connection: %w", notFound(err))
	}
	return c, nil
}

// DeleteConnection implements Store.
func (s *sqlStore) DeleteConnection(ctx context.Context, accountID, id string) error {
	now := s.t(s.clock())
	n, err := s.exec(ctx, s.w, `UPDATE connections SET deleted_at = ?, updated_at = ?, agent_secret_hash = NULL, agent_enrolled_at = NULL
		WHERE id = ? AND account_id = ? AND deleted_at IS NULL`, now, now, id, accountID)
	if err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete connection: %w", ErrNotFound)
	}
	return nil
}

// CreateEnrollmentToken implements Store.
func (s *sqlStore) CreateEnrollmentToken(ctx context.Context, accountID, connectionID string, ttl time.Duration) (EnrollmentToken, string, error) {
	if ttl <= 0 {
		return EnrollmentToken{}, "", fmt.Errorf("create enrollment token: %w: ttl %s", ErrInvalid, ttl)
	}
	plain := newSecret(EnrollmentTokenPrefix)
	now := s.clock()
	tok := EnrollmentToken{
		ID:           s.newID("enr"),
		AccountID:    accountID,
		ConnectionID: connectionID,
		CreatedAt:    now,
		ExpiresAt:    now.Add(ttl).Truncate(time.Microsecond),
	}
	n, err := s.exec(ctx, s.w, `INSERT INTO enrollment_tokens (id, account_id, connection_id, token_hash, created_at, expires_at)
		SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (
			SELECT 1 FROM connections WHERE id = ? AND account_id = ? AND deleted_at IS NULL)`,
		tok.ID, accountID, connectionID, hashSecret(plain), s.t(tok.CreatedAt), s.t(tok.ExpiresAt), connectionID, accountID)
	if err != nil {
		return EnrollmentToken{}, "", fmt.Errorf("create enrollment token: %w", err)
	}
	if n == 0 {
		return EnrollmentToken{}, "", fmt.Errorf("create enrollment token: connection: %w", ErrNotFound)
	}
	return tok, plain, nil
}

// RedeemEnrollmentToken implements Store.
func (s *sqlStore) RedeemEnrollmentToken(ctx context.Context, plain string) (AgentCredential, error) {
	var cred AgentCredential
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			tokID   string
			expires time.Time
			used    *time.Time
		)
		err := s.queryRow(ctx, tx, `SELECT id, connection_id, account_id, expires_at, used_at
			FROM enrollment_tokens WHERE token_hash = ?`, hashSecret(plain)).
			Scan(&tokID, &cred.ConnectionID, &cred.AccountID, scanTime{&expires}, scanNullTime{&used})
		if errors.Is(err, sql.ErrNoRows) {
			return ErrUnauthorized
		}
		if err != nil {
			return err
		}
		// The connection row is locked before the token row, the order every
		// other writer of both uses, so that redeem and delete cannot
		// deadlock.
		var deleted *time.Time
		err = s.queryRow(ctx, tx, `SELECT agent_id, deleted_at FROM connections WHERE id = ?`+s.d.forUpdate, cred.ConnectionID).
			Scan(&cred.AgentID, scanNullTime{&deleted})
		if err != nil {
			return err
		}
		if deleted != nil {
			return ErrUnauthorized
		}
		now := s.clock()
		if used != nil {
			return ErrTokenUsed
		}
		if !now.Before(expires) {
			return ErrTokenExpired
		}
		// Re-checked in the UPDATE: on PostgreSQL a concurrent redeemer may
		// have consumed the token since the SELECT above.
		n, err := s.exec(ctx, tx, `UPDATE enrollment_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL`, s.t(now), tokID)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrTokenUsed
		}
		cred.Secret = newSecret(AgentSecretPrefix)
		_, err = s.exec(ctx, tx, `UPDATE connections SET agent_secret_hash = ?, agent_enrolled_at = ?, updated_at = ? WHERE id = ?`,
			hashSecret(cred.Secret), s.t(now), s.t(now), cred.ConnectionID)
		return err
	})
	if err != nil {
		return AgentCredential{}, fmt.Errorf("redeem enrollment token: %w", err)
	}
	return cred, nil
}

// AuthenticateAgent implements Store.
func (s *sqlStore) AuthenticateAgent(ctx context.Context, agentID, secret string) (Connection, error) {
	var (
		c    Connection
		hash []byte
	)
	var settings []byte
	err := s.queryRow(ctx, s.r, `SELECT `+connectionColumns+`, agent_secret_hash FROM connections
		WHERE agent_id = ? AND deleted_at IS NULL`, agentID).
		Scan(&c.ID, &c.AccountID, &c.Name, &c.System, &settings, &c.AgentID,
			scanNullTime{&c.AgentEnrolledAt}, scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt}, &hash)
	c.Settings = settings
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Connection{}, fmt.Errorf("authenticate agent: %w", err)
	}
	want := hashSecret(secret)
	if hash == nil {
		// Compare anyway, so that timing does not tell unknown ids from
		// wrong secrets.
		hash = make([]byte, len(want))
	}
	if subtle.ConstantTimeCompare(hash, want) != 1 || err != nil {
		return Connection{}, fmt.Errorf("authenticate agent: %w", ErrUnauthorized)
	}
	return c, nil
}

// RevokeAgent implements Store.
func (s *sqlStore) RevokeAgent(ctx context.Context, accountID, connectionID string) error {
	n, err := s.exec(ctx, s.w, `UPDATE connections SET agent_secret_hash = NULL, agent_enrolled_at = NULL, updated_at = ?
		WHERE id = ? AND account_id = ? AND deleted_at IS NULL`, s.t(s.clock()), connectionID, accountID)
	if err != nil {
		return fmt.Errorf("revoke agent: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("revoke agent: %w", ErrNotFound)
	}
	return nil
}
