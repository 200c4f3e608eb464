package dialect

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	// Registers "pgx". Its rows come back as database/sql driver values:
	// integers as int64, numeric as its exact decimal text, timestamp and
	// date as time.Time, which is what Value expects.
	_ "github.com/jackc/pgx/v5/stdlib"
	// Registers "sqlite3"; needs cgo.
	_ "github.com/mattn/go-sqlite3"
	// Registers "sqlserver".
	_ "github.com/microsoft/go-mssqldb"
)

// Open opens a database/sql handle for the dialect. It does not connect;
// the first query (or PingContext) does. Oracle is opened by openOracle,
// which is only available in cgo builds.
func (d *Dialect) Open(dsn string) (*sql.DB, error) {
	var db *sql.DB
	var err error
	if d == Oracle {
		db, err = openOracle(dsn)
	} else {
		db, err = sql.Open(d.driver, dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.name, err)
	}
	// Between syncs the agent holds no session on the plant's database, nor the
	// memory of one: a connection idle this long is closed.
	db.SetConnMaxIdleTime(connMaxIdle)
	return db, nil
}

// connMaxIdle is how long a connection to the source database may stay idle.
const connMaxIdle = 5 * time.Minute

// IsPgError reports whether err carries a PostgreSQL server error and returns it.
func IsPgError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	ok := errors.As(err, &pe)
	return pe, ok
}
