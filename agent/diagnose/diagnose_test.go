package diagnose

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/internal/pgtest"
	"github.com/plantbridge/plantbridge/internal/proxytest"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

const (
	agentID     = "agt_diag"
	agentSecret = "agent-s3cret-value"
)

// relay is a relay's tunnel endpoint that knows one agent.
type relay struct {
	url      string
	caFile   string // PEM of its certificate, for wss:// relays
	mu       sync.Mutex
	connects int // guarded by mu
}

func (r *relay) AuthenticateAgent(_ context.Context, id, secret string) error {
	if id == agentID && secret == agentSecret {
		return nil
	}
	return tunnel.ErrUnauthorized
}

func (r *relay) connected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connects
}

// startRelay serves a tunnel endpoint on loopback, over TLS with a certificate from
// httptest's own CA when tls is set.
func startRelay(t *testing.T, tls bool) *relay {
	t.Helper()
	r := &relay{}
	ep := tunnel.NewEndpoint(tunnel.EndpointConfig{Auth: r, Logger: logtest.New(t).With("side", "relay"),
		OnEvent: func(e tunnel.Event) {
			if e.Kind == tunnel.EventConnect {
				r.mu.Lock()
				r.connects++
				r.mu.Unlock()
			}
		}})
	mux := http.NewServeMux()
	mux.Handle(tunnel.TunnelPath, ep)
	srv := httptest.NewUnstartedServer(mux)
	// An agent that does not trust the certificate ends the handshake; that is a test case.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		srv.StartTLS()
		r.url = "wss://" + srv.Listener.Addr().String()
		r.caFile = filepath.Join(t.TempDir(), "relay-ca.pem")
		if err := os.WriteFile(r.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		srv.Start()
		r.url = "ws://" + srv.Listener.Addr().String()
	}
	t.Cleanup(func() {
		ep.Close()
		srv.Close()
	})
	return r
}

// sqliteDemo creates a small Maximo demo database.
var sqliteDemo = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "diagnose-demo-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "maximo.db")
	return path, demodb.Run(context.Background(), demodb.Options{System: "maximo", Driver: "sqlite", Rows: 20, Out: path},
		logDiscard())
})

func TestMain(m *testing.M) {
	code := m.Run()
	if p, err := sqliteDemo(); err == nil && p != "" {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

// config writes an agent.yaml.
type config struct {
	relay, proxy, caFile string
	id, secret           string // empty: none in agent.yaml
	connection           string // the connection section, or ""
	extra                string
}

func (c config) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nrelay:\n  url: %q\n", c.relay)
	if c.proxy != "" {
		fmt.Fprintf(&b, "  proxy: %q\n", c.proxy)
	}
	if c.caFile != "" {
		fmt.Fprintf(&b, "  ca_file: %q\n", c.caFile)
	}
	if c.id != "" {
		fmt.Fprintf(&b, "agent:\n  id: %s\n  secret: %q\n", c.id, c.secret)
	}
	b.WriteString(c.connection)
	b.WriteString(c.extra)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func sqliteConnection(t *testing.T) string {
	t.Helper()
	db, err := sqliteDemo()
	if err != nil {
		t.Fatalf("demo database: %v", err)
	}
	return fmt.Sprintf("connection:\n  system: maximo\n  driver: sqlite\n  dsn: %q\n", db)
}

func diagnose(t *testing.T, path string, secrets ...string) *Report {
	t.Helper()
	rep := Run(context.Background(), Options{ConfigPath: path, Timeout: 5 * time.Second, Logger: logtest.New(t).With("side", "agent")})
	var b strings.Builder
	rep.Write(&b)
	t.Logf("report:\n%s", b.String())
	for _, s := range append(secrets, agentSecret) {
		if strings.Contains(b.String(), s) {
			t.Errorf("the report shows the secret %q", s)
		}
	}
	return rep
}

// expect checks the results of named checks; a detail, when given, must be contained.
func expect(t *testing.T, rep *Report, want ...string) {
	t.Helper()
	for i := 0; i+2 < len(want); i += 3 {
		name, res, detail := want[i], Result(want[i+1]), want[i+2]
		c, ok := rep.Find(name)
		if !ok {
			t.Errorf("no %q check", name)
			continue
		}
		if c.Result != res || !strings.Contains(c.Detail+" fix: "+c.Fix, detail) {
			t.Errorf("%s: %s %q (fix %q); want %s containing %q", name, c.Result, c.Detail, c.Fix, res, detail)
		}
	}
}

func TestHealthy(t *testing.T) {
	leaktest.Check(t)
	r := startRelay(t, false)
	path := config{relay: r.url, id: agentID, secret: agentSecret, connection: sqliteConnection(t)}.write(t)
	rep := diagnose(t, path)
	if rep.Failed() {
		t.Error("a healthy setup failed a check")
	}
	expect(t, rep,
		"config", "OK", "agent "+agentID,
		"DNS", "OK", "IP address",
		"TCP", "OK", "connected to relay 127.0.0.1",
		"proxy", "SKIP", "connecting directly",
		"TLS", "SKIP", "ws:// relay on this machine",
		"websocket", "OK", "accepted the tunnel upgrade",
		"credential", "OK", "the relay accepts agent "+agentID,
		"database reachable", "OK", "sqlite",
		"database login", "OK", "",
		"read work_orders", "OK", "table WORKORDER",
		"read purchase_orders", "OK", "",
	)
	for _, c := range rep.Checks {
		if c.Result == Warn || c.Result == Fail {
			t.Errorf("%s: %s %s", c.Name, c.Result, c.Detail)
		}
	}
	if r.connected() != 1 {
		t.Errorf("relay saw %d tunnels, want 1", r.connected())
	}

	// With the agent running and connected, diagnose takes its word rather than opening
	// a second tunnel that would replace the agent's.
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.EnsureStateDir(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	agent.WriteStatusFile(cfg.StateDir, agent.StatusFile{AgentStatus: wire.AgentStatus{AgentID: agentID},
		Tunnel: tunnel.Status{Connected: true, ConnectedSince: time.Now().Add(-time.Hour)}})
	rep = diagnose(t, path)
	expect(t, rep, "credential", "OK", "the running agent is connected", "state dir", "OK", "readable by its owner only")
	if r.connected() != 1 {
		t.Errorf("diagnose opened a tunnel beside the running agent's")
	}
}

func TestHealthyTLSWithCAFile(t *testing.T) {
	r := startRelay(t, true)
	rep := diagnose(t, config{relay: r.url, caFile: r.caFile, id: agentID, secret: agentSecret}.write(t))
	if rep.Failed() {
		t.Error("a check failed")
	}
	expect(t, rep,
		"TLS", "OK", `issued by "Acme Co"`,
		"TLS", "OK", "trusted only through relay.ca_file: a TLS-inspecting proxy or a private CA re-signs it",
		"credential", "OK", "",
		"database", "SKIP", "no connection section",
	)
}

func TestRelayDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep := diagnose(t, config{relay: "ws://" + addr, id: agentID, secret: agentSecret, connection: sqliteConnection(t)}.write(t))
	if !rep.Failed() {
		t.Error("no check failed")
	}
	expect(t, rep,
		"TCP", "FAIL", "cannot connect to relay "+addr+": connection refused",
		"TCP", "FAIL", "check that the relay is up",
		"TLS", "SKIP", "cannot be reached",
		"credential", "SKIP", "",
		// The database is checked all the same.
		"database login", "OK", "",
	)

	rep = diagnose(t, config{relay: "wss://relay.invalid", id: agentID, secret: agentSecret}.write(t))
	expect(t, rep, "DNS", "FAIL", "relay.invalid does not resolve")
}

func TestWrongCredential(t *testing.T) {
	r := startRelay(t, false)
	rep := diagnose(t, config{relay: r.url, id: agentID, secret: "not-the-secret"}.write(t), "not-the-secret")
	expect(t, rep,
		"websocket", "OK", "tunnel endpoint answered",
		"credential", "FAIL", "refused the credential of agent "+agentID+" (401)",
		"credential", "FAIL", "plantbridge-agent enroll",
	)

	// An enrolled agent is told to enroll again.
	path := config{relay: r.url}.write(t)
	if err := agent.WriteCredential(filepath.Join(filepath.Dir(path), agent.DefaultStateDir),
		agent.Credential{AgentID: agentID, Secret: "revoked-secret"}); err != nil {
		t.Fatal(err)
	}
	rep = diagnose(t, path, "revoked-secret")
	expect(t, rep,
		"config", "OK", "credential enrolled",
		"credential", "FAIL", "enroll the agent again with a new enrollment token",
	)

	// No credential at all: the config says why, and so does the credential check.
	rep = diagnose(t, config{relay: r.url}.write(t))
	expect(t, rep,
		"config", "FAIL", "agent.id: required: enroll the agent",
		"TCP", "OK", "",
		"credential", "FAIL", "plantbridge-agent enroll --relay "+r.url,
	)
}

func TestProxyRequiringAuth(t *testing.T) {
	proxy := proxytest.StartTinyproxy(t, "plant", "pr0xy-pass")
	r := startRelay(t, true)

	rep := diagnose(t, config{relay: r.url, caFile: r.caFile, proxy: "http://plant:wrong-pass@" + proxy.Addr,
		id: agentID, secret: agentSecret}.write(t), "wrong-pass")
	expect(t, rep,
		"TCP", "OK", "connected to proxy "+proxy.Addr,
		"relay DNS", "OK", "",
		"proxy CONNECT", "FAIL", "proxy authentication required or wrong",
		"proxy CONNECT", "FAIL", "set the proxy user and password in relay.proxy",
		"TLS", "SKIP", "",
	)

	rep = diagnose(t, config{relay: r.url, caFile: r.caFile, proxy: "http://plant:pr0xy-pass@" + proxy.Addr,
		id: agentID, secret: agentSecret}.write(t), "pr0xy-pass")
	if rep.Failed() {
		t.Error("a check failed through the proxy with the right password")
	}
	expect(t, rep,
		"proxy CONNECT", "OK", "opened a tunnel to "+strings.TrimPrefix(r.url, "wss://"),
		"TLS", "OK", "",
		"credential", "OK", "",
	)
	if !strings.Contains(proxy.Log(), "CONNECT "+strings.TrimPrefix(r.url, "wss://")) {
		t.Errorf("the proxy saw no CONNECT:\n%s", proxy.Log())
	}
}

func TestUnknownCA(t *testing.T) {
	r := startRelay(t, true)
	rep := diagnose(t, config{relay: r.url, id: agentID, secret: agentSecret}.write(t))
	expect(t, rep,
		"TCP", "OK", "",
		"TLS", "FAIL", `issued by "O=Acme Co"`,
		"TLS", "FAIL", "re-signs TLS",
		"TLS", "FAIL", "set relay.ca_file",
		"websocket", "SKIP", "no TLS connection",
	)
}

func TestConfigProblems(t *testing.T) {
	rep := diagnose(t, filepath.Join(t.TempDir(), "missing.yaml"))
	if len(rep.Checks) != 1 || !rep.Failed() {
		t.Errorf("missing config: %+v", rep.Checks)
	}
	expect(t, rep, "config", "FAIL", "does not exist")

	r := startRelay(t, false)
	rep = diagnose(t, config{relay: r.url, id: agentID, secret: agentSecret, extra: "sync:\n  interval: -1m\n"}.write(t))
	expect(t, rep,
		"config", "FAIL", "line 8: sync.interval: must not be negative",
		"credential", "OK", "",
	)
}

// database DSNs for a PostgreSQL demo plant whose agent account logs in with a password
// and may not read one table.
type pgPlant struct {
	dsn       func(user, password string) string
	closedDSN string
}

func startPgPlant(t *testing.T) pgPlant {
	t.Helper()
	srv := pgtest.Start(t)
	dsn := srv.CreateDB(t, "maximo")
	ctx := context.Background()
	if err := demodb.Run(ctx, demodb.Options{System: "maximo", Driver: "postgres", Rows: 20, DSN: dsn}, logDiscard()); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE ROLE plant LOGIN PASSWORD 'db-pa55word'`,
		`GRANT USAGE ON SCHEMA public TO plant`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO plant`,
		// Still visible to the account (it may insert), but not readable.
		`REVOKE SELECT ON "COMPANIES" FROM plant`,
		`GRANT INSERT ON "COMPANIES" TO plant`,
		// Not visible to the account at all.
		`REVOKE ALL ON "PM" FROM plant`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The cluster trusts every local connection; make it ask the agent's account for its
	// password, as a plant's database does.
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(srv.Dir, "data", "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	db := strings.TrimPrefix(dsn[strings.LastIndex(dsn, "/"):], "/")
	db = strings.SplitN(db, "?", 2)[0]
	return pgPlant{
		dsn: func(user, password string) string {
			return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", user, password, srv.Host, srv.Port, db)
		},
		closedDSN: fmt.Sprintf("postgres://plant:db-pa55word@%s/%s?sslmode=disable&connect_timeout=3", closed, db),
	}
}

func pgConnection(dsn string) string {
	return fmt.Sprintf("connection:\n  system: maximo\n  driver: postgres\n  dsn: %q\n", dsn)
}

func TestDatabase(t *testing.T) {
	plant := startPgPlant(t)
	r := startRelay(t, false)
	cfg := func(dsn string) string {
		return config{relay: r.url, id: agentID, secret: agentSecret, connection: pgConnection(dsn)}.write(t)
	}

	t.Run("wrong password", func(t *testing.T) {
		rep := diagnose(t, cfg(plant.dsn("plant", "wrong-pa55word")), "wrong-pa55word")
		expect(t, rep,
			"database reachable", "OK", "postgres postgres://plant:***@",
			"database login", "FAIL", "the database refused the login",
			"database login", "FAIL", "check the user and password in the DSN",
		)
		if _, ok := rep.Find("read work_orders"); ok {
			t.Error("tables were read without a login")
		}
	})

	t.Run("permission denied on a table", func(t *testing.T) {
		rep := diagnose(t, cfg(plant.dsn("plant", "db-pa55word")), "db-pa55word")
		expect(t, rep,
			"database login", "OK", "",
			"read work_orders", "OK", "table WORKORDER",
			"read vendors", "FAIL", "permission denied on table COMPANIES",
			"read vendors", "FAIL", "grant the agent's database user SELECT on table COMPANIES",
			"read maintenance_plans", "WARN", `not synced: table "PM" does not exist, or this database user cannot see it`,
			"read maintenance_plans", "WARN", "map it with a field-mapping override (models.maintenance_plans.source)",
		)
	})

	t.Run("unreachable", func(t *testing.T) {
		rep := diagnose(t, cfg(plant.closedDSN), "db-pa55word")
		expect(t, rep,
			"database reachable", "FAIL", "check the host and port in the DSN",
			"database login", "SKIP", "",
		)
	})
}

func TestOracleClient(t *testing.T) {
	r := startRelay(t, false)
	conn := "connection:\n  system: maximo\n  driver: oracle\n  dsn: \"maximo/ora-s3cret@127.0.0.1:1/MAXPDB\"\n"
	rep := diagnose(t, config{relay: r.url, id: agentID, secret: agentSecret, connection: conn}.write(t), "ora-s3cret")
	c, ok := rep.Find("Oracle client")
	if !ok {
		t.Fatal("no Oracle client check for driver oracle")
	}
	if c.Result == OK {
		t.Skip("an Oracle client library is installed on this machine")
	}
	expect(t, rep, "Oracle client", "FAIL", "install Oracle Instant Client", "database reachable", "SKIP", "")
}

func logDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
