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
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"line 3: field ulr not found", "line 5: field idd not found", "version: must be 1",
		"relay.url: required", "agent.id: required", "agent.secret: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// The example is complete but for the files it points to.
	_, err = LoadConfig("../configs/agent.yaml")
	if err == nil || !strings.Contains(err.Error(), "agent.secret_file") || !strings.Contains(err.Error(), "connection.dsn_file") ||
		strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("example config: want the two missing files reported, got %v", err)
	}

	conn := writeFile(t, dir, "conn.yaml", "version: 1\nrelay:\n  url: ws://127.0.0.1:1\nagent:\n  id: p\n  secret: s\n"+
		"connection:\n  system: maximox\n  driver: db2\n  timezone: Mars/Olympus\n")
	_, err = LoadConfig(conn)
	for _, want := range []string{"connection.system: \"maximox\" is not one of", "connection.driver: \"db2\"",
		"connection.timezone", "connection.dsn: required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("connection error lacks %q:\n%v", want, err)
		}
	}
	sqlite := writeFile(t, dir, "sqlite.yaml", "version: 1\nrelay:\n  url: ws://127.0.0.1:1\nagent:\n  id: p\n  secret: s\n"+
		"connection:\n  system: maximo\n  driver: sqlite\n  dsn: plant.db\n")
	cfg, err = LoadConfig(sqlite)
	if err != nil || cfg.Connection.DSN != filepath.Join(dir, "plant.db") || cfg.Connection.Location() != time.UTC {
		t.Errorf("sqlite connection: %+v %v", cfg.Connection, err)
	}
}
