package pgtest

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartConnectCreateStop(t *testing.T) {
	s := Start(t)
	dsn := s.CreateDB(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE TABLE t (id integer PRIMARY KEY, at timestamp)`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	var user, dbname, enc string
	if err := db.QueryRow(ctx, `SELECT current_user, current_database(), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()`).Scan(&user, &dbname, &enc); err != nil {
		t.Fatalf("query: %v", err)
	}
	if user != Superuser || enc != "UTF8" || dbname == "" {
		t.Errorf("connected as %q to %q (%s), want %q, a fresh database, UTF8", user, dbname, enc, Superuser)
	}
	db.Close(ctx)

	pgid := s.cmd.Process.Pid
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	// The postmaster leads its own process group, so no member left means no
	// backend, checkpointer or other helper survived.
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still has members after Stop (kill 0: %v)", pgid, err)
	}
}

func TestSharedDatabasesAreSeparate(t *testing.T) {
	s := Shared(t)
	if again := Shared(t); again != s {
		t.Fatal("Shared returned a different server on the second call")
	}
	a, b := s.CreateDB(t, "same"), s.CreateDB(t, "same")
	if a == b {
		t.Fatalf("CreateDB returned the same database twice: %s", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{a, b} {
		db, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.Exec(ctx, `CREATE TABLE only_once (x int)`)
		db.Close(ctx)
		if err != nil {
			t.Fatalf("create table in %s: %v", dsn, err)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	dir, err := FindBinaries()
	if errors.Is(err, ErrNoBinaries) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if !isExecutable(dir + "/" + name) {
			t.Errorf("%s/%s is not executable", dir, name)
		}
	}
}

// recordingTB records how binariesOrSkip ended the test instead of ending it.
type recordingTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordingTB) Skipf(string, ...any)  { r.skipped = true }
func (r *recordingTB) Fatalf(string, ...any) { r.failed = true }

func TestMissingBinariesSkipOrFailInCI(t *testing.T) {
	old := versionedBinGlob
	t.Cleanup(func() { versionedBinGlob = old })
	versionedBinGlob = t.TempDir() + "/*/bin"
	t.Setenv("PATH", t.TempDir())

	for _, tc := range []struct {
		ci                  string
		wantSkip, wantFatal bool
	}{
		{ci: "", wantSkip: true},
		{ci: "false", wantSkip: true},
		{ci: "true", wantFatal: true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recordingTB{TB: t}
		binariesOrSkip(r)
		if r.skipped != tc.wantSkip || r.failed != tc.wantFatal {
			t.Errorf("CI=%q: skipped=%v failed=%v, want skipped=%v failed=%v", tc.ci, r.skipped, r.failed, tc.wantSkip, tc.wantFatal)
		}
	}
}

func TestDownUpKeepsDataAndPort(t *testing.T) {
	s := Start(t)
	dsn := s.CreateDB(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	exec := func(q string) error {
		db, err := pgx.Connect(ctx, dsn+"&connect_timeout=2")
		if err != nil {
			return err
		}
		defer db.Close(ctx)
		tag, err := db.Exec(ctx, q)
		if err == nil && tag.RowsAffected() != 1 {
			err = errors.New(tag.String() + ": want one row")
		}
		return err
	}
	if err := exec(`CREATE TABLE t (id integer PRIMARY KEY); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	if err := exec(`SELECT 1 FROM t`); err == nil {
		t.Fatal("connected to a server that is down")
	}
	if err := s.Up(); err != nil {
		t.Fatalf("up: %v", err)
	}
	if err := s.Up(); err == nil {
		t.Error("Up of a running server succeeded")
	}
	if err := exec(`DELETE FROM t WHERE id = 1`); err != nil {
		t.Errorf("after Up, on the same port: %v", err)
	}
}
