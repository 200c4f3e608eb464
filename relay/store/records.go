package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// ApplyOptions modifies ApplyBatch.
type ApplyOptions struct {
	// FullSyncID names the full re-sync that this batch belongs to, if any.
	// The first batch of a full re-sync registers its start (see
	// StartFullSync).
	FullSyncID string
}

// BatchResult reports what ApplyBatch did.
type BatchResult struct {
	BatchID string
	// Duplicate is set when the batch had been applied before; the counts
	// and times are then those of the first application.
	Duplicate bool
	// Records is the number of distinct records in the batch.
	Records int
	// Changed is how many of them were new or changed.
	Changed int
	// ModifiedAt is the modified_at given to the changed records.
	ModifiedAt time.Time
	// AppliedAt is when the batch was first applied.
	AppliedAt time.Time
}

// RecordQuery selects a page of records of one model of a connection.
type RecordQuery struct {
	ConnectionID string
	Model        string
	// ModifiedAfter and ModifiedBefore bound modified_at exclusively; zero
	// means unbounded.
	ModifiedAfter, ModifiedBefore time.Time
	// IncludeDeleted includes records with RemoteWasDeleted.
	IncludeDeleted bool
	// After continues from the Next of the previous page.
	After *RecordCursor
	// Before walks backwards: the page holds the records just before this
	// position, still in ascending order. At most one of After and Before.
	Before *RecordCursor
	// Limit is the page size: DefaultPageSize when 0, at most MaxPageSize.
	Limit int
}

// RecordCursor is the position of a record in (modified_at, id) order.
type RecordCursor struct {
	ModifiedAt time.Time
	ID         string
}

// RecordPage is one page of records.
type RecordPage struct {
	Records []StoredRecord
	// Next continues after the last record; nil on the last page. On a
	// backward page (RecordQuery.Before) it is nil, and More says whether
	// records come before the first one.
	Next *RecordCursor
	// More says whether records lie beyond the page in the direction of the
	// walk.
	More bool
}

// StoredRecord is a record as stored: the relay's own fields, and the body
// as the JSON that the agent sent (without those fields), so that a list can
// be served without decoding every record.
type StoredRecord struct {
	ConnectionID     string
	Model            string
	ID               string
	RemoteID         string
	CreatedAt        time.Time
	ModifiedAt       time.Time
	RemoteWasDeleted bool
	Body             json.RawMessage
}

// Decode returns the record as a model.Record with the relay's fields set.
func (r StoredRecord) Decode() (model.Record, error) {
	rec := model.Record{Model: r.Model}
	if err := json.Unmarshal(r.Body, &rec); err != nil {
		return model.Record{}, fmt.Errorf("decode record %s: %w", r.ID, err)
	}
	rec.CreatedAt, rec.ModifiedAt, rec.RemoteWasDeleted = r.CreatedAt, r.ModifiedAt, r.RemoteWasDeleted
	return rec, nil
}

// recordRow is a record prepared for the upsert.
type recordRow struct {
	id, remoteID string
	body         string
	hash         []byte
	deleted      bool
}

// upsertChunk is how many records go into one multi-row INSERT: 10 columns
// each keeps a statement far below both databases' parameter limits.
const upsertChunk = 200

func validName(kind, s string) error {
	if s == "" || len(s) > 200 {
		return fmt.Errorf("%w: %s %q", ErrInvalid, kind, s)
	}
	return nil
}

// prepareRecords encodes the batch, keeping the last of several records with
// one id (the later read of a row wins, as it would in two batches).
func prepareRecords(connectionID, modelName string, recs []model.Record) ([]recordRow, error) {
	rows := make([]recordRow, 0, len(recs))
	at := make(map[string]int, len(recs))
	for _, r := range recs {
		if r.ID == "" {
			if r.RemoteID == "" {
				return nil, fmt.Errorf("%w: record without id or remote_id", ErrInvalid)
			}
			r.ID = model.RecordID(connectionID, modelName, r.RemoteID)
		}
		deleted := r.RemoteWasDeleted
		// The relay's fields live in columns; leaving them out of the body
		// makes the hash a hash of the source content alone.
		r.CreatedAt, r.ModifiedAt, r.RemoteWasDeleted = time.Time{}, time.Time{}, false
		// Called directly: json.Marshal would re-scan the output to compact
		// it, a fifth of the cost of a batch.
		body, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%w: record %s: %v", ErrInvalid, r.ID, err)
		}
		sum := sha256.Sum256(body)
		row := recordRow{id: r.ID, remoteID: r.RemoteID, body: string(body), hash: sum[:], deleted: deleted}
		if i, ok := at[r.ID]; ok {
			rows[i] = row
			continue
		}
		at[r.ID] = len(rows)
		rows = append(rows, row)
	}
	return rows, nil
}

// lockClock locks the connection's record clock until the transaction ends
// and returns the next modified_at: now, or 1µs after the last one if the
// clock has not passed it. Because the lock is held to commit, batches
// commit in modified_at order, so a reader that has seen modified_at T will
// find every later commit above T. On SQLite the immediate transaction
// already excludes other writers.
func (s *sqlStore) lockClock(ctx context.Context, tx *sql.Tx, connectionID string) (time.Time, error) {
	var last, deleted *time.Time
	err := s.queryRow(ctx, tx, `SELECT records_clock, deleted_at FROM connections WHERE id = ?`+s.d.forUpdate, connectionID).
		Scan(scanNullTime{&last}, scanNullTime{&deleted})
	if err != nil {
		return time.Time{}, fmt.Errorf("connection: %w", notFound(err))
	}
	if deleted != nil {
		return time.Time{}, fmt.Errorf("connection: %w", ErrNotFound)
	}
	ts := s.clock()
	if last != nil && !ts.After(*last) {
		ts = last.Add(time.Microsecond)
	}
	return ts, nil
}

// RecordsClock implements Store. lockClock holds the clock until commit, so
// every transaction still open took it after the committed value and will
// commit a larger one.
func (s *sqlStore) RecordsClock(ctx context.Context, connectionID string) (time.Time, error) {
	var last *time.Time
	err := s.queryRow(ctx, s.r, `SELECT records_clock FROM connections WHERE id = ?`, connectionID).Scan(scanNullTime{&last})
	if err != nil {
		return time.Time{}, fmt.Errorf("records clock: %w", notFound(err))
	}
	if last == nil {
		return time.Time{}, nil
	}
	return *last, nil
}

func (s *sqlStore) setClock(ctx context.Context, tx *sql.Tx, connectionID string, ts time.Time) error {
	_, err := s.exec(ctx, tx, `UPDATE connections SET records_clock = ? WHERE id = ?`, s.t(ts), connectionID)
	return err
}

// EncodedRecord is a record already in its stored form, for ApplyEncodedBatch.
type EncodedRecord struct {
	ID, RemoteID string
	// Deleted is the record's remote_was_deleted.
	Deleted bool
	// Body is the record's flat JSON as model.Record.MarshalJSON writes it for a
	// record whose created_at and modified_at are zero and remote_was_deleted false.
	Body []byte
}

// ApplyBatch implements Store.
func (s *sqlStore) ApplyBatch(ctx context.Context, connectionID, batchID, modelName string, recs []model.Record, opts ApplyOptions) (BatchResult, error) {
	rows, err := prepareRecords(connectionID, modelName, recs)
	if err != nil {
		return BatchResult{}, fmt.Errorf("apply batch: %w", err)
	}
	return s.applyRows(ctx, connectionID, batchID, modelName, rows, opts)
}

// ApplyEncodedBatch implements Store.
func (s *sqlStore) ApplyEncodedBatch(ctx context.Context, connectionID, batchID, modelName string, recs []EncodedRecord, opts ApplyOptions) (BatchResult, error) {
	rows := make([]recordRow, 0, len(recs))
	at := make(map[string]int, len(recs))
	for _, r := range recs {
		if r.ID == "" || r.RemoteID == "" || len(r.Body) == 0 {
			return BatchResult{}, fmt.Errorf("apply batch: %w: record without id, remote_id or body", ErrInvalid)
		}
		sum := sha256.Sum256(r.Body)
		row := recordRow{id: r.ID, remoteID: r.RemoteID, body: string(r.Body), hash: sum[:], deleted: r.Deleted}
		if i, ok := at[r.ID]; ok {
			rows[i] = row // the later read of a row wins, as it would in two batches
			continue
		}
		at[r.ID] = len(rows)
		rows = append(rows, row)
	}
	return s.applyRows(ctx, connectionID, batchID, modelName, rows, opts)
}

// applyRows stores a prepared batch; see ApplyBatch.
func (s *sqlStore) applyRows(ctx context.Context, connectionID, batchID, modelName string, rows []recordRow, opts ApplyOptions) (BatchResult, error) {
	if err := validName("batch id", batchID); err != nil {
		return BatchResult{}, fmt.Errorf("apply batch: %w", err)
	}
	if err := validName("model", modelName); err != nil {
		return BatchResult{}, fmt.Errorf("apply batch: %w", err)
	}
	res := BatchResult{BatchID: batchID, Records: len(rows)}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ts, err := s.lockClock(ctx, tx, connectionID)
		if err != nil {
			return err
		}
		res.ModifiedAt, res.AppliedAt = ts, s.clock()
		n, err := s.exec(ctx, tx, `INSERT INTO record_batches (connection_id, batch_id, model, records, changed, modified_at, applied_at)
			VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (connection_id, batch_id) DO NOTHING`,
			connectionID, batchID, modelName, len(rows), s.t(ts), s.t(res.AppliedAt))
		if err != nil {
			return err
		}
		if n == 0 {
			// Applied before: report the first application and write
			// nothing, not even the clock.
			res.Duplicate = true
			return s.queryRow(ctx, tx, `SELECT records, changed, modified_at, applied_at FROM record_batches
				WHERE connection_id = ? AND batch_id = ?`, connectionID, batchID).
				Scan(&res.Records, &res.Changed, scanTime{&res.ModifiedAt}, scanTime{&res.AppliedAt})
		}
		if opts.FullSyncID != "" {
			if err := s.startFullSyncTx(ctx, tx, connectionID, modelName, opts.FullSyncID, ts); err != nil {
				return err
			}
		}
		for start := 0; start < len(rows); start += upsertChunk {
			c, err := s.upsertRecords(ctx, tx, connectionID, modelName, rows[start:min(start+upsertChunk, len(rows))], ts)
			if err != nil {
				return err
			}
			res.Changed += c
		}
		if _, err := s.exec(ctx, tx, `UPDATE record_batches SET changed = ? WHERE connection_id = ? AND batch_id = ?`,
			res.Changed, connectionID, batchID); err != nil {
			return err
		}
		return s.setClock(ctx, tx, connectionID, ts)
	})
	if err != nil {
		return BatchResult{}, fmt.Errorf("apply batch: %w", err)
	}
	return res, nil
}

// upsertRecords writes one chunk and returns how many records changed: those
// whose modified_at is now ts, which no earlier batch can have given them.
//
// A live record replaces the stored body; its modified_at moves only when the
// content hash or the deleted flag differs. A deletion keeps the stored body
// (agents send deletions as keys) and moves modified_at only if the record
// was live. Both stamp seen_at.
func (s *sqlStore) upsertRecords(ctx context.Context, tx *sql.Tx, connectionID, modelName string, rows []recordRow, ts time.Time) (int, error) {
	changed := 0
	for _, deleted := range []bool{false, true} {
		var args []any
		for _, r := range rows {
			if r.deleted != deleted {
				continue
			}
			args = append(args, connectionID, modelName, r.id, r.remoteID, r.body, r.hash, r.deleted, s.t(ts), s.t(ts), s.t(ts))
		}
		if len(args) == 0 {
			continue
		}
		set := `remote_id = excluded.remote_id, body = excluded.body, content_hash = excluded.content_hash,
			remote_was_deleted = excluded.remote_was_deleted,
			modified_at = CASE WHEN records.content_hash = excluded.content_hash AND records.remote_was_deleted = excluded.remote_was_deleted
				THEN records.modified_at ELSE excluded.modified_at END,
			seen_at = excluded.seen_at`
		if deleted {
			set = `remote_was_deleted = excluded.remote_was_deleted,
			modified_at = CASE WHEN records.remote_was_deleted THEN records.modified_at ELSE excluded.modified_at END,
			seen_at = excluded.seen_at`
		}
		q := `INSERT INTO records (connection_id, model, id, remote_id, body, content_hash, remote_was_deleted, created_at, modified_at, seen_at)
			VALUES ` + valuesRows(len(args)/10, 10) + `
			ON CONFLICT (connection_id, model, id) DO UPDATE SET ` + set + `
			RETURNING modified_at`
		res, err := s.query(ctx, tx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("upsert records: %w", err)
		}
		for res.Next() {
			var m time.Time
			if err := res.Scan(scanTime{&m}); err != nil {
				res.Close()
				return 0, fmt.Errorf("upsert records: %w", err)
			}
			if m.Equal(ts) {
				changed++
			}
		}
		if err := res.Err(); err != nil {
			return 0, fmt.Errorf("upsert records: %w", err)
		}
		res.Close()
	}
	return changed, nil
}

// StartFullSync implements Store.
func (s *sqlStore) StartFullSync(ctx context.Context, connectionID, modelName, fullSyncID string) error {
	if err := validName("full sync id", fullSyncID); err != nil {
		return fmt.Errorf("start full sync: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ts, err := s.lockClock(ctx, tx, connectionID)
		if err != nil {
			return err
		}
		if err := s.startFullSyncTx(ctx, tx, connectionID, modelName, fullSyncID, ts); err != nil {
			return err
		}
		return s.setClock(ctx, tx, connectionID, ts)
	})
	if err != nil {
		return fmt.Errorf("start full sync: %w", err)
	}
	return nil
}

// startFullSyncTx registers a full re-sync at relay time ts unless it is
// registered already. ts comes from the connection's record clock, so every
// batch after it stamps seen_at ≥ ts.
func (s *sqlStore) startFullSyncTx(ctx context.Context, tx *sql.Tx, connectionID, modelName, fullSyncID string, ts time.Time) error {
	_, err := s.exec(ctx, tx, `INSERT INTO full_syncs (connection_id, model, full_sync_id, started_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (connection_id, model, full_sync_id) DO NOTHING`, connectionID, modelName, fullSyncID, s.t(ts))
	if err != nil {
		return fmt.Errorf("register full sync: %w", err)
	}
	return nil
}

// MarkMissingDeleted implements Store.
func (s *sqlStore) MarkMissingDeleted(ctx context.Context, connectionID, modelName, fullSyncID string) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ts, err := s.lockClock(ctx, tx, connectionID)
		if err != nil {
			return err
		}
		var started time.Time
		err = s.queryRow(ctx, tx, `SELECT started_at FROM full_syncs WHERE connection_id = ? AND model = ? AND full_sync_id = ?`,
			connectionID, modelName, fullSyncID).Scan(scanTime{&started})
		if err != nil {
			return fmt.Errorf("full sync %s: %w", fullSyncID, notFound(err))
		}
		n, err = s.exec(ctx, tx, `UPDATE records SET remote_was_deleted = TRUE, modified_at = ?
			WHERE connection_id = ? AND model = ? AND remote_was_deleted = FALSE AND seen_at < ?`,
			s.t(ts), connectionID, modelName, s.t(started))
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE full_syncs SET finished_at = ?, deleted = deleted + ?
			WHERE connection_id = ? AND model = ? AND full_sync_id = ?`, s.t(ts), n, connectionID, modelName, fullSyncID); err != nil {
			return err
		}
		return s.setClock(ctx, tx, connectionID, ts)
	})
	if err != nil {
		return 0, fmt.Errorf("mark missing deleted: %w", err)
	}
	return int(n), nil
}

// recordColumns leaves out connection_id and model, which every query of
// records names in its WHERE clause: a page of a hundred records does not
// copy them two hundred times out of SQLite.
const recordColumns = `id, remote_id, body, remote_was_deleted, created_at, modified_at`

func scanRecord(row interface{ Scan(...any) error }, connectionID, modelName string) (StoredRecord, error) {
	r := StoredRecord{ConnectionID: connectionID, Model: modelName}
	var body []byte
	err := row.Scan(&r.ID, &r.RemoteID, &body, &r.RemoteWasDeleted, scanTime{&r.CreatedAt}, scanTime{&r.ModifiedAt})
	r.Body = body
	return r, err
}

// ListRecords implements Store.
func (s *sqlStore) ListRecords(ctx context.Context, q RecordQuery) (RecordPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return RecordPage{}, fmt.Errorf("list records: %w", err)
	}
	query, args := s.recordsQuery(q, limit)
	select {
	case s.listGate <- struct{}{}:
	case <-ctx.Done():
		return RecordPage{}, fmt.Errorf("list records: %w", ctx.Err())
	}
	defer func() { <-s.listGate }()
	rows, err := s.query(ctx, s.r, query, args...)
	if err != nil {
		return RecordPage{}, fmt.Errorf("list records: %w", err)
	}
	defer rows.Close()
	page := RecordPage{Records: make([]StoredRecord, 0, min(limit+1, 128))}
	for rows.Next() {
		r, err := scanRecord(rows, q.ConnectionID, q.Model)
		if err != nil {
			return RecordPage{}, fmt.Errorf("list records: %w", err)
		}
		page.Records = append(page.Records, r)
	}
	if err := rows.Err(); err != nil {
		return RecordPage{}, fmt.Errorf("list records: %w", err)
	}
	if len(page.Records) > limit {
		page.Records = page.Records[:limit]
		page.More = true
	}
	if q.Before != nil {
		slices.Reverse(page.Records)
	} else if page.More {
		last := page.Records[limit-1]
		page.Next = &RecordCursor{ModifiedAt: last.ModifiedAt, ID: last.ID}
	}
	return page, nil
}

// recordsQuery builds the list query for q, fetching limit+1 rows so that
// the caller knows whether there is a next page.
func (s *sqlStore) recordsQuery(q RecordQuery, limit int) (string, []any) {
	query := `SELECT ` + recordColumns + ` FROM records WHERE connection_id = ? AND model = ?`
	args := []any{q.ConnectionID, q.Model}
	// A row-value comparison is one range on the (modified_at, id) index
	// in both databases, which is what keeps deep pages as fast as the
	// first.
	order := ` ORDER BY modified_at, id LIMIT ?`
	switch {
	case q.After != nil:
		query += ` AND (modified_at, id) > (?, ?)`
		args = append(args, s.t(q.After.ModifiedAt), q.After.ID)
	case q.Before != nil:
		query += ` AND (modified_at, id) < (?, ?)`
		args = append(args, s.t(q.Before.ModifiedAt), q.Before.ID)
		order = ` ORDER BY modified_at DESC, id DESC LIMIT ?`
	}
	if !q.ModifiedAfter.IsZero() {
		query += ` AND modified_at > ?`
		args = append(args, s.t(q.ModifiedAfter))
	}
	if !q.ModifiedBefore.IsZero() {
		query += ` AND modified_at < ?`
		args = append(args, s.t(q.ModifiedBefore))
	}
	if !q.IncludeDeleted {
		query += ` AND remote_was_deleted = FALSE`
	}
	query += order
	args = append(args, limit+1)
	return query, args
}

// GetRecord implements Store.
func (s *sqlStore) GetRecord(ctx context.Context, connectionID, modelName, id string) (StoredRecord, error) {
	r, err := scanRecord(s.queryRow(ctx, s.r, `SELECT `+recordColumns+` FROM records
		WHERE connection_id = ? AND model = ? AND id = ?`, connectionID, modelName, id), connectionID, modelName)
	if err != nil {
		return StoredRecord{}, fmt.Errorf("get record: %w", notFound(err))
	}
	return r, nil
}
