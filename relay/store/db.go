package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	// Registers "pgx".
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
)

// dialect holds what differs between the databases; everything else is one
// SQL text. Queries are written with ? placeholders.
type dialect struct {
	name string
	// dollar rewrites ? placeholders as $1, $2, ….
	dollar bool
	// forUpdate locks the selected rows until commit. SQLite has no row
	// locks and needs none: its write transactions begin IMMEDIATE, so one
	// writer excludes all others.
	forUpdate string
	// skipLocked makes concurrent claimers take different rows instead of
	// queueing behind each other.
	skipLocked string
	// lockMigrations serializes replicas that start at once.
	lockMigrations string
	// timeType is the column type of times in schema_migrations.
	timeType string
	// timeArg converts a time to the value stored: microseconds since the
	// epoch in SQLite (an INTEGER compares and indexes exactly), timestamptz
	// in PostgreSQL.
	timeArg func(time.Time) any
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool

	rebound sync.Map // query text → rewritten text
}

var sqliteDialect = &dialect{
	name:     "sqlite",
	timeType: "INTEGER",
	timeArg:  func(t time.Time) any { return t.UnixMicro() },
	isUnique: func(err error) bool {
		var se sqlite3.Error
		return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
	},
}

var postgresDialect = &dialect{
	name:       "postgres",
	dollar:     true,
	forUpdate:  " FOR UPDATE",
	skipLocked: " FOR UPDATE SKIP LOCKED",
	// Any constant works as long as every relay uses the same one.
	lockMigrations: "SELECT pg_advisory_xact_lock(7418412133)",
	timeType:       "timestamptz",
	timeArg:        func(t time.Time) any { return t },
	isUnique: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505"
	},
}

// q rewrites a query for the dialect. Rewrites are cached: the set of query
// texts is small (the multi-row inserts vary only by their row count).
func (d *dialect) q(query string) string {
	if !d.dollar {
		return query
	}
	if v, ok := d.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	out := b.String()
	d.rebound.Store(query, out)
	return out
}

// sqlStore implements Store over database/sql for both dialects.
type sqlStore struct {
	d *dialect
	// w runs every write and every transaction. For SQLite it holds exactly
	// one connection, so writers queue in Go instead of spinning on
	// SQLITE_BUSY.
	w *sql.DB
	// r runs single-statement reads; on PostgreSQL it is w.
	r *sql.DB
	// listGate admits as many record lists at once as r has connections, in the
	// order they came: database/sql hands a freed connection to a random waiter,
	// which under load left some lists waiting many times as long as the rest.
	listGate chan struct{}
	log      *slog.Logger
	now      func() time.Time
	ids      idGen

	closeOnce sync.Once
	closeErr  error
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// migrates it to the latest schema.
func OpenSQLite(ctx context.Context, path string, opts Options) (Store, error) {
	s, err := openSQLite(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openSQLite(ctx context.Context, path string, opts Options) (*sqlStore, error) {
	// Created here so that the file, which holds credentials' hashes and
	// customer data, is private from the start; SQLite would create it 0644.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create sqlite database: %w", err)
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	// FULL sync makes a commit survive power loss: the agent deletes a batch
	// once the relay acknowledged it, so an acknowledged batch must not be
	// lost. Immediate transactions take the write lock at BEGIN, so a
	// transaction never fails upgrading from read to write.
	// Each connection keeps its prepared statements (_stmt_cache_size): the store
	// runs a few dozen statement texts over and over, and preparing the list
	// query took a twentieth of a page.
	w := sql.OpenDB(sqliteConnector{dsn: base + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=1&_synchronous=FULL&_txlock=immediate&_stmt_cache_size=64",
		pragmas: sqliteWriterPragmas})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r := sql.OpenDB(sqliteConnector{dsn: base + "?_busy_timeout=10000&_foreign_keys=1&_query_only=1&_stmt_cache_size=64"})
	n := opts.MaxOpenConns
	if n <= 0 {
		n = max(4, 2*runtime.GOMAXPROCS(0))
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := newSQLStore(sqliteDialect, w, r, opts)
	if err := s.open(ctx, opts.schemaVersion); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// sqliteMmapSize is how much of the database file SQLite maps into memory.
// Reads of mapped pages are memory accesses instead of a read system call
// and a copy into each connection's own page cache; with many readers on a
// large table that is most of the cost of a page of records. Address space
// is cheap on 64-bit systems, and pages beyond the map are read as usual.
const sqliteMmapSize = 1 << 30

// sqliteDriver applies the settings that go-sqlite3 has no DSN parameter for.
var sqliteDriver = &sqlite3.SQLiteDriver{
	ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA mmap_size = "+strconv.Itoa(sqliteMmapSize), nil)
		return err
	},
}

// sqliteWriterPragmas tune the one writing connection for batches of records.
// A batch of a thousand records with random ids touches about as many pages of
// the primary key index; in SQLite's default 2 MB cache they spill to the WAL
// in the middle of the transaction and are written again at commit. And with
// the default checkpoint every 1,000 pages (4 MB of WAL), nearly every batch
// copies its pages into the database file at once, where a page that later
// batches change again is copied again. A 32 MB cache and a checkpoint every
// 10,000 pages (a WAL of up to 40 MB) make ingest about 1.5 times as fast.
var sqliteWriterPragmas = []string{"cache_size = -32768", "wal_autocheckpoint = 10000"}

// sqliteConnector opens connections through sqliteDriver, without
// registering a driver name, and applies pragmas to each.
type sqliteConnector struct {
	dsn     string
	pragmas []string
}

// Connect implements driver.Connector.
func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := sqliteDriver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	for _, p := range c.pragmas {
		if _, err := conn.(*sqlite3.SQLiteConn).Exec("PRAGMA "+p, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("sqlite PRAGMA %s: %w", p, err)
		}
	}
	return conn, nil
}

// Driver implements driver.Connector.
func (c sqliteConnector) Driver() driver.Driver { return sqliteDriver }

// OpenPostgres opens the PostgreSQL database at dsn (a pgx connection string)
// and migrates it to the latest schema. Several relays may open one database
// at once.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (Store, error) {
	s, err := openPostgres(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string, opts Options) (*sqlStore, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 10
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := newSQLStore(postgresDialect, db, db, opts)
	if err := s.open(ctx, opts.schemaVersion); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func newSQLStore(d *dialect, w, r *sql.DB, opts Options) *sqlStore {
	s := &sqlStore{d: d, w: w, r: r, log: opts.Logger, now: opts.Now,
		listGate: make(chan struct{}, max(1, r.Stats().MaxOpenConnections))}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

func (s *sqlStore) open(ctx context.Context, version int) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to %s: %w", s.d.name, err)
	}
	if err := s.migrate(ctx, version); err != nil {
		return fmt.Errorf("migrate %s schema: %w", s.d.name, err)
	}
	return nil
}

// Close implements Store.
func (s *sqlStore) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.w.Close()
		if s.r != s.w {
			if err := s.r.Close(); s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// Ping implements Store.
func (s *sqlStore) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.name, err)
	}
	return nil
}

// clock returns the current time as stored: UTC, whole microseconds.
func (s *sqlStore) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// t converts a time for a query argument.
func (s *sqlStore) t(t time.Time) any {
	return s.d.timeArg(t.UTC().Truncate(time.Microsecond))
}

// nt converts an optional time for a query argument.
func (s *sqlStore) nt(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.t(*t)
}

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *sqlStore) exec(ctx context.Context, db queryer, query string, args ...any) (int64, error) {
	res, err := db.ExecContext(ctx, s.d.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *sqlStore) query(ctx context.Context, db queryer, query string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(ctx, s.d.q(query), args...)
}

func (s *sqlStore) queryRow(ctx context.Context, db queryer, query string, args ...any) *sql.Row {
	return db.QueryRowContext(ctx, s.d.q(query), args...)
}

// inTx runs fn in a write transaction, committing when it returns nil.
func (s *sqlStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// scanTime scans a time column of either dialect: INTEGER microseconds from
// SQLite, time.Time from PostgreSQL. NULL scans as the zero time.
type scanTime struct{ dst *time.Time }

// Scan implements sql.Scanner.
func (x scanTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*x.dst = time.Time{}
	case int64:
		*x.dst = time.UnixMicro(v).UTC()
	case time.Time:
		*x.dst = v.UTC()
	default:
		return fmt.Errorf("scan time from %T", v)
	}
	return nil
}

// scanNullTime is scanTime for a nullable column.
type scanNullTime struct{ dst **time.Time }

// Scan implements sql.Scanner.
func (x scanNullTime) Scan(v any) error {
	if v == nil {
		*x.dst = nil
		return nil
	}
	var t time.Time
	if err := (scanTime{&t}).Scan(v); err != nil {
		return err
	}
	*x.dst = &t
	return nil
}

// pageLimit validates a page size.
func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, fmt.Errorf("%w: page size %d not in 1..%d", ErrInvalid, n, MaxPageSize)
	}
	return n, nil
}

// intCursor parses the cursor of a list ordered by an integer id.
func intCursor(after string) (int64, error) {
	if after == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(after, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: cursor %q", ErrInvalid, after)
	}
	return n, nil
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// valuesRows returns "(?, ?), (?, ?), …": rows of cols marks each.
func valuesRows(rows, cols int) string {
	row := "(" + placeholders(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// idAlphabet is Crockford's base32 in lower case: ascending in ASCII, so ids
// sort in the order of their bytes.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// idGen makes ids that sort by creation time: 48 bits of milliseconds, then
// 80 random bits, incremented instead of redrawn within one millisecond so
// that ids made by one process are strictly increasing. Keyset pagination
// by id is then creation order without a second sort column.
type idGen struct {
	mu     sync.Mutex // guards the fields below
	lastMS int64
	last   [10]byte
}

func (g *idGen) next(prefix string, now time.Time) string {
	ms := now.UnixMilli()
	g.mu.Lock()
	if ms <= g.lastMS {
		ms = g.lastMS
		for i := len(g.last) - 1; i >= 0; i-- {
			g.last[i]++
			if g.last[i] != 0 {
				break
			}
		}
	} else {
		g.lastMS = ms
		rand.Read(g.last[:])
		// Leave headroom so that increments within one millisecond
		// practically never wrap.
		g.last[0] &= 0x7f
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ms)<<16)
	copy(b[6:], g.last[:])
	g.mu.Unlock()
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// newID returns a fresh id with the given prefix.
func (s *sqlStore) newID(prefix string) string {
	return s.ids.next(prefix, s.now())
}

// newSecret returns prefix and 32 random bytes in base64url: 256 bits, so a
// plain SHA-256 of it is a safe verifier (there is nothing to brute-force).
func newSecret(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
