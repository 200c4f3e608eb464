package demodb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" database/sql driver
)

// Dialect names the SQL database a demo plant lives in.
type Dialect string

// The dialects a demo database can be created in.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// sqliteTime is how timestamps are stored on SQLite, which has no date type:
// sortable text in local time without a zone, as the real systems store them.
const sqliteTime = "2006-01-02 15:04:05"

// DB is a connection to a demo database. SQLite goes through database/sql;
// PostgreSQL goes through a pgx connection so that bulk loads can use COPY.
type DB struct {
	dialect Dialect
	sql     *sql.DB   // SQLite
	pg      *pgx.Conn // PostgreSQL
	owned   bool      // Close closes the underlying handle
}

// Open opens the demo database target with driver "sqlite" (target is a file
// name) or "postgres" (target is a DSN).
func Open(ctx context.Context, driver, target string) (*DB, error) {
	switch Dialect(driver) {
	case SQLite:
		// One connection: the load PRAGMAs are per connection, and a single
		// writer never waits on its own locks.
		sdb, err := sql.Open("sqlite3", "file:"+target+"?_busy_timeout=10000&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", target, err)
		}
		sdb.SetMaxOpenConns(1)
		if err := sdb.PingContext(ctx); err != nil {
			sdb.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", target, err)
		}
		// WAL lets the agent read while the mutator writes.
		if _, err := sdb.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
			sdb.Close()
			return nil, fmt.Errorf("set WAL on %s: %w", target, err)
		}
		return &DB{dialect: SQLite, sql: sdb, owned: true}, nil
	case Postgres:
		conn, err := pgx.Connect(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		return &DB{dialect: Postgres, pg: conn, owned: true}, nil
	default:
		return nil, fmt.Errorf("unknown driver %q (want sqlite or postgres)", driver)
	}
}

// FromSQLite wraps an open SQLite handle. The caller keeps ownership; it should
// limit the handle to one connection if it wants the load PRAGMAs to apply.
func FromSQLite(db *sql.DB) *DB { return &DB{dialect: SQLite, sql: db} }

// FromPgx wraps an open PostgreSQL connection. The caller keeps ownership.
func FromPgx(conn *pgx.Conn) *DB { return &DB{dialect: Postgres, pg: conn} }

// Dialect reports which SQL database db is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the connection if Open made it.
func (db *DB) Close() error {
	if !db.owned {
		return nil
	}
	if db.sql != nil {
		return db.sql.Close()
	}
	return db.pg.Close(context.Background())
}

// execer runs statements on a database or inside a transaction, with "?"
// placeholders in either dialect.
type execer interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// query calls fn for each row; the slice is reused between rows.
	query(ctx context.Context, query string, args []any, fn func(row []any) error) error
}

func (db *DB) execer() execer {
	if db.sql != nil {
		return sqlExec{db.sql}
	}
	return pgExec{db.pg}
}

// inTx runs fn in one transaction.
func (db *DB) inTx(ctx context.Context, fn func(execer) error) error {
	if db.sql != nil {
		tx, err := db.sql.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(sqlExec{tx}); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	tx, err := db.pg.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(pgExec{tx}); err != nil {
		tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type sqlExec struct{ c sqlConn }

func (e sqlExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := e.c.ExecContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (e sqlExec) query(ctx context.Context, q string, args []any, fn func([]any) error) error {
	rows, err := e.c.QueryContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sqliteArgs stores times as the text the schema declares.
func sqliteArgs(args []any) []any {
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			args[i] = t.Format(sqliteTime)
		}
	}
	return args
}

// pgHandle is what *pgx.Conn and pgx.Tx have in common.
type pgHandle interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type pgExec struct{ c pgHandle }

func (e pgExec) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := e.c.Exec(ctx, rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (e pgExec) query(ctx context.Context, q string, args []any, fn func([]any) error) error {
	rows, err := e.c.Query(ctx, rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// rebind turns "?" placeholders into PostgreSQL's "$n". The statements of
// this package never contain a literal question mark.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// queryInt returns the single integer a query yields (0 for NULL).
func queryInt(ctx context.Context, e execer, q string, args ...any) (int64, error) {
	var n int64
	err := e.query(ctx, q, args, func(row []any) error {
		v, err := toInt(row[0])
		n = v
		return err
	})
	return n, err
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	default:
		return 0, fmt.Errorf("not an integer: %T", v)
	}
}

// queryStrings returns the rows of a query with every value as text; NULL is
// reported as ok=false in the parallel slice. Selected columns should be cast
// to text in SQL so that both dialects format values identically.
func queryStrings(ctx context.Context, e execer, q string, args ...any) ([][]string, error) {
	var out [][]string
	err := e.query(ctx, q, args, func(row []any) error {
		r := make([]string, len(row))
		for i, v := range row {
			switch x := v.(type) {
			case nil:
				r[i] = "\x00"
			case string:
				r[i] = x
			case time.Time:
				r[i] = x.Format(sqliteTime)
			default:
				r[i] = fmt.Sprint(x)
			}
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
