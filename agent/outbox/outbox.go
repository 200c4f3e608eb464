// Package outbox is the agent's durable queue of what it owes the relay: sync batches
// and sync-state messages, in the order they were made, together with the per-model
// sync positions those batches advance (watermarks, row hashes, the full re-sync in
// progress).
//
// Everything lives in one SQLite file in the agent's state directory. A batch is
// written in the same transaction as the watermark and row hashes it advances, so a
// crash at any moment leaves either both or neither: the agent never believes it has
// read rows that are not queued for the relay. Items leave the queue only when the
// relay has acknowledged them.
//
// The queue is bounded by a byte limit. A writer that would exceed it waits, and the
// outbox reports itself full, until the uploader has freed space: the agent pauses
// reading rather than dropping anything.
package outbox

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" database/sql driver

	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Kind tells what an Item carries.
type Kind int

// Item kinds.
const (
	// KindBatch is a wire.Batch for wire.PathBatches.
	KindBatch Kind = 1
	// KindSyncState is a wire.SyncState for wire.PathSyncState.
	KindSyncState Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindBatch:
		return "batch"
	case KindSyncState:
		return "sync_state"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// codecs of stored bodies.
const (
	codecNone    = 0
	codecDeflate = 1
)

// Defaults of Options.
const (
	// DefaultMaxBytes bounds the queue when Options.MaxBytes is 0 (config buffer.max_bytes).
	DefaultMaxBytes = 1 << 30
	// DefaultCompressAbove is the backlog from which batches are stored compressed.
	DefaultCompressAbove = 32 << 20
	// DefaultCacheBytes bounds the in-memory bodies of recently queued items.
	DefaultCacheBytes = 8 << 20
	// DefaultReadAhead is the backlog that a writer does not exceed while uploads flow.
	DefaultReadAhead = 6 << 20
	// keepingUp is how recent the last acknowledgment must be for uploads to count as
	// flowing.
	keepingUp = 2 * time.Second
)

// Options configures Open.
type Options struct {
	// MaxBytes bounds the bytes the queue holds (as stored, after compression).
	// Default DefaultMaxBytes.
	MaxBytes int64
	// CompressAbove is the backlog in bytes from which new batches are stored
	// deflate-compressed. While the uploader keeps up, batches are stored as they are
	// sent, which costs no CPU; once a backlog builds up (the relay is away or slower
	// than the database) compression keeps about five times as many changes within
	// MaxBytes. Default DefaultCompressAbove; negative never compresses.
	CompressAbove int64
	// Logger receives diagnostics. Required.
	Logger *slog.Logger
	// OnFull, if set, is called (outside any lock) whenever the full flag of Stats
	// changes.
	OnFull func()
	// CacheBytes bounds the bodies of recently queued items kept in memory, so that an
	// uploader that keeps up never reads them back from the file. Default
	// DefaultCacheBytes; negative keeps none.
	CacheBytes int64
	// ReadAhead is the backlog beyond which a writer waits while the uploader keeps up
	// (it acknowledged an item within the last two seconds). Reading further ahead of a
	// working relay link gains nothing: the rows wait in the plant database as well as
	// here, and the batches that fit in the cache are sent without reading them back or
	// compressing them. When uploads stall, writers go on up to MaxBytes: that is what
	// the outbox is for. Default DefaultReadAhead; negative turns pacing off.
	ReadAhead int64
	// Now is the clock for the times the outbox stores; default time.Now.
	Now func() time.Time
}

// Outbox is an open outbox file. Its methods are safe for concurrent use.
type Outbox struct {
	db    *sql.DB
	opts  Options
	log   *slog.Logger
	epoch string       // distinguishes batch ids of this process from any earlier one
	next  atomic.Int64 // batch counter within the epoch

	// wmu serializes write transactions. SQLite allows one writer at a time anyway;
	// waiting here instead of on SQLite's busy handler keeps writers in order and
	// never fails a write for being busy.
	wmu sync.Mutex

	mu      sync.Mutex    // guards the fields below
	items   int64         // queued items
	batches int64         // queued batches
	bytes   int64         // stored bytes of queued items
	full    bool          // a writer waits for space
	added   chan struct{} // closed and replaced when an item is queued
	freed   chan struct{} // closed and replaced when an item leaves
	closed  bool
	// cache holds the uncompressed bodies of the most recently queued items, oldest
	// first in cacheOrder, cacheBytes in all.
	cache      map[int64][]byte
	cacheOrder []int64
	cacheBytes int64
	// lastAck is when Ack last removed an item.
	lastAck time.Time
}

// Open opens (creating if needed) the outbox at path.
//
// The file is in WAL mode with synchronous=NORMAL: a commit is in the operating
// system's hands when it returns, so a killed agent loses nothing; a power cut can
// lose the last commits, but whole ones only, and losing a whole commit loses nothing
// either: the watermark goes back with its batch, so the rows are read again, and an
// acknowledged batch that comes back is re-sent and changes nothing at the relay.
// Batch ids never repeat across such a rollback, since each process start draws a new
// random epoch for them. FULL would add an fsync to every batch for no gain.
//
// Pages are 64 KiB rather than 4 KiB: a batch is one record of up to about a megabyte,
// and SQLite stores, reads and frees it in half the time in a sixteenth of the pages.
func Open(path string, opts Options) (*Outbox, error) {
	if opts.Logger == nil {
		return nil, errors.New("open outbox: no logger")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.CompressAbove == 0 {
		opts.CompressAbove = DefaultCompressAbove
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.ReadAhead == 0 {
		opts.ReadAhead = DefaultReadAhead
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dsn := "file:" + path + "?_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	// A few connections: the writer, the uploader's reads, and a row-hash snapshot
	// that a read iterates while its batches are written.
	db.SetMaxOpenConns(6)
	db.SetMaxIdleConns(6)
	// An idle agent keeps no page caches of connections it does not use.
	db.SetConnMaxIdleTime(time.Minute)
	o := &Outbox{db: db, opts: opts, log: opts.Logger, added: make(chan struct{}), freed: make(chan struct{}),
		cache: map[int64][]byte{}}
	if err := o.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	var e [6]byte
	rand.Read(e[:])
	o.epoch = hex.EncodeToString(e[:])
	if err := db.QueryRow(`SELECT count(*), count(CASE WHEN kind = ? THEN 1 END), coalesce(sum(size), 0) FROM items`, KindBatch).
		Scan(&o.items, &o.batches, &o.bytes); err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: count items: %w", path, err)
	}
	return o, nil
}

// schema is version 1 of the file. The body is the last column of items so that
// reading the other columns never touches its overflow pages.
var schema = []string{
	// The page size must be set before WAL is, and WAL before the first table.
	`PRAGMA page_size = 65536`,
	// auto_vacuum must be chosen before the first table: it lets Ack give the space of
	// a drained backlog back to the file system.
	`PRAGMA auto_vacuum = INCREMENTAL`,
	`PRAGMA journal_mode = WAL`,
	`CREATE TABLE IF NOT EXISTS items (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		kind       INTEGER NOT NULL,
		id         TEXT    NOT NULL,
		model      TEXT    NOT NULL,
		records    INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		codec      INTEGER NOT NULL,
		size       INTEGER NOT NULL,
		body       BLOB    NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS models (
		model           TEXT PRIMARY KEY,
		watermark       TEXT NOT NULL DEFAULT '',
		full_sync_id    TEXT NOT NULL DEFAULT '',
		full_started_at INTEGER,
		last_full_at    INTEGER,
		last_success_at INTEGER
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS row_hashes (
		model     TEXT NOT NULL,
		remote_id TEXT NOT NULL,
		hash      TEXT NOT NULL,
		PRIMARY KEY (model, remote_id)
	) WITHOUT ROWID`,
	`PRAGMA user_version = 1`,
}

func (o *Outbox) migrate() error {
	// One connection: auto_vacuum applies to the connection that creates the tables.
	ctx := context.Background()
	conn, err := o.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var v int
	if err := conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch v {
	case 1:
		_, err := conn.ExecContext(ctx, `PRAGMA journal_mode = WAL`)
		return err
	case 0:
	default:
		return fmt.Errorf("schema version %d is newer than this agent (1): upgrade the agent", v)
	}
	for _, s := range schema {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	return nil
}

// Close closes the file. Writers waiting for space return an error.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.freed)
		close(o.added)
	}
	o.mu.Unlock()
	o.wmu.Lock()
	defer o.wmu.Unlock()
	return o.db.Close()
}

// ErrClosed is returned by calls on a closed outbox.
var ErrClosed = errors.New("outbox closed")

// Batch is one batch of one model as the syncer hands it over.
type Batch struct {
	Model string
	// Records is a JSON array of unified records (nil means an empty array).
	Records json.RawMessage
	// Count is the number of records in Records.
	Count int
	// Watermark is stored as the model's watermark with the batch.
	Watermark string
	// Hashes are row-hash updates stored with the batch (remote id → hash; "" forgets).
	Hashes map[string]string
	// FullSyncID names the full re-sync the batch belongs to, if any.
	FullSyncID string
	// FullSyncDone is sent to the relay: it marks every record of the model this full
	// re-sync did not carry as deleted.
	FullSyncDone bool
	// Final ends the model's full re-sync in progress (see BeginFullSync) in the same
	// transaction as the batch.
	Final bool
}

// Put queues b and stores its watermark and hashes in one transaction, and returns the
// batch id. When the queue is full it waits for space until ctx ends; once it has
// started writing, ctx no longer interrupts it, so a stopping agent finishes the batch
// in hand.
func (o *Outbox) Put(ctx context.Context, b Batch) (string, error) {
	id := "b_" + o.epoch + "_" + strconv.FormatInt(o.next.Add(1), 10)
	body, err := batchBody(id, b)
	if err != nil {
		return "", err
	}
	plain, stored, codec := body, body, codecNone
	if c := o.opts.CompressAbove; c >= 0 && o.backlog() >= c {
		stored, codec = deflate(body), codecDeflate
	}
	size := int64(len(stored))
	if err := o.waitSpace(ctx, size); err != nil {
		return "", err
	}
	o.wmu.Lock()
	defer o.wmu.Unlock()
	var seq int64
	err = o.inTx(func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO items (kind, id, model, records, created_at, codec, size, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			KindBatch, id, b.Model, b.Count, o.opts.Now().UnixMilli(), codec, size, stored)
		if err != nil {
			return fmt.Errorf("insert batch: %w", err)
		}
		if seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("insert batch: %w", err)
		}
		q := `INSERT INTO models (model, watermark) VALUES (?, ?) ON CONFLICT (model) DO UPDATE SET watermark = excluded.watermark`
		if b.Final {
			q = `INSERT INTO models (model, watermark) VALUES (?, ?) ON CONFLICT (model) DO UPDATE SET watermark = excluded.watermark,
				full_sync_id = '', full_started_at = NULL`
		}
		if _, err := tx.Exec(q, b.Model, b.Watermark); err != nil {
			return fmt.Errorf("store watermark: %w", err)
		}
		return putHashes(tx, b.Model, b.Hashes)
	})
	if err != nil {
		return "", fmt.Errorf("outbox put %s batch: %w", b.Model, err)
	}
	o.mu.Lock()
	o.items++
	o.batches++
	o.bytes += size
	o.cacheLocked(seq, plain)
	o.signalAddedLocked()
	o.mu.Unlock()
	return id, nil
}

// cacheLocked keeps body as item seq's, dropping the oldest bodies beyond CacheBytes.
func (o *Outbox) cacheLocked(seq int64, body []byte) {
	if int64(len(body)) > o.opts.CacheBytes {
		return
	}
	o.cache[seq] = body
	o.cacheOrder = append(o.cacheOrder, seq)
	o.cacheBytes += int64(len(body))
	for o.cacheBytes > o.opts.CacheBytes && len(o.cacheOrder) > 0 {
		o.uncacheLocked(o.cacheOrder[0])
	}
}

// uncacheLocked forgets item seq's body.
func (o *Outbox) uncacheLocked(seq int64) {
	b, ok := o.cache[seq]
	if !ok {
		return
	}
	delete(o.cache, seq)
	o.cacheBytes -= int64(len(b))
	if i := slices.Index(o.cacheOrder, seq); i >= 0 {
		o.cacheOrder = slices.Delete(o.cacheOrder, i, i+1)
	}
}

func putHashes(tx *sql.Tx, modelName string, hashes map[string]string) error {
	if len(hashes) == 0 {
		return nil
	}
	up, err := tx.Prepare(`INSERT INTO row_hashes (model, remote_id, hash) VALUES (?, ?, ?)
		ON CONFLICT (model, remote_id) DO UPDATE SET hash = excluded.hash`)
	if err != nil {
		return fmt.Errorf("store row hashes: %w", err)
	}
	defer up.Close()
	del, err := tx.Prepare(`DELETE FROM row_hashes WHERE model = ? AND remote_id = ?`)
	if err != nil {
		return fmt.Errorf("store row hashes: %w", err)
	}
	defer del.Close()
	for rid, h := range hashes {
		if h == "" {
			_, err = del.Exec(modelName, rid)
		} else {
			_, err = up.Exec(modelName, rid, h)
		}
		if err != nil {
			return fmt.Errorf("store row hash: %w", err)
		}
	}
	return nil
}

// batchBody is the wire.Batch JSON that the uploader sends as it is.
func batchBody(id string, b Batch) ([]byte, error) {
	head, err := json.Marshal(struct {
		BatchID      string `json:"batch_id"`
		Model        string `json:"model"`
		FullSyncID   string `json:"full_sync_id,omitempty"`
		FullSyncDone bool   `json:"full_sync_done,omitempty"`
	}{id, b.Model, b.FullSyncID, b.FullSyncDone})
	if err != nil {
		return nil, err
	}
	recs := bytes.TrimSpace(b.Records)
	if len(recs) == 0 {
		recs = []byte("[]")
	}
	if recs[0] != '[' {
		return nil, errors.New("outbox put: records are not a JSON array")
	}
	body := make([]byte, 0, len(head)+len(recs)+12)
	body = append(body, head[:len(head)-1]...)
	body = append(body, `,"records":`...)
	body = append(body, recs...)
	return append(body, '}'), nil
}

// PutState queues a sync-state message behind everything queued so far, so the relay
// learns that a run is done only after it has the run's batches. Queued states of the
// same model that the relay has not taken yet are dropped: each state is a full
// snapshot of the model's sync state, so the newest says all. A done state also
// records, for the scheduler after a restart, when the model last synced successfully
// and, for a full or initial run, when it last read everything.
//
// State messages are small and at most one per model is queued, so they do not wait
// for space: a run can always say how it ended.
func (o *Outbox) PutState(st wire.SyncState) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("outbox put state: %w", err)
	}
	id := "s_" + o.epoch + "_" + strconv.FormatInt(o.next.Add(1), 10)
	o.wmu.Lock()
	defer o.wmu.Unlock()
	var dropped, droppedBytes, seq int64
	var droppedSeqs []int64
	err = o.inTx(func(tx *sql.Tx) error {
		rows, err := tx.Query(`DELETE FROM items WHERE kind = ? AND model = ? RETURNING seq, size`, KindSyncState, st.Model)
		if err != nil {
			return fmt.Errorf("drop older states: %w", err)
		}
		for rows.Next() {
			var q, n int64
			if err := rows.Scan(&q, &n); err != nil {
				rows.Close()
				return err
			}
			droppedSeqs = append(droppedSeqs, q)
			dropped++
			droppedBytes += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res, err := tx.Exec(`INSERT INTO items (kind, id, model, records, created_at, codec, size, body) VALUES (?, ?, ?, 0, ?, ?, ?, ?)`,
			KindSyncState, id, st.Model, o.opts.Now().UnixMilli(), codecNone, len(body), body)
		if err != nil {
			return fmt.Errorf("insert state: %w", err)
		}
		if seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("insert state: %w", err)
		}
		if st.Status == wire.SyncDone && st.LastSuccessfulSyncAt != nil {
			var full any
			if (st.Full || st.IsInitialSync) && st.LastSyncStart != nil {
				full = st.LastSyncStart.UnixMilli()
			}
			if _, err := tx.Exec(`INSERT INTO models (model, last_success_at, last_full_at) VALUES (?, ?, ?)
				ON CONFLICT (model) DO UPDATE SET last_success_at = excluded.last_success_at,
					last_full_at = coalesce(excluded.last_full_at, models.last_full_at)`,
				st.Model, st.LastSuccessfulSyncAt.UnixMilli(), full); err != nil {
				return fmt.Errorf("store sync times: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox put %s state: %w", st.Model, err)
	}
	o.mu.Lock()
	o.items += 1 - dropped
	o.bytes += int64(len(body)) - droppedBytes
	for _, q := range droppedSeqs {
		o.uncacheLocked(q)
	}
	o.cacheLocked(seq, body)
	o.signalAddedLocked()
	if dropped > 0 {
		o.signalFreedLocked()
	}
	o.mu.Unlock()
	return nil
}

// inTx runs fn in one write transaction. It is not canceled by any caller's context:
// a transaction that has begun is finished, so a stop never leaves work half done.
func (o *Outbox) inTx(fn func(*sql.Tx) error) error {
	tx, err := o.db.Begin()
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (o *Outbox) backlog() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes
}

// waitSpace returns once size more bytes fit, or ctx ends. An empty queue takes any
// batch, so one larger than the limit cannot wedge the agent. Once full, the outbox
// stays full until the backlog is down to 90% of the limit, so that reading resumes in
// strides rather than one batch per acknowledgment (and the full flag does not flap).
func (o *Outbox) waitSpace(ctx context.Context, size int64) error {
	low := o.opts.MaxBytes / 10 * 9
	o.mu.Lock()
	for {
		if o.closed {
			o.mu.Unlock()
			return ErrClosed
		}
		if o.items == 0 || (o.bytes+size <= o.opts.MaxBytes && (!o.full || o.bytes <= low)) {
			if until, ok := o.pacedLocked(size); ok {
				freed := o.freed
				o.mu.Unlock()
				t := time.NewTimer(until)
				select {
				case <-freed:
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return context.Cause(ctx)
				}
				t.Stop()
				o.mu.Lock()
				continue
			}
			wasFull := o.full
			o.full = false
			bytes := o.bytes
			o.mu.Unlock()
			if wasFull {
				o.log.Info("outbox has space again; reading resumes", "bytes", bytes, "max_bytes", o.opts.MaxBytes)
				o.notifyFull()
			}
			return nil
		}
		if !o.full {
			o.full = true
			bytes, batches := o.bytes, o.batches
			o.mu.Unlock()
			o.log.Warn("outbox full; reading pauses until the relay takes batches", "bytes", bytes,
				"max_bytes", o.opts.MaxBytes, "batches", batches)
			o.notifyFull()
			o.mu.Lock()
			continue
		}
		freed := o.freed
		o.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		o.mu.Lock()
	}
}

// pacedLocked reports whether a writer of size bytes should wait for the uploader, which
// keeps up, and for how long at most before looking again.
func (o *Outbox) pacedLocked(size int64) (time.Duration, bool) {
	if o.opts.ReadAhead < 0 || o.items == 0 || o.bytes+size <= o.opts.ReadAhead || o.lastAck.IsZero() {
		return 0, false
	}
	left := keepingUp - time.Since(o.lastAck)
	return left, left > 0
}

func (o *Outbox) notifyFull() {
	if o.opts.OnFull != nil {
		o.opts.OnFull()
	}
}

func (o *Outbox) signalAddedLocked() {
	if !o.closed {
		close(o.added)
		o.added = make(chan struct{})
	}
}

func (o *Outbox) signalFreedLocked() {
	if !o.closed {
		close(o.freed)
		o.freed = make(chan struct{})
	}
}

// Item is one queued message, ready to send.
type Item struct {
	// Seq orders items; Ack takes it.
	Seq   int64
	Kind  Kind
	ID    string
	Model string
	// Records counts the records of a batch.
	Records int
	// Body is the JSON body to send (decompressed). It may be shared with the outbox's
	// cache: do not modify it.
	Body []byte
	// Created is when the item was queued.
	Created time.Time
}

// Peek returns the oldest queued item, and false when the queue is empty.
func (o *Outbox) Peek(ctx context.Context) (Item, bool, error) {
	return o.peekAfter(ctx, 0)
}

// peekAfter returns the oldest queued item after seq.
func (o *Outbox) peekAfter(ctx context.Context, seq int64) (Item, bool, error) {
	var it Item
	var codec int
	var created int64
	err := o.db.QueryRowContext(ctx, `SELECT seq, kind, id, model, records, created_at, codec FROM items WHERE seq > ? ORDER BY seq LIMIT 1`, seq).
		Scan(&it.Seq, &it.Kind, &it.ID, &it.Model, &it.Records, &created, &codec)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, false, nil
	}
	if err != nil {
		return Item{}, false, fmt.Errorf("outbox peek: %w", err)
	}
	it.Created = time.UnixMilli(created)
	o.mu.Lock()
	it.Body = o.cache[it.Seq]
	o.mu.Unlock()
	if it.Body != nil {
		return it, true, nil
	}
	err = o.db.QueryRowContext(ctx, `SELECT body FROM items WHERE seq = ?`, it.Seq).Scan(&it.Body)
	if errors.Is(err, sql.ErrNoRows) {
		// Gone meanwhile (a state replaced by a newer one): look again.
		return o.peekAfter(ctx, seq)
	}
	if err != nil {
		return Item{}, false, fmt.Errorf("outbox peek item %d: %w", it.Seq, err)
	}
	if codec == codecDeflate {
		if it.Body, err = inflate(it.Body); err != nil {
			return Item{}, false, fmt.Errorf("outbox peek item %d: %w", it.Seq, err)
		}
	}
	return it, true, nil
}

// Next waits for the oldest queued item until ctx ends.
func (o *Outbox) Next(ctx context.Context) (Item, error) {
	return o.NextAfter(ctx, 0)
}

// NextAfter waits for the oldest queued item after seq until ctx ends. An uploader that
// has item seq in flight uses it to read the next one meanwhile.
func (o *Outbox) NextAfter(ctx context.Context, seq int64) (Item, error) {
	for {
		o.mu.Lock()
		added, closed := o.added, o.closed
		o.mu.Unlock()
		if closed {
			return Item{}, ErrClosed
		}
		it, ok, err := o.peekAfter(ctx, seq)
		if err != nil || ok {
			return it, err
		}
		select {
		case <-added:
		case <-ctx.Done():
			return Item{}, context.Cause(ctx)
		}
	}
}

// Ack removes items the relay has acknowledged, in one transaction. Acknowledging an
// item that is gone already (a state replaced by a newer one) is not an error.
func (o *Outbox) Ack(seqs ...int64) error {
	if len(seqs) == 0 {
		return nil
	}
	var items, batches, bytes int64
	o.wmu.Lock()
	err := o.inTx(func(tx *sql.Tx) error {
		del, err := tx.Prepare(`DELETE FROM items WHERE seq = ? RETURNING kind, size`)
		if err != nil {
			return err
		}
		defer del.Close()
		for _, seq := range seqs {
			var kind Kind
			var size int64
			err := del.QueryRow(seq).Scan(&kind, &size)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			items++
			bytes += size
			if kind == KindBatch {
				batches++
			}
		}
		return nil
	})
	o.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("outbox ack: %w", err)
	}
	o.mu.Lock()
	o.items -= items
	o.batches -= batches
	o.bytes -= bytes
	if items > 0 {
		o.lastAck = time.Now()
	}
	for _, seq := range seqs {
		o.uncacheLocked(seq)
	}
	empty := o.items == 0
	if items > 0 {
		o.signalFreedLocked()
	}
	o.mu.Unlock()
	if empty {
		o.shrink()
	}
	return nil
}

// shrink gives the pages of a drained backlog back to the file system, a bounded step
// at a time so that an Ack never stalls long.
func (o *Outbox) shrink() {
	var free int64
	// In pages of 64 KiB: start at 16 MiB free, give back up to 64 MiB at a time.
	if err := o.db.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil || free < 256 {
		return
	}
	o.wmu.Lock()
	defer o.wmu.Unlock()
	if _, err := o.db.Exec(`PRAGMA incremental_vacuum(1024)`); err != nil {
		o.log.Debug("outbox shrink", "err", err)
	}
}

// Stats describes the queue.
type Stats struct {
	// Items counts queued items, Batches the batches among them.
	Items, Batches int64
	// Bytes is what they take as stored; MaxBytes the limit.
	Bytes, MaxBytes int64
	// Full means a writer waits for space.
	Full bool
}

// Stats returns the queue's counts.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{Items: o.items, Batches: o.batches, Bytes: o.bytes, MaxBytes: o.opts.MaxBytes, Full: o.full}
}

// ModelState is what the outbox keeps about one model.
type ModelState struct {
	Watermark string
	// FullSyncID is the full re-sync in progress, if any, and FullStartedAt its start.
	FullSyncID    string
	FullStartedAt time.Time
	// LastSuccessAt and LastFullAt are when the model last synced successfully, and
	// last read everything (a full or an initial sync); zero when never.
	LastSuccessAt, LastFullAt time.Time
}

// Models returns the stored state of every model the outbox knows.
func (o *Outbox) Models(ctx context.Context) (map[string]ModelState, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT model, watermark, full_sync_id, full_started_at, last_full_at, last_success_at FROM models`)
	if err != nil {
		return nil, fmt.Errorf("outbox models: %w", err)
	}
	defer rows.Close()
	out := map[string]ModelState{}
	for rows.Next() {
		var name string
		var st ModelState
		var started, full, success sql.NullInt64
		if err := rows.Scan(&name, &st.Watermark, &st.FullSyncID, &started, &full, &success); err != nil {
			return nil, fmt.Errorf("outbox models: %w", err)
		}
		st.FullStartedAt, st.LastFullAt, st.LastSuccessAt = msTime(started), msTime(full), msTime(success)
		out[name] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox models: %w", err)
	}
	return out, nil
}

func msTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

// Watermark returns the stored watermark of a model ("" when none).
func (o *Outbox) Watermark(ctx context.Context, modelName string) (string, error) {
	var wm string
	err := o.db.QueryRowContext(ctx, `SELECT watermark FROM models WHERE model = ?`, modelName).Scan(&wm)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("outbox watermark of %s: %w", modelName, err)
	}
	return wm, nil
}

// BeginFullSync records that a full re-sync id of a model has started, so that an
// agent restarted before its Final batch resumes it under the same id. A model whose
// full re-sync is already in progress keeps its id; BeginFullSync returns the id in
// force.
func (o *Outbox) BeginFullSync(modelName, id string) (string, error) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	var cur string
	err := o.inTx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO models (model, full_sync_id, full_started_at) VALUES (?, ?, ?)
			ON CONFLICT (model) DO UPDATE SET full_sync_id = excluded.full_sync_id, full_started_at = excluded.full_started_at
			WHERE models.full_sync_id = ''`, modelName, id, o.opts.Now().UnixMilli()); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT full_sync_id FROM models WHERE model = ?`, modelName).Scan(&cur)
	})
	if err != nil {
		return "", fmt.Errorf("outbox begin full sync of %s: %w", modelName, err)
	}
	return cur, nil
}

// Hash implements connectors.Snapshot.
func (o *Outbox) Hash(modelName, remoteID string) (string, bool, error) {
	var h string
	err := o.db.QueryRow(`SELECT hash FROM row_hashes WHERE model = ? AND remote_id = ?`, modelName, remoteID).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("outbox row hash: %w", err)
	}
	return h, true, nil
}

// Keys implements connectors.Snapshot. It iterates a snapshot of the keys as they were
// when it started; fn may queue batches meanwhile.
func (o *Outbox) Keys(modelName string, fn func(remoteID string) error) error {
	rows, err := o.db.Query(`SELECT remote_id FROM row_hashes WHERE model = ? ORDER BY remote_id`, modelName)
	if err != nil {
		return fmt.Errorf("outbox row hash keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rid string
		if err := rows.Scan(&rid); err != nil {
			return fmt.Errorf("outbox row hash keys: %w", err)
		}
		if err := fn(rid); err != nil {
			return err
		}
	}
	return rows.Err()
}

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
	return w
}}

func deflate(p []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(p) / 4)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&buf)
	w.Write(p)
	w.Close()
	deflaters.Put(w)
	return buf.Bytes()
}

func inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(p))
	defer r.Close()
	var buf bytes.Buffer
	buf.Grow(len(p) * 5)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	return buf.Bytes(), nil
}
