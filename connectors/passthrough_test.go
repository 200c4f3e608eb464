package connectors

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
)

func TestPassthroughReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.fixture(t, 4)
		c := f.open(t, Config{DSN: f.dsn})
		ctx := context.Background()
		q := `SELECT "LOCATION", "DESCRIPTION", "CHANGEDATE", "LOCATIONSID" FROM "LOCATIONS" WHERE "SITEID" = ` + b.d.Placeholder(1) + ` ORDER BY "LOCATION"`
		res, err := c.Passthrough(ctx, PassthroughRequest{SQL: q, Params: []any{"TEXAS"}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.Columns, []string{"LOCATION", "DESCRIPTION", "CHANGEDATE", "LOCATIONSID"}) || len(res.Rows) != 3 || res.Truncated {
			t.Fatalf("result: %+v", res)
		}
		// The fixture's times are wall-clock times of New York: PostgreSQL's
		// timestamp reads as the instant; SQLite keeps dates as text.
		wantTime := "2024-03-01T13:00:00Z"
		if b.d == dialect.SQLite {
			wantTime = "2024-03-01 08:00:00"
		}
		if got := res.Rows[0]; got[0] != "BR200" || got[1] != "Boiler room" || got[2] != wantTime || got[3] != int64(5) {
			t.Errorf("first row: %#v", got)
		}

		res, err = c.Passthrough(ctx, PassthroughRequest{SQL: `SELECT "WONUM" FROM "WORKORDER" ORDER BY "WONUM";  -- all of them`, MaxRows: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 3 || !res.Truncated {
			t.Errorf("limited to 3 of 4: %d rows, truncated %v", len(res.Rows), res.Truncated)
		}

		if b.d == dialect.SQLite {
			// Pragmas that read the schema are reads too.
			res, err := c.Passthrough(ctx, PassthroughRequest{SQL: `PRAGMA table_info("SITE")`})
			if err != nil || len(res.Rows) != 3 {
				t.Errorf("table_info: %+v %v", res, err)
			}
		}

		bytesSQL := `SELECT X'00FF' AS b, 'a;b' AS s, NULL AS n`
		if b.d == dialect.Postgres {
			bytesSQL = `SELECT '\x00ff'::bytea AS b, 'a;b' AS s, NULL AS n`
		}
		res, err = c.Passthrough(ctx, PassthroughRequest{SQL: bytesSQL})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Rows[0]; !reflect.DeepEqual(got, []any{[]byte{0, 0xff}, "a;b", nil}) {
			t.Errorf("values: %#v", got)
		}
	})
}

// TestPassthroughReadOnly proves that the database, not only the agent's
// checks, refuses writes: every statement here passes checkPassthrough.
func TestPassthroughReadOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.fixture(t, 4)
		c := f.open(t, Config{DSN: f.dsn})
		ctx := context.Background()
		writes := []string{
			`INSERT INTO "SITE" ("SITEID", "ORGID", "ROWSTAMP") VALUES ('NEW', 'EAGLENA', 99)`,
			`UPDATE "WORKORDER" SET "DESCRIPTION" = 'changed'`,
			`DELETE FROM "WORKORDER"`,
			`CREATE TABLE "EXTRA" ("A" integer)`,
			`DROP TABLE "SITE"`,
			`ALTER TABLE "SITE" ADD COLUMN "B" integer`,
			`CREATE INDEX "SITE_NDX9" ON "SITE" ("ORGID")`,
		}
		refused := []string{} // fail, though not as a write the database refused
		switch b.d {
		case dialect.SQLite:
			writes = append(writes,
				`PRAGMA query_only = OFF`,
				`ATTACH DATABASE '`+filepath.Join(t.TempDir(), "other.db")+`' AS other`,
				`REINDEX`,
				`VACUUM INTO '`+filepath.Join(t.TempDir(), "copy.db")+`'`,
			)
		case dialect.Postgres:
			f.exec(`CREATE SEQUENCE "SEQ1"`)
			writes = append(writes,
				`WITH d AS (DELETE FROM "WORKORDER" RETURNING 1) SELECT count(*) FROM d`,
				`SELECT nextval('"SEQ1"')`,
				`SELECT * FROM "WORKORDER" FOR UPDATE`,
			)
			refused = append(refused, `SET TRANSACTION READ WRITE`)
		}
		for _, q := range writes {
			if _, err := checkPassthrough(b.d, q); err != nil {
				t.Fatalf("%s: refused before reaching the database: %v", q, err)
			}
			_, err := c.Passthrough(ctx, PassthroughRequest{SQL: q})
			if !errors.Is(err, ErrNotReadOnly) || Classify(err) != BadRequest {
				t.Errorf("%s: error %v, want ErrNotReadOnly", q, err)
			}
		}
		for _, q := range refused {
			if _, err := c.Passthrough(ctx, PassthroughRequest{SQL: q}); err == nil {
				t.Errorf("%s: accepted", q)
			}
		}
		// Refused before they run.
		for q, want := range map[string]error{
			`SELECT 1; DELETE FROM "WORKORDER"`: ErrMultipleStatements,
			`SELECT 1; ; /* c */ SELECT 2`:      ErrMultipleStatements,
		} {
			if _, err := c.Passthrough(ctx, PassthroughRequest{SQL: q}); !errors.Is(err, want) {
				t.Errorf("%s: error %v, want %v", q, err, want)
			}
		}
		var wos, sites int
		f.db.QueryRow(`SELECT COUNT(*) FROM "WORKORDER" WHERE "DESCRIPTION" <> 'changed'`).Scan(&wos)
		f.db.QueryRow(`SELECT COUNT(*) FROM "SITE"`).Scan(&sites)
		if wos != 4 || sites != 2 {
			t.Errorf("database changed: %d work orders, %d sites", wos, sites)
		}
		if s, err := c.Discover(ctx); err != nil || s.Table("EXTRA") != nil || len(s.Table("SITE").Columns) != 3 {
			t.Errorf("schema changed: %v", err)
		}
		// The handle used for reads and writes is as it was.
		if _, err := c.Passthrough(ctx, PassthroughRequest{SQL: `SELECT "SITEID" FROM "SITE"`}); err != nil {
			t.Errorf("read after refused writes: %v", err)
		}
	})
}

func TestPassthroughTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		f := b.fixture(t, 0)
		c := f.open(t, Config{DSN: f.dsn})
		q := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n`
		if b.d == dialect.Postgres {
			q = `SELECT pg_sleep(30)`
		}
		start := time.Now()
		_, err := c.Passthrough(context.Background(), PassthroughRequest{SQL: q, Timeout: 200 * time.Millisecond})
		if !errors.Is(err, ErrStatementTimeout) || Classify(err) != Busy {
			t.Errorf("error %v, want ErrStatementTimeout", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

func TestCheckPassthrough(t *testing.T) {
	cases := []struct {
		d    *dialect.Dialect
		sql  string
		want error // nil: accepted; errAny: any error
	}{
		{dialect.SQLite, `SELECT 1`, nil},
		{dialect.SQLite, `  select 'a;b' /* ; */ -- ;` + "\n;", nil},
		{dialect.SQLite, `SELECT "x;y", [a;b], ` + "`c;d`" + ` FROM t`, nil},
		{dialect.SQLite, `SELECT 1; SELECT 2`, ErrMultipleStatements},
		{dialect.SQLite, `   -- nothing`, errAny},
		{dialect.SQLite, `SELECT 'open`, errAny},
		{dialect.SQLite, `SELECT /* open`, errAny},
		{dialect.Postgres, `SELECT $1, $tag$ ; $tag$, $$;$$`, nil},
		{dialect.Postgres, `SELECT E'it\'s;', 'it''s;'`, nil},
		{dialect.Postgres, `SELECT /* a /* nested ; */ still comment ; */ 1`, nil},
		{dialect.Postgres, `SELECT arr[1]; DELETE FROM t`, ErrMultipleStatements},
		{dialect.Postgres, `COPY t TO '/tmp/x'`, ErrNotReadOnly},
		{dialect.Postgres, `SELECT $x$ open`, errAny},
		{dialect.SQLServer, `SELECT [a;b], 'x' FROM [dbo].[WORKORDER] FOR JSON PATH`, nil},
		{dialect.SQLServer, `WITH c AS (SELECT 1 AS n) SELECT n FROM c`, nil},
		{dialect.SQLServer, `SELECT 1 DELETE FROM t`, ErrNotReadOnly},
		{dialect.SQLServer, `SELECT * INTO copy FROM t`, ErrNotReadOnly},
		{dialect.SQLServer, `EXEC xp_cmdshell 'dir'`, ErrNotReadOnly},
		{dialect.SQLServer, `SELECT "UPDATE", 'DELETE' FROM t -- DROP`, nil},
		{dialect.SQLServer, `UPDATE t SET a = 1`, ErrNotReadOnly},
		{dialect.Oracle, `SELECT q'[it's; here]' FROM DUAL`, nil},
		{dialect.Oracle, `BEGIN DELETE FROM t; END;`, errAny},
		{dialect.Oracle, `BEGIN DELETE FROM t END`, ErrNotReadOnly},
		{dialect.Oracle, `SELECT * FROM t FOR UPDATE`, ErrNotReadOnly},
		{dialect.Oracle, `select nq'(x)' from dual`, nil},
	}
	for _, tc := range cases {
		_, err := checkPassthrough(tc.d, tc.sql)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s %q: refused: %v", tc.d, tc.sql, err)
		case tc.want == errAny && err == nil:
			t.Errorf("%s %q: accepted", tc.d, tc.sql)
		case tc.want != nil && tc.want != errAny && !errors.Is(err, tc.want):
			t.Errorf("%s %q: error %v, want %v", tc.d, tc.sql, err, tc.want)
		}
	}
}

var errAny = errors.New("any error")

func TestReadOnlyDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"/var/lib/plant/maximo.db":                       "file:/var/lib/plant/maximo.db?mode=ro",
		"/data/odd?name#1%.db":                           "", // '?' starts parameters in go-sqlite3's DSN
		"/data/p.db?_busy_timeout=10000":                 "file:/data/p.db?_busy_timeout=10000&mode=ro",
		"file:/data/p.db?mode=rwc&cache=shared":          "file:/data/p.db?cache=shared&mode=ro",
		"file:mem1?mode=memory&cache=shared":             "file:mem1?cache=shared&mode=memory",
		"/data/100%/p#1.db":                              "file:/data/100%25/p%231.db?mode=ro",
		"file:/data/p.db?_busy_timeout=10000&_txlock=im": "file:/data/p.db?_busy_timeout=10000&_txlock=im&mode=ro",
	} {
		got, err := readOnlyDSN(dsn)
		if want == "" {
			if err == nil && !strings.HasPrefix(got, "file:") {
				t.Errorf("%s: %s", dsn, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", dsn, got, err, want)
		}
	}
}

func FuzzScanSQL(f *testing.F) {
	for _, s := range []string{`SELECT 1`, `SELECT 'a''b'; x`, `$a$ $a$`, `/* /* */`, `q'[x]'`, `E'\''`, "[a]]b]", "`a`", "-- x\n;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range dialect.All {
			words, end, _, err := scanSQL(d, s)
			if err == nil && len(words) > 0 && words[0] == "" {
				t.Errorf("%s %q: empty word", d, s)
			}
			if err == nil && (end < 0 || end > len(s)) {
				t.Errorf("%s %q: end %d", d, s, end)
			}
		}
	})
}
