package relay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plantbridge/plantbridge/tunnel"
)

func TestAgentRegistry(t *testing.T) {
	dir := t.TempDir()
	reg, err := OpenAgentRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := reg.Add("plant-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add("plant-1"); err == nil {
		t.Error("duplicate agent accepted")
	}
	if _, err := reg.Add("bad id/../x"); err == nil {
		t.Error("invalid agent id accepted")
	}
	// Only the hash is stored.
	b, _ := os.ReadFile(filepath.Join(dir, "agents.json"))
	if strings.Contains(string(b), secret) {
		t.Error("agents.json holds the plain credential")
	}
	if st, _ := os.Stat(filepath.Join(dir, "agents.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("agents.json mode %v, want 0600", st.Mode().Perm())
	}
	reopened, err := OpenAgentRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		id, secret string
		ok         bool
	}{
		{"plant-1", secret, true},
		{"plant-1", secret + "x", false},
		{"plant-1", "", false},
		{"plant-2", secret, false},
	} {
		err := reopened.AuthenticateAgent(ctx, tc.id, tc.secret)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, tunnel.ErrUnauthorized)) {
			t.Errorf("auth %s: %v", tc.id, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil || cfg.Listen != "127.0.0.1:8080" || cfg.DataDir != "plantbridge-data" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	if _, err := LoadConfig("../configs/relay.yaml"); err != nil {
		t.Errorf("example config: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "relay.yaml")
	os.WriteFile(bad, []byte("version: 2\nlisten: ''\nlisen: x\n"), 0o600)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), "line 3: field lisen not found") {
		t.Errorf("unknown key: %v", err)
	}
	os.WriteFile(bad, []byte("version: 2\nlisten: ''\n"), 0o600)
	_, err = LoadConfig(bad)
	if err == nil || !strings.Contains(err.Error(), "version") || !strings.Contains(err.Error(), "listen") {
		t.Errorf("every problem at once: %v", err)
	}
	t.Setenv("PLANTBRIDGE_ADMIN_TOKEN", "from-env")
	if cfg, _ := LoadConfig(""); cfg.AdminToken != "from-env" {
		t.Error("environment override ignored")
	}
}
