package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// SyncStatus is the state of a model's sync.
type SyncStatus string

// Sync statuses, as the sync-status endpoint reports them.
const (
	SyncSyncing SyncStatus = "syncing"
	SyncDone    SyncStatus = "done"
	SyncFailed  SyncStatus = "failed"
	SyncPaused  SyncStatus = "paused"
)

func (st SyncStatus) valid() bool {
	switch st {
	case SyncSyncing, SyncDone, SyncFailed, SyncPaused:
		return true
	}
	return false
}

// SyncState is the sync state of one model of a connection.
type SyncState struct {
	ConnectionID         string
	Model                string
	Status               SyncStatus
	LastSyncStart        *time.Time
	LastSyncFinished     *time.Time
	LastSuccessfulSyncAt *time.Time
	NextSyncStart        *time.Time
	IsInitialSync        bool
	RecordsSynced        int64
	// Error is the error of the last sync, if it failed.
	Error *ErrorDetail
	// UpdatedAt is set by PutSyncState.
	UpdatedAt time.Time
}

// PutSyncState implements Store.
func (s *sqlStore) PutSyncState(ctx context.Context, st SyncState) error {
	if !st.Status.valid() {
		return fmt.Errorf("put sync state: %w: status %q", ErrInvalid, st.Status)
	}
	if err := validName("model", st.Model); err != nil {
		return fmt.Errorf("put sync state: %w", err)
	}
	var code, msg any
	if st.Error != nil {
		code, msg = st.Error.Code, st.Error.Message
	}
	n, err := s.exec(ctx, s.w, `INSERT INTO sync_states (connection_id, model, status, last_sync_start, last_sync_finished,
			last_successful_sync_at, next_sync_start, is_initial_sync, records_synced, error_code, error_message, updated_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM connections WHERE id = ? AND deleted_at IS NULL)
		ON CONFLICT (connection_id, model) DO UPDATE SET status = excluded.status, last_sync_start = excluded.last_sync_start,
			last_sync_finished = excluded.last_sync_finished, last_successful_sync_at = excluded.last_successful_sync_at,
			next_sync_start = excluded.next_sync_start, is_initial_sync = excluded.is_initial_sync,
			records_synced = excluded.records_synced, error_code = excluded.error_code,
			error_message = excluded.error_message, updated_at = excluded.updated_at`,
		st.ConnectionID, st.Model, string(st.Status), s.nt(st.LastSyncStart), s.nt(st.LastSyncFinished),
		s.nt(st.LastSuccessfulSyncAt), s.nt(st.NextSyncStart), st.IsInitialSync, st.RecordsSynced, code, msg,
		s.t(s.clock()), st.ConnectionID)
	if err != nil {
		return fmt.Errorf("put sync state: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("put sync state: connection: %w", ErrNotFound)
	}
	return nil
}

// ListSyncStates implements Store.
func (s *sqlStore) ListSyncStates(ctx context.Context, connectionID string) ([]SyncState, error) {
	rows, err := s.query(ctx, s.r, `SELECT connection_id, model, status, last_sync_start, last_sync_finished,
			last_successful_sync_at, next_sync_start, is_initial_sync, records_synced, error_code, error_message, updated_at
		FROM sync_states WHERE connection_id = ? ORDER BY model`, connectionID)
	if err != nil {
		return nil, fmt.Errorf("list sync states: %w", err)
	}
	defer rows.Close()
	var list []SyncState
	for rows.Next() {
		var (
			st        SyncState
			status    string
			code, msg *string
		)
		if err := rows.Scan(&st.ConnectionID, &st.Model, &status, scanNullTime{&st.LastSyncStart},
			scanNullTime{&st.LastSyncFinished}, scanNullTime{&st.LastSuccessfulSyncAt}, scanNullTime{&st.NextSyncStart},
			&st.IsInitialSync, &st.RecordsSynced, &code, &msg, scanTime{&st.UpdatedAt}); err != nil {
			return nil, fmt.Errorf("list sync states: %w", err)
		}
		st.Status = SyncStatus(status)
		st.Error = errorDetail(code, msg)
		list = append(list, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sync states: %w", err)
	}
	return list, nil
}

func errorDetail(code, msg *string) *ErrorDetail {
	if code == nil && msg == nil {
		return nil
	}
	var e ErrorDetail
	if code != nil {
		e.Code = *code
	}
	if msg != nil {
		e.Message = *msg
	}
	return &e
}

// ConnectionEvent is a stored tunnel event: an agent connected, disconnected
// or failed to authenticate.
type ConnectionEvent struct {
	// ID is assigned by AddConnectionEvent; ids increase with insertion.
	ID int64
	// ConnectionID is empty when the agent id matched no connection.
	ConnectionID string
	AgentID      string
	// Kind is the tunnel's event kind: connect, disconnect, auth_failed, ….
	Kind       string
	RemoteAddr string
	RTT        time.Duration
	Reason     string
	Detail     string
	// At is when it happened; the store's clock when zero.
	At time.Time
}

// AddConnectionEvent implements Store.
func (s *sqlStore) AddConnectionEvent(ctx context.Context, e ConnectionEvent) (ConnectionEvent, error) {
	if e.Kind == "" {
		return ConnectionEvent{}, fmt.Errorf("add connection event: %w: empty kind", ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = s.clock()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	var conn any
	if e.ConnectionID != "" {
		conn = e.ConnectionID
	}
	err := s.queryRow(ctx, s.w, `INSERT INTO connection_events (connection_id, agent_id, kind, remote_addr, rtt_us, reason, detail, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		conn, e.AgentID, e.Kind, e.RemoteAddr, e.RTT.Microseconds(), e.Reason, e.Detail, s.t(e.At)).Scan(&e.ID)
	if err != nil {
		return ConnectionEvent{}, fmt.Errorf("add connection event: %w", err)
	}
	e.RTT = e.RTT.Truncate(time.Microsecond)
	return e, nil
}

// ListConnectionEvents implements Store.
func (s *sqlStore) ListConnectionEvents(ctx context.Context, connectionID string, p Page) ([]ConnectionEvent, string, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list connection events: %w", err)
	}
	before, err := intCursor(p.After)
	if err != nil {
		return nil, "", fmt.Errorf("list connection events: %w", err)
	}
	query := `SELECT id, connection_id, agent_id, kind, remote_addr, rtt_us, reason, detail, at
		FROM connection_events WHERE connection_id = ?`
	args := []any{connectionID}
	if before > 0 {
		query += ` AND id < ?`
		args = append(args, before)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.query(ctx, s.r, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list connection events: %w", err)
	}
	defer rows.Close()
	var list []ConnectionEvent
	for rows.Next() {
		var (
			e    ConnectionEvent
			conn *string
			rtt  int64
		)
		if err := rows.Scan(&e.ID, &conn, &e.AgentID, &e.Kind, &e.RemoteAddr, &rtt, &e.Reason, &e.Detail, scanTime{&e.At}); err != nil {
			return nil, "", fmt.Errorf("list connection events: %w", err)
		}
		if conn != nil {
			e.ConnectionID = *conn
		}
		e.RTT = time.Duration(rtt) * time.Microsecond
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list connection events: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = strconv.FormatInt(list[limit-1].ID, 10)
	}
	return list, next, nil
}
