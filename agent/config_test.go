package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

	if _, err := LoadConfig("../configs/agent.yaml"); err == nil || !strings.Contains(err.Error(), "agent.secret_file") {
		t.Errorf("example config: want only the missing secret file reported, got %v", err)
	}
}
