package connectors

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/plantbridge/plantbridge/connectors/dialect"
)

// oraError imitates godror's *OraErr, whose fields are unexported so tests
// cannot build one: a Code method and "ORA-NNNNN" text.
type oraError struct{ code int }

func (e oraError) Error() string { return fmt.Sprintf("ORA-%05d: message", e.code) }
func (e oraError) Code() int     { return e.code }

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want Class
	}{
		{mssql.Error{Number: 18456, Message: "Login failed for user 'sa'."}, AuthFailed},
		{fmt.Errorf("query: %w", mssql.Error{Number: 229}), PermissionDenied},
		{mssql.Error{Number: 230}, PermissionDenied},
		{mssql.Error{Number: 1205}, Busy},
		{mssql.Error{Number: -2}, Busy},
		{mssql.Error{Number: 50000}, Other},
		{&pgconn.PgError{Code: "28P01"}, AuthFailed},
		{&pgconn.PgError{Code: "28000"}, AuthFailed},
		{&pgconn.PgError{Code: "42501"}, PermissionDenied},
		{&pgconn.PgError{Code: "53300"}, Busy},
		{&pgconn.PgError{Code: "57P03"}, Busy},
		{&pgconn.PgError{Code: "55P03"}, Busy},
		{&pgconn.PgError{Code: "40001"}, Busy},
		{&pgconn.PgError{Code: "08006"}, Unreachable},
		{&pgconn.PgError{Code: "57P01"}, Unreachable},
		{sqlite3.Error{Code: sqlite3.ErrBusy}, Busy},
		{sqlite3.Error{Code: sqlite3.ErrLocked}, Busy},
		{sqlite3.Error{Code: sqlite3.ErrCantOpen}, Unreachable},
		{sqlite3.Error{Code: sqlite3.ErrPerm}, PermissionDenied},
		{sqlite3.Error{Code: sqlite3.ErrReadonly}, PermissionDenied},
		{sqlite3.Error{Code: sqlite3.ErrAuth}, AuthFailed},
		{oraError{1017}, AuthFailed},
		{oraError{28000}, AuthFailed},
		{oraError{28001}, AuthFailed},
		{oraError{1031}, PermissionDenied},
		{oraError{942}, PermissionDenied},
		{oraError{12541}, Unreachable},
		{oraError{12514}, Unreachable},
		{oraError{12170}, Unreachable},
		{oraError{3113}, Unreachable},
		{oraError{3114}, Unreachable},
		{oraError{54}, Busy},
		{errors.New("dpiConn_create: ORA-01017: invalid username/password; logon denied"), AuthFailed},
		{errors.New("DPI-1047: Cannot locate a 64-bit Oracle Client library"), Unreachable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, Unreachable},
		{&net.DNSError{Err: "no such host", Name: "db.plant"}, Unreachable},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), Busy},
		{context.Canceled, Other},
		{&ValidationError{}, BadRequest},
		{&Error{Class: AuthFailed, Err: errors.New("x")}, AuthFailed},
		{errors.New("boom"), Other},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestClassifyRealDrivers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("sqlite cannot open", func(t *testing.T) {
		db, _ := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "no", "such.db")+"?mode=ro")
		defer db.Close()
		err := db.PingContext(ctx)
		if Classify(err) != Unreachable {
			t.Errorf("%v: %v", err, Classify(err))
		}
	})
	t.Run("sqlite read-only", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "ro.db")
		db, _ := sql.Open("sqlite3", p)
		db.Exec("CREATE TABLE x (a int)")
		db.Close()
		db, _ = sql.Open("sqlite3", "file:"+p+"?mode=ro")
		defer db.Close()
		_, err := db.ExecContext(ctx, "INSERT INTO x VALUES (1)")
		if Classify(err) != PermissionDenied {
			t.Errorf("%v: %v", err, Classify(err))
		}
	})
	t.Run("postgres refused", func(t *testing.T) {
		addr := closedPort(t)
		db, _ := dialect.Postgres.Open("postgres://u:p@" + addr + "/db?connect_timeout=5")
		defer db.Close()
		err := db.PingContext(ctx)
		if Classify(err) != Unreachable {
			t.Errorf("%v: %v", err, Classify(err))
		}
	})
	t.Run("sqlserver login failed", func(t *testing.T) {
		addr := fakeTDS(t)
		db, _ := dialect.SQLServer.Open("sqlserver://sa:wrong@" + addr + "?encrypt=disable&dial+timeout=5&connection+timeout=5")
		defer db.Close()
		err := db.PingContext(ctx)
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != 18456 || Classify(err) != AuthFailed {
			t.Errorf("%v (%T): %v", err, err, Classify(err))
		}
	})
	t.Run("sqlserver refused", func(t *testing.T) {
		db, _ := dialect.SQLServer.Open("sqlserver://sa:x@" + closedPort(t) + "?encrypt=disable&dial+timeout=5")
		defer db.Close()
		if err := db.PingContext(ctx); Classify(err) != Unreachable {
			t.Errorf("%v: %v", err, Classify(err))
		}
	})
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// fakeTDS is a tiny SQL Server stand-in: it answers the PRELOGIN without
// encryption and refuses the LOGIN7 with error 18456, as a server does for
// a wrong password. Enough of TDS 7.4 for go-mssqldb to surface a real
// mssql.Error.
func fakeTDS(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			serveTDS(conn)
		}
	}()
	return l.Addr().String()
}

func serveTDS(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	readPacket := func() (byte, error) {
		var typ byte
		for {
			h := make([]byte, 8)
			if _, err := io.ReadFull(conn, h); err != nil {
				return 0, err
			}
			typ = h[0]
			n := int(binary.BigEndian.Uint16(h[2:4])) - 8
			if _, err := io.CopyN(io.Discard, conn, int64(n)); err != nil {
				return 0, err
			}
			if h[1]&1 == 1 { // end of message
				return typ, nil
			}
		}
	}
	writePacket := func(payload []byte) {
		h := []byte{0x04, 0x01, 0, 0, 0, 0, 1, 0}
		binary.BigEndian.PutUint16(h[2:4], uint16(len(payload)+8))
		conn.Write(append(h, payload...))
	}
	if _, err := readPacket(); err != nil {
		return
	}
	// PRELOGIN: VERSION (6 bytes at 11) and ENCRYPTION = NOT_SUP (1 byte at 17).
	writePacket([]byte{0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xFF, 0x0F, 0x00, 0x07, 0xD0, 0, 0, 0x02})
	if _, err := readPacket(); err != nil {
		return
	}
	u16 := func(s string) []byte {
		var b []byte
		for _, r := range utf16.Encode([]rune(s)) {
			b = binary.LittleEndian.AppendUint16(b, r)
		}
		return b
	}
	msg := "Login failed for user 'sa'."
	var body []byte
	body = binary.LittleEndian.AppendUint32(body, 18456)
	body = append(body, 1, 14) // state, class
	body = binary.LittleEndian.AppendUint16(body, uint16(len(msg)))
	body = append(body, u16(msg)...)
	body = append(body, 4)
	body = append(body, u16("fake")...)
	body = append(body, 0)
	body = binary.LittleEndian.AppendUint32(body, 1)
	tok := []byte{0xAA}
	tok = binary.LittleEndian.AppendUint16(tok, uint16(len(body)))
	tok = append(tok, body...)
	tok = append(tok, 0xFD, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // DONE with DONE_ERROR
	writePacket(tok)
	readPacket() // wait for the client to hang up
}

func TestOracleClientMissingMessage(t *testing.T) {
	err := explainOracleClient(errors.New("DPI-1047: Cannot locate a 64-bit Oracle Client library: \"libclntsh.so: cannot open shared object file\""))
	if !strings.Contains(err.Error(), "Oracle client library not installed: install Oracle Instant Client (Basic or Basic Light) and put it on LD_LIBRARY_PATH (Linux) or PATH (Windows)") {
		t.Errorf("message: %v", err)
	}
}

func TestOracleIntegration(t *testing.T) {
	dsn := getenv("PLANTBRIDGE_TEST_ORACLE_DSN")
	if dsn == "" {
		t.Skip("PLANTBRIDGE_TEST_ORACLE_DSN not set")
	}
	c, err := Open(context.Background(), Config{System: "maximo", Driver: "oracle", DSN: dsn, ConnectionID: "it"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range c.Models() {
		readAll(t, c, ReadRequest{Model: m, BatchSize: 100})
	}
}

func TestSQLServerIntegration(t *testing.T) {
	dsn := getenv("PLANTBRIDGE_TEST_MSSQL_DSN")
	if dsn == "" {
		t.Skip("PLANTBRIDGE_TEST_MSSQL_DSN not set")
	}
	c, err := Open(context.Background(), Config{System: "maximo", Driver: "sqlserver", DSN: dsn, ConnectionID: "it"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range c.Models() {
		readAll(t, c, ReadRequest{Model: m, BatchSize: 100})
	}
}
