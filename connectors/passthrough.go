package connectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/plantbridge/plantbridge/connectors/dialect"
)

// Passthrough runs one read-only SQL statement that a person wrote, for the
// plant's own questions that no model answers. How "read-only" is enforced
// depends on what each database offers:
//
//   - SQLite: the statement runs on a handle of its own, opened read-only
//     (mode=ro), with PRAGMA query_only on and an authorizer that allows
//     only reads (SELECT, reading tables, functions, a few schema pragmas):
//     writes, DDL, ATTACH, VACUUM INTO (which could write a copy of the
//     database to any file even from a read-only handle) and pragmas that
//     change the connection are refused by SQLite itself.
//   - PostgreSQL: a READ ONLY transaction that is always rolled back, so
//     settings the statement changes (SET, set_config) vanish with it, and a
//     statement_timeout as well as the context deadline. PostgreSQL refuses
//     writes to tables, sequences and DDL in it. It does not stop functions
//     whose effects are outside the transaction (advisory locks,
//     pg_terminate_backend, and for superusers lo_export or COPY TO a file):
//     the agent's database user should not hold such privileges. COPY is
//     refused before it runs.
//   - SQL Server has no read-only transaction. The statement must start with
//     SELECT or WITH and may not contain a keyword that writes, changes the
//     schema or runs code (INSERT, UPDATE, DELETE, MERGE, INTO, EXEC, …,
//     outside quotes and comments); it runs in a transaction that is always
//     rolled back. A function with side effects called from a SELECT cannot
//     be detected: give the agent a login that only reads (db_datareader).
//   - Oracle: SET TRANSACTION READ ONLY (refuses DML), the same keyword rules
//     as SQL Server (DDL commits implicitly and PL/SQL blocks can do
//     anything), and a rollback. A function declared as an autonomous
//     transaction can still write: give the agent a user that only reads.
//
// On every database the text must be a single statement: a semicolon
// followed by more SQL (outside quotes and comments) is refused, since the
// drivers of SQLite and SQL Server would run the rest.

// PassthroughRequest is one statement with its bound parameters. Parameters
// use the dialect's placeholders: ? for SQLite, $1 for PostgreSQL, @p1 for
// SQL Server, :1 for Oracle.
type PassthroughRequest struct {
	SQL    string
	Params []any
	// MaxRows caps the rows returned; default 100.
	MaxRows int
	// Timeout caps the statement's run time; default 10 s, at most 60 s.
	Timeout time.Duration
}

// Passthrough limits.
const (
	DefaultPassthroughRows    = 100
	DefaultPassthroughTimeout = 10 * time.Second
	MaxPassthroughTimeout     = 60 * time.Second
)

// PassthroughResult holds the rows of a passthrough statement as
// JSON-friendly values: strings, int64, uint64, float64 (NaN and infinities
// as strings), bool, nil, []byte for binary columns (base64 in JSON), and
// times as RFC 3339 strings in UTC (times without a zone are read in the
// connection's time zone, as records are).
type PassthroughResult struct {
	Columns   []string
	Rows      [][]any
	Truncated bool
}

// Errors of Passthrough that a caller answers with a code of its own. They
// come wrapped in an *Error.
var (
	// ErrNotReadOnly: the statement tried to change something.
	ErrNotReadOnly = errors.New("passthrough statements may only read")
	// ErrMultipleStatements: the text holds more than one statement.
	ErrMultipleStatements = errors.New("passthrough takes exactly one statement")
	// ErrStatementTimeout: the statement ran past its time limit.
	ErrStatementTimeout = errors.New("statement ran past its time limit")
)

// StatementError is a passthrough statement refused before it reached the database.
// Its text is the connector's own, safe to show to the statement's author.
type StatementError struct{ Err error }

func (e *StatementError) Error() string { return e.Err.Error() }

func (e *StatementError) Unwrap() error { return e.Err }

// Passthrough runs req.SQL read-only; see the comment above PassthroughRequest
// for what each database enforces.
func (c *SQLConnector) Passthrough(ctx context.Context, req PassthroughRequest) (*PassthroughResult, error) {
	const op = "passthrough"
	q, err := checkPassthrough(c.d, req.SQL)
	if err != nil {
		return nil, &Error{Class: BadRequest, Op: op, Err: &StatementError{Err: err}}
	}
	req.SQL = q
	if req.MaxRows <= 0 {
		req.MaxRows = DefaultPassthroughRows
	}
	if req.Timeout <= 0 {
		req.Timeout = DefaultPassthroughTimeout
	}
	req.Timeout = min(req.Timeout, MaxPassthroughTimeout)
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()

	var res *PassthroughResult
	if c.d == dialect.SQLite {
		res, err = c.passthroughSQLite(ctx, req)
	} else {
		res, err = c.passthroughTx(ctx, req)
	}
	if err == nil {
		return res, nil
	}
	switch {
	case errors.Is(err, ErrNotReadOnly):
		return nil, &Error{Class: BadRequest, Op: op, Err: err}
	case writeRefused(err):
		return nil, &Error{Class: BadRequest, Op: op, Err: fmt.Errorf("%w (%w)", ErrNotReadOnly, err)}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || statementCanceled(err):
		return nil, &Error{Class: Busy, Op: op, Err: fmt.Errorf("%w of %s (%w)", ErrStatementTimeout, req.Timeout, err)}
	case sqliteStatementError(err):
		return nil, &Error{Class: BadRequest, Op: op, Err: err}
	}
	return nil, wrap(op, "", err)
}

// Ping checks that the database answers.
func (c *SQLConnector) Ping(ctx context.Context) error {
	return wrap("ping", "", c.db.PingContext(ctx))
}

// passthroughTx runs the statement in a transaction that is always rolled
// back: read-only where the database has such a thing.
func (c *SQLConnector) passthroughTx(ctx context.Context, req PassthroughRequest) (*PassthroughResult, error) {
	// go-mssqldb refuses ReadOnly; SQL Server relies on the keyword rules.
	tx, err := c.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: c.d != dialect.SQLServer})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if c.d == dialect.Postgres {
		// The server's own limit holds even if the cancel request the
		// driver sends on the deadline is lost. Running a query first also
		// takes the transaction's snapshot, after which PostgreSQL refuses
		// SET TRANSACTION READ WRITE.
		ms := strconv.FormatInt(req.Timeout.Milliseconds(), 10)
		if _, err := tx.ExecContext(ctx, `SELECT set_config('statement_timeout', $1, true)`, ms); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, req.SQL, req.Params...)
	if err != nil {
		return nil, err
	}
	return c.collect(rows, req.MaxRows)
}

// readOnlySQLite is the database/sql driver name of read-only SQLite handles.
const readOnlySQLite = "sqlite3_plantbridge_readonly"

func init() {
	sql.Register(readOnlySQLite, &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		if _, err := conn.Exec("PRAGMA query_only = ON", nil); err != nil {
			return err
		}
		conn.RegisterAuthorizer(readOnlyAuthorizer)
		return nil
	}})
}

// SQLite authorizer action codes that reads need. SQLITE_RECURSIVE (33,
// for WITH RECURSIVE) has no constant in go-sqlite3.
const sqliteRecursive = 33

// readPragmas are the pragmas a passthrough statement may use: they read the
// schema and change nothing.
var readPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true,
	"index_info": true, "index_xinfo": true, "foreign_key_list": true,
}

func readOnlyAuthorizer(action int, arg1, _, _ string) int {
	switch action {
	case sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqliteRecursive:
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_PRAGMA:
		if readPragmas[strings.ToLower(arg1)] {
			return sqlite3.SQLITE_OK
		}
	}
	return sqlite3.SQLITE_DENY
}

// passthroughSQLite runs the statement on a read-only handle of its own:
// go-sqlite3 does not enforce read-only transactions. Opening a SQLite file
// takes a millisecond, and passthrough is rare, so the handle lives for one
// statement and nothing needs closing later.
func (c *SQLConnector) passthroughSQLite(ctx context.Context, req PassthroughRequest) (*PassthroughResult, error) {
	dsn, err := readOnlyDSN(c.cfg.DSN)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(readOnlySQLite, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, req.SQL, req.Params...)
	if err != nil {
		return nil, err
	}
	return c.collect(rows, req.MaxRows)
}

// readOnlyDSN turns a SQLite DSN (a path or a file: URI, with go-sqlite3's
// parameters) into a URI that opens the same file read-only.
func readOnlyDSN(dsn string) (string, error) {
	if dsn == "" {
		return "", errors.New("passthrough needs the connection's DSN")
	}
	path, query, _ := strings.Cut(dsn, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlite DSN parameters: %w", err)
	}
	if !strings.HasPrefix(path, "file:") {
		p := filepath.ToSlash(path)
		if runtime.GOOS == "windows" && filepath.VolumeName(path) != "" {
			p = "/" + p
		}
		// A URI path escapes what would end it or start an escape.
		p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
		path = "file:" + p
	}
	// An in-memory database is not a file: it keeps its mode (a second
	// handle could not see it read-only), and query_only and the authorizer
	// still hold.
	if params.Get("mode") != "memory" {
		params.Set("mode", "ro")
	}
	return path + "?" + params.Encode(), nil
}

// collect reads up to max rows, converting each value for JSON.
func (c *SQLConnector) collect(rows *sql.Rows, max int) (*PassthroughResult, error) {
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &PassthroughResult{Columns: make([]string, len(types)), Rows: [][]any{}}
	kinds := make([]dialect.Kind, len(types))
	for i, t := range types {
		res.Columns[i] = t.Name()
		kinds[i] = c.d.KindOf(t.DatabaseTypeName())
	}
	raw := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if len(res.Rows) == max {
			res.Truncated = true
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(raw))
		for i, v := range raw {
			row[i] = jsonFriendly(kinds[i], v, c.loc)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// jsonFriendly converts a driver value of a column of kind k for JSON.
func jsonFriendly(k dialect.Kind, v any, loc *time.Location) any {
	switch x := v.(type) {
	case time.Time:
		if k == dialect.KindTime || k == dialect.KindDate {
			x = dialect.LocalToUTC(x, loc)
		}
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		if k == dialect.KindBinary || k == dialect.KindRowversion || !utf8.Valid(x) {
			return append([]byte(nil), x...)
		}
		// Text and decimals that some drivers (SQL Server) hand over as bytes.
		return string(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case float32:
		return jsonFriendly(k, float64(x), loc)
	}
	return v
}

// writeRefused tells whether err is the database refusing a write because
// the handle or transaction is read-only.
func writeRefused(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrAuth || se.Code == sqlite3.ErrReadonly
	}
	if pe, ok := dialect.IsPgError(err); ok {
		return pe.Code == "25006" // read_only_sql_transaction
	}
	m := oraCode.FindStringSubmatch(err.Error())
	return m != nil && m[1] == "01456" // may not perform insert/delete/update inside a READ ONLY transaction
}

// sqliteStatementError tells whether err is SQLite's generic SQL error (a syntax
// error, an unknown table or column), which for a statement a person wrote is the
// statement's fault; elsewhere it would be the mapping's or the database's.
func sqliteStatementError(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrError
}

// statementCanceled tells whether the server stopped the statement at its
// statement_timeout.
func statementCanceled(err error) bool {
	pe, ok := dialect.IsPgError(err)
	return ok && pe.Code == "57014"
}

// writeKeywords are refused anywhere in a statement on databases without a
// read-only mode of their own: they write, change the schema, manage
// transactions or run code.
var writeKeywords = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "UPSERT": true, "INTO": true,
	"CREATE": true, "ALTER": true, "DROP": true, "TRUNCATE": true, "RENAME": true, "COMMENT": true,
	"GRANT": true, "REVOKE": true, "DENY": true, "EXEC": true, "EXECUTE": true, "CALL": true,
	"BEGIN": true, "DECLARE": true, "COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "SAVE": true,
	"SET": true, "USE": true, "DBCC": true, "BACKUP": true, "RESTORE": true, "BULK": true,
	"OPENROWSET": true, "OPENDATASOURCE": true, "OPENQUERY": true, "SHUTDOWN": true, "KILL": true,
	"RECONFIGURE": true, "LOCK": true, "PURGE": true, "FLASHBACK": true, "AUDIT": true, "NOAUDIT": true,
	"ANALYZE": true,
}

// checkPassthrough refuses what must not reach the database: empty text,
// several statements, and what each dialect's read-only mode does not
// cover (see the comment above PassthroughRequest).
//
// It returns the statement without its final semicolon and what follows:
// go-sqlite3 runs the text after a semicolon, even a lone comment, as a
// statement of its own and returns that one's (empty) rows.
func checkPassthrough(d *dialect.Dialect, q string) (string, error) {
	words, end, multi, err := scanSQL(d, q)
	if err != nil {
		return "", err
	}
	if len(words) == 0 {
		return "", errors.New("the statement is empty")
	}
	if multi {
		return "", ErrMultipleStatements
	}
	q = q[:end]
	first := words[0]
	switch d {
	case dialect.Postgres:
		if first == "COPY" {
			return "", fmt.Errorf("%w: COPY can write files on the database server", ErrNotReadOnly)
		}
	case dialect.SQLite:
		// The read-only handle's authorizer decides.
	default:
		if first != "SELECT" && first != "WITH" {
			return "", fmt.Errorf("%w: on %s a statement must start with SELECT or WITH", ErrNotReadOnly, d.Name())
		}
		for _, w := range words {
			if writeKeywords[w] {
				return "", fmt.Errorf("%w: %s is not allowed on %s", ErrNotReadOnly, w, d.Name())
			}
		}
	}
	return q, nil
}

// scanSQL reads q as the dialect would far enough to find its words (upper
// case, outside quotes, quoted identifiers and comments), where the first
// statement ends (its semicolon, or the end of q), and whether SQL follows a
// semicolon. It understands '…' strings with doubled quotes,
// PostgreSQL E'…' escapes and $tag$…$tag$ bodies, Oracle q'[…]' strings,
// "…" identifiers, […] and `…` identifiers where the dialect has them, and
// -- and /* */ comments (nested in PostgreSQL).
func scanSQL(d *dialect.Dialect, q string) (words []string, end int, multi bool, err error) {
	end = len(q)
	ended := false // a semicolon was seen
	i := 0
	n := len(q)
	for i < n {
		ch := q[i]
		if ended && !isSpace(ch) && !(ch == '-' && i+1 < n && q[i+1] == '-') && !(ch == '/' && i+1 < n && q[i+1] == '*') && ch != ';' {
			return words, end, true, nil
		}
		switch {
		case isSpace(ch):
			i++
		case ch == ';':
			if !ended {
				end = i
			}
			ended = true
			i++
		case ch == '-' && i+1 < n && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				i = n
			} else {
				i += j + 1
			}
		case ch == '/' && i+1 < n && q[i+1] == '*':
			depth := 1
			j := i + 2
			for depth > 0 {
				if j+1 >= n {
					return nil, 0, false, errors.New("unterminated /* comment")
				}
				switch {
				case q[j] == '*' && q[j+1] == '/':
					depth--
					j += 2
				case d == dialect.Postgres && q[j] == '/' && q[j+1] == '*':
					depth++
					j += 2
				default:
					j++
				}
			}
			i = j
		case ch == '\'':
			backslash := d == dialect.Postgres && i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i == 1 || !isWordByte(q[i-2]))
			j, err := endOfString(q, i+1, backslash)
			if err != nil {
				return nil, 0, false, err
			}
			i = j
		case ch == '"':
			j, err := endOfString2(q, i+1, '"')
			if err != nil {
				return nil, 0, false, err
			}
			i = j
		case ch == '`' && d == dialect.SQLite:
			j, err := endOfString2(q, i+1, '`')
			if err != nil {
				return nil, 0, false, err
			}
			i = j
		case ch == '[' && (d == dialect.SQLServer || d == dialect.SQLite):
			j, err := endOfString2(q, i+1, ']')
			if err != nil {
				return nil, 0, false, err
			}
			i = j
		case ch == '$' && d == dialect.Postgres && dollarTag(q[i:]) != "":
			tag := dollarTag(q[i:])
			j := strings.Index(q[i+len(tag):], tag)
			if j < 0 {
				return nil, 0, false, fmt.Errorf("unterminated dollar-quoted string %s", tag)
			}
			i += 2*len(tag) + j
		case isWordByte(ch) && !(ch >= '0' && ch <= '9'):
			j := i
			for j < n && isWordByte(q[j]) {
				j++
			}
			w := strings.ToUpper(q[i:j])
			if d == dialect.Oracle && (w == "Q" || w == "NQ") && j+2 < n && q[j] == '\'' {
				end, err := endOfQQuote(q, j)
				if err != nil {
					return nil, 0, false, err
				}
				i = end
				continue
			}
			words = append(words, w)
			i = j
		default:
			i++
		}
	}
	return words, end, false, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c == '#' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// endOfString returns the index after the '…' string whose body starts at
// from; a doubled quote stays inside, and so does \' when backslash is set.
func endOfString(q string, from int, backslash bool) (int, error) {
	for j := from; j < len(q); j++ {
		switch {
		case backslash && q[j] == '\\':
			j++
		case q[j] == '\'':
			if j+1 < len(q) && q[j+1] == '\'' {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

// endOfString2 is endOfString for quoted identifiers closed by end, which
// is escaped by doubling.
func endOfString2(q string, from int, end byte) (int, error) {
	for j := from; j < len(q); j++ {
		if q[j] == end {
			if j+1 < len(q) && q[j+1] == end {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated quoted identifier (%c)", end)
}

// dollarTag returns the $tag$ that s starts with, or "" (a $1 parameter).
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1]
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > 1 && c >= '0' && c <= '9'):
		default:
			return ""
		}
	}
	return ""
}

// endOfQQuote reads an Oracle q'<d>…<d>' string from the quote at i.
func endOfQQuote(q string, i int) (int, error) {
	open := q[i+1]
	closer := map[byte]byte{'[': ']', '(': ')', '{': '}', '<': '>'}[open]
	if closer == 0 {
		closer = open
	}
	j := strings.Index(q[i+2:], string([]byte{closer, '\''}))
	if j < 0 {
		return 0, errors.New("unterminated q'…' string")
	}
	return i + 2 + j + 2, nil
}
