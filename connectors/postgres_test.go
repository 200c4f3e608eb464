package connectors

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/internal/pgtest"
)

// TestPostgresValues reads one row of every column type the profiles meet
// through the database/sql driver and checks what dialect.Value makes of it.
func TestPostgresValues(t *testing.T) {
	dsn := pgtest.Shared(t).CreateDB(t, "")
	db := pgOpen(t, dsn)
	pgExec(t, db, `CREATE TABLE "V" ("I2" smallint, "I4" integer, "I8" bigint, "N" numeric(15,2), "NN" numeric,
		"R" real, "D" double precision, "B" boolean, "T" text, "VC" varchar(10), "C" char(4),
		"TS" timestamp, "TSZ" timestamptz, "DT" date, "BY" bytea, "NUL" integer)`)
	pgExec(t, db, `INSERT INTO "V" VALUES (-2, 40000, 9007199254740993, 12500.50, 0.1000000000000000055511151231257827,
		1.5, 2.25, true, 'tekst ü', 'WAPPR', 'AB', '2024-11-03 01:30:00.123456', '2024-03-10 02:30:00+00',
		'2024-02-29', '\x00ff', NULL)`)
	s, err := dialect.Postgres.Discover(context.Background(), db, "")
	if err != nil {
		t.Fatal(err)
	}
	tbl := s.Table("V")
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"I2": int64(-2), "I4": int64(40000), "I8": int64(9007199254740993),
		// numeric comes as its exact text, scale included.
		"N": "12500.50", "NN": "0.1000000000000000055511151231257827",
		"R": float64(1.5), "D": float64(2.25), "B": true, "T": "tekst ü", "VC": "WAPPR", "C": "AB  ",
		// 01:30 on the fall-back night is read as its first occurrence (EDT).
		"TS":  time.Date(2024, 11, 3, 5, 30, 0, 123456000, time.UTC),
		"TSZ": time.Date(2024, 3, 10, 2, 30, 0, 0, time.UTC),
		"DT":  time.Date(2024, 2, 29, 5, 0, 0, 0, time.UTC),
		"BY":  []byte{0, 0xff}, "NUL": nil,
	}
	raw := make([]any, len(tbl.Columns))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := db.QueryRow(`SELECT * FROM "V"`).Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, col := range tbl.Columns {
		got, err := dialect.Value(col.Kind, raw[i], ny)
		if err != nil {
			t.Errorf("%s (%s, %s): %v", col.Name, col.Type, col.Kind, err)
			continue
		}
		if !reflect.DeepEqual(got, want[col.Name]) {
			t.Errorf("%s (%s, %s): %#v (driver %T), want %#v", col.Name, col.Type, col.Kind, got, raw[i], want[col.Name])
		}
	}
}

// TestPostgresErrorClasses provokes server errors on a real PostgreSQL and
// checks that they keep their SQLSTATE through database/sql and classify as
// the agent needs them.
func TestPostgresErrorClasses(t *testing.T) {
	srv := pgtest.Shared(t)
	dsn := srv.CreateDB(t, "")
	admin := pgOpen(t, dsn)
	pgExec(t, admin, `CREATE TABLE "SECRET" ("X" integer)`)
	pgExec(t, admin, `CREATE ROLE "plain_reader" LOGIN`)
	t.Cleanup(func() {
		admin.Exec(`DROP OWNED BY "plain_reader"`)
		admin.Exec(`DROP ROLE "plain_reader"`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cases := []struct {
		name      string
		run       func() error
		state     string
		wantClass Class
	}{
		{"unknown role", func() error {
			db := pgOpen(t, strings.Replace(dsn, "postgres@", "no_such_role@", 1))
			return db.PingContext(ctx)
		}, "28000", AuthFailed},
		{"no privilege", func() error {
			db := pgOpen(t, strings.Replace(dsn, "postgres@", "plain_reader@", 1))
			_, err := db.QueryContext(ctx, `SELECT * FROM "SECRET"`)
			return err
		}, "42501", PermissionDenied},
		{"lock not available", func() error {
			tx, err := admin.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, `LOCK TABLE "SECRET" IN ACCESS EXCLUSIVE MODE`); err != nil {
				return err
			}
			other, err := pgOpen(t, dsn).BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer other.Rollback()
			_, err = other.ExecContext(ctx, `LOCK TABLE "SECRET" IN ACCESS SHARE MODE NOWAIT`)
			return err
		}, "55P03", Busy},
		{"statement timeout", func() error {
			conn, err := admin.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, `SET statement_timeout = 10`); err != nil {
				return err
			}
			defer conn.ExecContext(ctx, `RESET statement_timeout`)
			_, err = conn.ExecContext(ctx, `SELECT pg_sleep(5)`)
			return err
		}, "57014", Busy},
		{"missing table", func() error {
			_, err := admin.QueryContext(ctx, `SELECT * FROM "NOPE"`)
			return err
		}, "42P01", BadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			pe, ok := dialect.IsPgError(err)
			if !ok || pe.Code != tc.state {
				t.Fatalf("error %v (%T), want SQLSTATE %s", err, err, tc.state)
			}
			wrapped := wrap("read work_orders", "WORKORDER", err)
			if got := Classify(wrapped); got != tc.wantClass {
				t.Errorf("Classify(%v) = %v, want %v", wrapped, got, tc.wantClass)
			}
			if !errors.Is(wrapped, err) {
				t.Errorf("wrapped error lost its cause")
			}
		})
	}
}

func pgOpen(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := dialect.Postgres.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pgExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
