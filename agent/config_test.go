package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantProblems checks that err lists each of want (substrings), and nothing more.
func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("config accepted; want problems %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, w)
		}
		if !found {
			t.Errorf("problems lack %q:\n%v", w, err)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "agent.secret", "pbagent_abc\n")
	good := writeFile(t, dir, "agent.yaml", "version: 1\nrelay:\n  url: wss://relay.example.com\nagent:\n  id: plant-1\n  secret_file: agent.secret\n")
	cfg, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.Secret != "pbagent_abc" || cfg.StateDir != filepath.Join(dir, "plantbridge-agent-state") {
		t.Errorf("loaded %+v", cfg)
	}

	t.Setenv("PLANTBRIDGE_AGENT_SECRET", "from-env")
	if cfg, _ := LoadConfig(good); cfg.Agent.Secret != "from-env" {
		t.Error("environment override ignored")
	}
	t.Setenv("PLANTBRIDGE_AGENT_SECRET", "")

	// Every problem is reported at once, unknown keys with their line.
	bad := writeFile(t, dir, "bad.yaml", "version: 3\nrelay:\n  ulr: x\nagent:\n  idd: y\n")
	_, err = LoadConfig(bad)
	wantProblems(t, err, "line 3: field ulr not found", "line 5: field idd not found", "line 1: version: must be 1",
		"line 2: relay.url: required", "line 4: agent.id: required: enroll the agent")

	conn := writeFile(t, dir, "conn.yaml", "version: 1\nrelay:\n  url: ws://127.0.0.1:1\nagent:\n  id: p\n  secret: s\n"+
		"connection:\n  system: maximox\n  driver: db2\n  timezone: Mars/Olympus\n")
	_, err = LoadConfig(conn)
	wantProblems(t, err, "line 8: connection.system: \"maximox\" is not one of", "line 9: connection.driver: \"db2\"",
		"line 10: connection.timezone", "line 7: connection.dsn: required")

	sqlite := writeFile(t, dir, "sqlite.yaml", "version: 1\nrelay:\n  url: ws://127.0.0.1:1\nagent:\n  id: p\n  secret: s\n"+
		"connection:\n  system: maximo\n  driver: sqlite\n  dsn: plant.db\n")
	cfg, err = LoadConfig(sqlite)
	if err != nil || cfg.Connection.DSN != filepath.Join(dir, "plant.db") || cfg.Connection.Location() != time.UTC {
		t.Errorf("sqlite connection: %+v %v", cfg.Connection, err)
	}
}

// The example documents every key; it is complete but for the identity, which enrollment
// provides, and the DSN file it points to.
func TestExampleConfig(t *testing.T) {
	_, err := LoadConfig("../configs/agent.yaml")
	wantProblems(t, err, "agent.id: required: enroll the agent", "connection.dsn_file")
}

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "agent.yaml", "version: 1\nrelay:\n  url: wss://relay.example.com\nagent:\n  id: p\n  secret: s\n"+
		"connection:\n  system: maximo\n  driver: sqlite\n  dsn: plant.db\nsync:\n  intervals:\n    work_orders: 1m\n")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sync.Interval != 5*time.Minute || *cfg.Sync.FullInterval != 24*time.Hour || cfg.Sync.HistoryWindow != 0 ||
		cfg.Buffer.MaxBytes != 1<<30 || cfg.Passthrough.MaxRows != 1000 || cfg.Passthrough.Enabled {
		t.Errorf("defaults: sync %+v full %v buffer %+v passthrough %+v", cfg.Sync, *cfg.Sync.FullInterval, cfg.Buffer, cfg.Passthrough)
	}
	if cfg.Sync.IntervalOf("work_orders") != time.Minute || cfg.Sync.IntervalOf("assets") != 5*time.Minute {
		t.Errorf("IntervalOf: %v, %v", cfg.Sync.IntervalOf("work_orders"), cfg.Sync.IntervalOf("assets"))
	}

	// An explicit 0 turns the full re-sync off rather than taking the default.
	path = writeFile(t, dir, "off.yaml", "version: 1\nrelay:\n  url: wss://relay.example.com\nagent:\n  id: p\n  secret: s\n"+
		"sync:\n  full_interval: 0s\n")
	if cfg, err := LoadConfig(path); err != nil || *cfg.Sync.FullInterval != 0 {
		t.Errorf("full_interval 0: %v, %v", cfg.Sync.FullInterval, err)
	}
}

func TestConfigProblemsHaveLines(t *testing.T) {
	dir := t.TempDir()
	body := `version: 1
relay:
  url: ftp://relay.example.com
  proxy: socks5://proxy:1080
  ca_file: missing.pem
agent:
  id: p
  secret: s
connection:
  system: maximo
  driver: sqlite
  dsn: plant.db
sync:
  interval: -5m
  models: [work_orders, work_order, assets, assets]
  intervals:
    work_orders: 5
    purchase_order: 1m
    assets: 500ms
  history_window: -1h
  full_interval: -24h
  colour: blue
buffer:
  max_bytes: 1000
passthrough:
  max_rows: 20000
`
	_, err := LoadConfig(writeFile(t, dir, "agent.yaml", body))
	wantProblems(t, err,
		"line 17: cannot unmarshal !!int `5` into time.Duration",
		"line 22: field colour not found",
		"line 3: relay.url: relay URL \"ftp://relay.example.com\": scheme must be wss://",
		"line 4: relay.proxy: must be http://",
		"line 5: relay.ca_file: open "+filepath.Join(dir, "missing.pem"),
		"line 14: sync.interval: must not be negative",
		"line 15: sync.models[1]: maximo has no model \"work_order\"; its models are",
		"line 15: sync.models[3]: \"assets\" is listed twice",
		"line 19: sync.intervals.assets: must be at least 1s, got 500ms",
		"line 18: sync.intervals.purchase_order: maximo has no model \"purchase_order\"",
		"line 20: sync.history_window: must not be negative",
		"line 21: sync.full_interval: must not be negative",
		"line 24: buffer.max_bytes: must be at least 1048576",
		"line 26: passthrough.max_rows: must be between 1 and 10000",
	)

	// Models need a connection to be checked against.
	_, err = LoadConfig(writeFile(t, dir, "noconn.yaml", "version: 1\nrelay:\n  url: wss://r\nagent:\n  id: p\n  secret: s\nsync:\n  models: [assets]\n"))
	wantProblems(t, err, "line 7: sync: models and intervals need a connection section")

	// A syntax error is reported alone, with its line.
	_, err = LoadConfig(writeFile(t, dir, "syntax.yaml", "version: 1\nrelay:\n  url: [\n"))
	if err == nil || !strings.Contains(err.Error(), "line") {
		t.Errorf("syntax error: %v", err)
	}
}

func TestConfigEnrolledCredential(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := WriteCredential(state, Credential{AgentID: "agt_1", ConnectionID: "conn_1", Secret: "enrolled-secret"}); err != nil {
		t.Fatal(err)
	}
	base := "version: 1\nrelay:\n  url: wss://relay.example.com\nstate_dir: state\n"

	cfg, err := LoadConfig(writeFile(t, dir, "enrolled.yaml", base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.ID != "agt_1" || cfg.Agent.Secret != "enrolled-secret" || cfg.Agent.ConnectionID != "conn_1" {
		t.Errorf("enrolled identity: %+v", cfg.Agent)
	}

	t.Run("environment secret wins", func(t *testing.T) {
		t.Setenv("PLANTBRIDGE_AGENT_SECRET", "env-secret")
		cfg, err := LoadConfig(filepath.Join(dir, "enrolled.yaml"))
		if err != nil || cfg.Agent.ID != "agt_1" || cfg.Agent.Secret != "env-secret" {
			t.Errorf("%+v %v", cfg.Agent, err)
		}
	})

	t.Run("agent.yaml identity wins", func(t *testing.T) {
		cfg, err := LoadConfig(writeFile(t, dir, "explicit.yaml", base+"agent:\n  id: other\n  secret: own\n"))
		if err != nil || cfg.Agent.ID != "other" || cfg.Agent.Secret != "own" || cfg.Agent.ConnectionID != "" {
			t.Errorf("%+v %v", cfg.Agent, err)
		}
		// The enrolled connection id still applies to the same agent.
		cfg, err = LoadConfig(writeFile(t, dir, "same.yaml", base+"agent:\n  id: agt_1\n  secret: own\n"))
		if err != nil || cfg.Agent.Secret != "own" || cfg.Agent.ConnectionID != "conn_1" {
			t.Errorf("%+v %v", cfg.Agent, err)
		}
	})

	t.Run("secret without id", func(t *testing.T) {
		_, err := LoadConfig(writeFile(t, dir, "half.yaml", base+"agent:\n  secret: own\n"))
		wantProblems(t, err, "line 5: agent.id: required when agent.secret or agent.secret_file is set")
	})

	t.Run("damaged credential", func(t *testing.T) {
		bad := filepath.Join(dir, "bad-state")
		writeFile(t, mkdir(t, bad), CredentialFile, "{not json")
		_, err := LoadConfig(writeFile(t, dir, "bad.yaml", "version: 1\nrelay:\n  url: wss://r\nstate_dir: bad-state\n"))
		wantProblems(t, err, "enrolled credential: "+filepath.Join(bad, CredentialFile))
	})

	t.Run("enroll needs no identity", func(t *testing.T) {
		if _, err := LoadConfigForEnroll(writeFile(t, dir, "fresh.yaml", "version: 1\nrelay:\n  url: wss://r\nstate_dir: nowhere\n")); err != nil {
			t.Error(err)
		}
	})
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func FuzzLoadConfig(f *testing.F) {
	b, _ := os.ReadFile("../configs/agent.yaml")
	f.Add(string(b))
	f.Add("version: 1\nsync:\n  models: [a, b]\n  intervals: {x: 1s}\n")
	f.Add("version: 1\nrelay: {url: 'ws://x'}\nbuffer: {max_bytes: -1}\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		LoadConfig(p) // must not panic
	})
}
