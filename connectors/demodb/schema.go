package demodb

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// kind is a column's logical type, mapped onto each dialect by ddlType.
type kind int

const (
	kVarchar  kind = iota // VARCHAR(n)
	kInt                  // INTEGER
	kBigint               // BIGINT (INTEGER on SQLite)
	kNumeric              // NUMERIC(p,s)
	kDatetime             // TIMESTAMP without zone; text on SQLite
	kFlag                 // Yes/No stored as 0/1, the Maximo convention
	kFloat                // DOUBLE PRECISION: SAP's FLTP
)

type column struct {
	name    string
	kind    kind
	size    int // varchar length, numeric precision
	scale   int // numeric scale
	notNull bool
}

type index struct {
	name   string
	cols   []string
	unique bool
}

// table describes one table of a demo system and how to fill it.
type table struct {
	name string
	cols []column
	// key is the row's natural key. It becomes a unique index named
	// <name>_NDX1, or with pk a PRIMARY KEY, whichever the system uses.
	key     []string
	pk      bool
	indexes []index
	// stamp names the column the loader fills from the global ROWSTAMP
	// sequence; "" for systems without one.
	stamp string
	// rows yields the table's rows in column order; the slice may be reused.
	rows func(g *gen) iter.Seq[[]any]
}

var colSpec = regexp.MustCompile(`^([A-Z0-9_]+)\s+(varchar|int|bigint|numeric|datetime|flag|float)(?:\((\d+)(?:,(\d+))?\))?(!?)$`)

// cols parses a compact column list: "NAME type[(n[,s])][!]" separated by
// commas, where ! marks NOT NULL. The list reads like the data dictionary it
// comes from, which is easier to check than a struct literal per column.
func cols(spec string) []column {
	var out []column
	// Split on commas outside parentheses: numeric(10,2) is one column.
	var parts []string
	depth, from := 0, 0
	for i, r := range spec {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, spec[from:i])
				from = i + 1
			}
		}
	}
	parts = append(parts, spec[from:])
	for _, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		m := colSpec.FindStringSubmatch(part)
		if m == nil {
			panic("demodb: bad column spec " + strconv.Quote(part))
		}
		c := column{name: m[1], notNull: m[5] == "!"}
		c.kind = map[string]kind{"varchar": kVarchar, "int": kInt, "bigint": kBigint, "numeric": kNumeric, "datetime": kDatetime, "flag": kFlag, "float": kFloat}[m[2]]
		c.size, _ = strconv.Atoi(m[3])
		c.scale, _ = strconv.Atoi(m[4])
		out = append(out, c)
	}
	return out
}

func (t *table) colIndex(name string) int {
	for i, c := range t.cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

func ddlType(d Dialect, c column) string {
	switch c.kind {
	case kVarchar:
		return fmt.Sprintf("varchar(%d)", c.size)
	case kInt:
		return "integer"
	case kBigint:
		if d == SQLite {
			return "integer"
		}
		return "bigint"
	case kNumeric:
		return fmt.Sprintf("numeric(%d,%d)", c.size, c.scale)
	case kDatetime:
		if d == SQLite {
			return "text"
		}
		return "timestamp without time zone"
	case kFlag:
		if d == SQLite {
			return "integer"
		}
		return "smallint"
	case kFloat:
		return "double precision"
	}
	panic("demodb: unknown kind")
}

// qi quotes an identifier. Names are created quoted in upper case on both
// dialects so that PostgreSQL keeps WORKORDER rather than folding it to
// workorder, as a real Maximo, EAM or SAP schema would be named.
func qi(name string) string { return `"` + name + `"` }

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = qi(n)
	}
	return strings.Join(q, ", ")
}

func createTableSQL(d Dialect, t *table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "create table %s (\n", qi(t.name))
	for i, c := range t.cols {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  %s %s", qi(c.name), ddlType(d, c))
		if c.notNull {
			b.WriteString(" not null")
		}
	}
	if t.pk {
		fmt.Fprintf(&b, ",\n  constraint %s primary key (%s)", qi(t.name+"_PK"), quoteList(t.key))
	}
	b.WriteString("\n)")
	return b.String()
}

// indexSQL returns the table's indexes. They are created after the load,
// which is several times faster than maintaining them row by row.
func indexSQL(t *table) []string {
	var out []string
	all := t.indexes
	if !t.pk {
		all = append([]index{{name: t.name + "_NDX1", cols: t.key, unique: true}}, all...)
	}
	for _, ix := range all {
		u := ""
		if ix.unique {
			u = "unique "
		}
		out = append(out, fmt.Sprintf("create %sindex %s on %s (%s)", u, qi(ix.name), qi(t.name), quoteList(ix.cols)))
	}
	return out
}

// identRE matches the upper-case identifiers and the string literals of
// this package's statements; keywords are written in lower case, so every
// upper-case word outside a literal is a table or column name.
var identRE = regexp.MustCompile(`'[^']*'|\b[A-Z][A-Z0-9_]*\b`)

var quotedSQL sync.Map // statement -> statement with identifiers quoted

// sq quotes the identifiers of a statement for both dialects (see qi).
func sq(q string) string {
	if v, ok := quotedSQL.Load(q); ok {
		return v.(string)
	}
	out := identRE.ReplaceAllStringFunc(q, func(m string) string {
		if m[0] == '\'' {
			return m
		}
		return `"` + m + `"`
	})
	quotedSQL.Store(q, out)
	return out
}

// loader writes the rows of tables into a database as fast as the dialect
// allows, stamping ROWSTAMP columns from one counter shared by all tables.
type loader struct {
	db    *DB
	log   *slog.Logger
	stamp int64 // last ROWSTAMP handed out
}

// progressEvery is how often long loads report their rate.
const progressEvery = 5 * time.Second

func (l *loader) load(ctx context.Context, t *table, g *gen) (int, error) {
	stampAt := -1
	if t.stamp != "" {
		stampAt = t.colIndex(t.stamp)
	}
	seq := t.rows(g)
	if stampAt >= 0 {
		inner := seq
		seq = func(yield func([]any) bool) {
			for row := range inner {
				l.stamp++
				row[stampAt] = l.stamp
				if !yield(row) {
					return
				}
			}
		}
	}
	start := time.Now()
	p := &progress{log: l.log, table: t.name, start: start, next: start.Add(progressEvery)}
	var n int
	var err error
	if l.db.dialect == SQLite {
		n, err = l.loadSQLite(ctx, t, seq, p)
	} else {
		n, err = l.loadPostgres(ctx, t, seq, p)
	}
	if err != nil {
		return n, fmt.Errorf("load %s: %w", t.name, err)
	}
	el := time.Since(start)
	l.log.Debug("table loaded", "table", t.name, "rows", n, "elapsed", el.Round(time.Millisecond), "rows_per_s", rate(n, el))
	return n, nil
}

type progress struct {
	log   *slog.Logger
	table string
	start time.Time
	next  time.Time
}

func (p *progress) tick(n int) {
	if n%1024 != 0 {
		return
	}
	if now := time.Now(); now.After(p.next) {
		p.next = now.Add(progressEvery)
		p.log.Info("generating", "table", p.table, "rows", n, "rows_per_s", rate(n, now.Sub(p.start)))
	}
}

func rate(n int, d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(float64(n) / d.Seconds())
}

// sqliteTxRows is the number of rows per transaction: big enough that commit
// cost vanishes, small enough that a cancelled load stops promptly.
const sqliteTxRows = 10000

// sqliteStmtRows is the number of rows per INSERT statement.
const sqliteStmtRows = 500

// loadSQLite inserts rows as multi-row INSERT statements with the values
// written as SQL literals. Binding costs one cgo call per value in
// go-sqlite3, which dominated the load; a literal statement costs one call
// per 500 rows. The values are generated here, never taken from outside, and
// every string is quoted with SQLite's rules. A goroutine formats the next
// statements while SQLite executes the current one, using the second core.
func (l *loader) loadSQLite(ctx context.Context, t *table, seq iter.Seq[[]any], p *progress) (int, error) {
	head := fmt.Sprintf("insert into %s (%s) values ", qi(t.name), quoteList(colNames(t)))
	stmts := make(chan string, 4)
	stop := make(chan struct{})
	var n int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(stmts)
		var b []byte
		rows := 0
		send := func() bool {
			select {
			case stmts <- string(b):
				b, rows = b[:0], 0
				return true
			case <-stop:
				return false
			}
		}
		for row := range seq {
			if rows == 0 {
				b = append(b, head...)
			} else {
				b = append(b, ',')
			}
			b = appendSQLiteRow(b, row)
			rows++
			n++
			p.tick(n)
			if rows == sqliteStmtRows && !send() {
				return
			}
		}
		if rows > 0 {
			send()
		}
	}()
	err := l.execSQLite(ctx, stmts)
	close(stop)
	wg.Wait() // the producer owns n and the ROWSTAMP counter until it exits
	return n, err
}

func (l *loader) execSQLite(ctx context.Context, stmts <-chan string) error {
	var tx *sql.Tx
	inTx := 0
	for stmt := range stmts {
		if tx == nil {
			var err error
			if tx, err = l.db.sql.BeginTx(ctx, nil); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			return err
		}
		inTx += sqliteStmtRows
		if inTx >= sqliteTxRows {
			inTx = 0
			err := tx.Commit()
			tx = nil
			if err != nil {
				return err
			}
		}
	}
	if tx != nil {
		return tx.Commit()
	}
	return nil
}

func appendSQLiteRow(b []byte, row []any) []byte {
	b = append(b, '(')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		switch x := v.(type) {
		case nil:
			b = append(b, "NULL"...)
		case string:
			b = append(b, '\'')
			for j := 0; j < len(x); j++ {
				if x[j] == '\'' {
					b = append(b, '\'')
				}
				b = append(b, x[j])
			}
			b = append(b, '\'')
		case int:
			b = strconv.AppendInt(b, int64(x), 10)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case float64:
			b = strconv.AppendFloat(b, x, 'f', -1, 64)
		case time.Time:
			b = append(b, '\'')
			b = x.AppendFormat(b, sqliteTime)
			b = append(b, '\'')
		default:
			panic(fmt.Sprintf("demodb: cannot write %T as a SQLite literal", v))
		}
	}
	return append(b, ')')
}

func colNames(t *table) []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

func (l *loader) loadPostgres(ctx context.Context, t *table, seq iter.Seq[[]any], p *progress) (int, error) {
	next, stop := iter.Pull(seq)
	defer stop()
	src := &copySource{next: next, p: p}
	n, err := l.db.pg.CopyFrom(ctx, pgx.Identifier{t.name}, colNames(t), src)
	return int(n), err
}

// copySource adapts a row sequence to pgx's COPY, which pulls rows.
type copySource struct {
	next func() ([]any, bool)
	row  []any
	n    int
	p    *progress
}

func (s *copySource) Next() bool {
	var ok bool
	s.row, ok = s.next()
	if ok {
		s.n++
		s.p.tick(s.n)
	}
	return ok
}

func (s *copySource) Values() ([]any, error) { return s.row, nil }
func (s *copySource) Err() error             { return nil }
