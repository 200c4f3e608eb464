package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

func TestCredentialFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "a", "state")
	if _, err := ReadCredential(state); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing credential: %v", err)
	}
	want := Credential{AgentID: "agt_1", ConnectionID: "conn_1", Secret: "s3cret", RelayURL: "wss://r",
		EnrolledAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := WriteCredential(state, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCredential(state)
	if err != nil || got != want {
		t.Fatalf("read back %+v, %v", got, err)
	}
	checkPrivate(t, state, filepath.Join(state, CredentialFile))

	// A state dir that someone opened up is closed again.
	if runtime.GOOS != "windows" {
		os.Chmod(state, 0o755)
		if err := EnsureStateDir(state); err != nil {
			t.Fatal(err)
		}
		checkPrivate(t, state, "")
	}

	os.WriteFile(filepath.Join(state, CredentialFile), []byte(`{"agent_id":"x"}`), 0o600)
	if _, err := ReadCredential(state); err == nil || !strings.Contains(err.Error(), "enroll the agent again") {
		t.Errorf("credential without secret: %v", err)
	}
}

// checkPrivate checks that dir is mode 0700 and file (if any) 0600.
func checkPrivate(t *testing.T, dir, file string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return // an ACL, not a mode
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("state dir %s: mode %v, %v; want 0700", dir, st.Mode().Perm(), err)
	}
	if file == "" {
		return
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, %v; want 0600", file, st.Mode().Perm(), err)
	}
}

func TestMaskDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn, masked string
		secrets     []string
	}{
		{"postgres://plant:pa%40ss@db.example.com:5432/maximo?sslmode=require", "postgres://plant:***@db.example.com:5432/maximo?sslmode=require", []string{"pa%40ss", "pa@ss"}},
		{"postgres://plant@db/maximo", "postgres://plant@db/maximo", nil},
		{"host=db user=plant password='se cret' dbname=maximo", "host=db user=plant password=*** dbname=maximo", []string{"se cret"}},
		{"sqlserver://sa:Str0ng!@sql01:1433?database=MAXDB", "sqlserver://sa:***@sql01:1433?database=MAXDB", []string{"Str0ng!"}},
		{"sqlserver://sql01?database=MAXDB&password=Str0ng!&user+id=sa", "sqlserver://sql01?database=MAXDB&password=***&user+id=sa", []string{"Str0ng!"}},
		{"server=sql01;user id=sa;password=Str0ng!;database=MAXDB", "server=sql01;user id=sa;password=***;database=MAXDB", []string{"Str0ng!"}},
		{"odbc:server=sql01;uid=sa;pwd={a;b};database=MAXDB", "odbc:server=sql01;uid=sa;pwd=***;database=MAXDB", []string{"a;b"}},
		{"maximo/tiger@orahost:1521/MAXPDB", "maximo/***@orahost:1521/MAXPDB", []string{"tiger"}},
		{`user="maximo" password="ti ger" connectString="orahost:1521/MAXPDB"`, `user="maximo" password=*** connectString="orahost:1521/MAXPDB"`, []string{"ti ger"}},
		{"/var/lib/plant/maximo.db", "/var/lib/plant/maximo.db", nil},
	} {
		masked, secrets := maskDSN(tc.dsn)
		if masked != tc.masked || fmt.Sprint(secrets) != fmt.Sprint(tc.secrets) {
			t.Errorf("maskDSN(%q) = %q, %q; want %q, %q", tc.dsn, masked, secrets, tc.masked, tc.secrets)
		}
	}
}

func TestLogsNeverShowSecrets(t *testing.T) {
	cfg := Config{
		Relay:      RelayConfig{Proxy: "http://plant:pr0xy-pass@proxy:3128"},
		Agent:      IdentityConfig{Secret: "agent-s3cret"},
		Connection: &ConnectionConfig{DSN: "postgres://plant:db-pa55@db/maximo"},
	}
	var buf bytes.Buffer
	log := slog.New(NewScrubber(cfg.Secrets()...).Handler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("dsn", cfg.Connection.DSN)
	log.WithGroup("g").Error("connect with agent-s3cret failed",
		"err", errors.New(`dial postgres://plant:db-pa55@db/maximo: refused`),
		"proxy", cfg.Relay.Proxy,
		"nested", slog.GroupValue(slog.String("secret", "agent-s3cret")),
		"struct", struct{ Password string }{"db-pa55"},
		"n", 3)
	out := buf.String()
	for _, s := range []string{"agent-s3cret", "db-pa55", "pr0xy-pass"} {
		if strings.Contains(out, s) {
			t.Errorf("log shows %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, `"n":3`) || !strings.Contains(out, "postgres://plant:***@db/maximo") {
		t.Errorf("log lost its other content:\n%s", out)
	}

	// A secret that contains another is replaced whole, in whatever order they come.
	if got := NewScrubber("pass", "password123").String("x password123 pass"); got != "x *** ***" {
		t.Errorf("nested secrets: %q", got)
	}
}

func TestStatusFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadStatusFile(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing status file: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	next := now.Add(4 * time.Minute)
	st := StatusFile{
		AgentStatus: wire.AgentStatus{AgentID: "agt_1", ConnectionID: "conn_1", Version: "v1", StartedAt: now.Add(-time.Hour),
			Database: wire.DatabaseStatus{State: wire.DBAuthFailed, Error: &wire.Error{Code: "REAUTH_REQUIRED", Message: "login refused"}},
			Buffer:   wire.BufferStatus{Batches: 3, Bytes: 3 << 20, MaxBytes: 1 << 30, Full: true},
			Models:   []wire.ModelStatus{{Model: "work_orders", Status: wire.SyncSyncing, RowsRead: 1200, BatchesBuffered: 2, RowsPerSecond: 400, NextSyncStart: &next}}},
		Tunnel:    tunnel.Status{LastError: "relay refused the agent credential (401)", FailedAttempts: 4},
		UpdatedAt: now,
	}
	if err := WriteStatusFile(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStatusFile(dir)
	if err != nil || got.AgentID != "agt_1" || got.PID != os.Getpid() || got.Buffer.Batches != 3 || got.Stale(now) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if !got.Stale(now.Add(time.Minute)) {
		t.Error("a minute-old status is not stale")
	}
	if !got.Live(now) {
		t.Error("this process's fresh status is not live")
	}
	if gone := (StatusFile{PID: 1 << 30, UpdatedAt: now}); gone.Live(now) {
		t.Error("the status of a process that does not exist is live")
	}
	var b strings.Builder
	got.Describe(&b, now)
	for _, want := range []string{"agent agt_1, connection conn_1", "tunnel:   not connected: relay refused the agent credential (401) (4 failed attempts)",
		"database: auth_failed: login refused", "buffer:   3 batches, 3.0 MiB of 1.0 GiB (full", "work_orders  syncing  1200 rows",
		"next in 4m0s", "reported 0s ago"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("description lacks %q:\n%s", want, b.String())
		}
	}

	// Another version's file: unknown fields are ignored, missing ones are zero.
	os.WriteFile(filepath.Join(dir, StatusFileName), []byte(`{"agent_id":"agt_2","future":{"x":1},"tunnel":{"connected":true}}`), 0o600)
	got, err = ReadStatusFile(dir)
	if err != nil || got.AgentID != "agt_2" || !got.Tunnel.Connected {
		t.Errorf("tolerant read: %+v, %v", got, err)
	}
	b.Reset()
	got.Describe(&b, now) // must not panic on zero values
}
