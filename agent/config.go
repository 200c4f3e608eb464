package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors/profiles"

	"gopkg.in/yaml.v3"
)

// Config is agent.yaml. Every default is stated on its field and in configs/agent.yaml.
type Config struct {
	// Version of the file format; must be 1.
	Version int `yaml:"version"`
	// Relay says how to reach the relay.
	Relay RelayConfig `yaml:"relay"`
	// Agent identifies this agent to the relay.
	Agent IdentityConfig `yaml:"agent"`
	// StateDir holds the agent's state (credential, outbox). Default ./plantbridge-agent-state.
	StateDir string `yaml:"state_dir"`
	// Connection is the maintenance system's database. Default: none (the agent only
	// keeps the tunnel).
	Connection *ConnectionConfig `yaml:"connection"`
	// Sync says what to sync and how often.
	Sync SyncConfig `yaml:"sync"`
	// Buffer bounds the outbox.
	Buffer BufferConfig `yaml:"buffer"`
	// Passthrough allows the relay's read-only SQL passthrough. Default: off.
	Passthrough PassthroughConfig `yaml:"passthrough"`
}

// SyncConfig schedules the syncs.
type SyncConfig struct {
	// Interval between incremental syncs of a model. Default 5m.
	Interval time.Duration `yaml:"interval"`
	// Models lists the models to sync. Default: every model of the profile.
	Models []string `yaml:"models"`
	// Intervals overrides Interval per model, such as work_orders: 1m. Default: none.
	Intervals map[string]time.Duration `yaml:"intervals"`
	// HistoryWindow limits full re-syncs to records changed within it. Default 0 (all).
	HistoryWindow time.Duration `yaml:"history_window"`
	// FullInterval is how often a full re-sync runs by itself, to find deletes and
	// late commits that a watermark cannot see. Default 24h; 0 turns it off.
	FullInterval *time.Duration `yaml:"full_interval"`
}

// BufferConfig bounds the outbox.
type BufferConfig struct {
	// MaxBytes is the most the outbox may hold; reading pauses when it is full.
	// Default 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// PassthroughConfig controls read-only SQL passthrough.
type PassthroughConfig struct {
	// Enabled allows it. Default false.
	Enabled bool `yaml:"enabled"`
	// MaxRows caps the rows one statement returns. Default 1000.
	MaxRows int `yaml:"max_rows"`
}

// ConnectionConfig says which maintenance system the agent reads and how to reach its
// database. The agent never sends any of it to the relay.
type ConnectionConfig struct {
	// System is the profile: maximo, infor_eam, mp2, sap_pm or generic. Required.
	System string `yaml:"system"`
	// Driver is sqlite, postgres, sqlserver or oracle. Required.
	Driver string `yaml:"driver"`
	// DSN is the driver's data source name (for sqlite, a file path relative to this
	// file). Prefer DSNFile or the environment variable PLANTBRIDGE_DB_DSN, which
	// overrides both, when it holds a password.
	DSN string `yaml:"dsn"`
	// DSNFile is a file holding the DSN. Default: none.
	DSNFile string `yaml:"dsn_file"`
	// Timezone is the IANA zone of the database's local times. Default UTC.
	Timezone string `yaml:"timezone"`
}

// RelayConfig says how to reach the relay.
type RelayConfig struct {
	// URL of the relay: wss://relay.example.com (ws:// only for loopback and development).
	// Required.
	URL string `yaml:"url"`
	// Proxy is an HTTP CONNECT proxy, http://[user:password@]host:port. Default: none, or
	// HTTPS_PROXY/NO_PROXY from the environment.
	Proxy string `yaml:"proxy"`
	// CAFile is a PEM file of extra CAs to trust, for a TLS-inspecting proxy. Default: none.
	CAFile string `yaml:"ca_file"`
}

// IdentityConfig identifies the agent.
type IdentityConfig struct {
	// ID is the agent id the relay knows it by. Required.
	ID string `yaml:"id"`
	// Secret is the agent credential. Prefer SecretFile or the environment variable
	// PLANTBRIDGE_AGENT_SECRET, which overrides both.
	Secret string `yaml:"secret"`
	// SecretFile is a file holding the credential. Default: none.
	SecretFile string `yaml:"secret_file"`
	// ConnectionID is the relay's id of this agent's connection; record ids derive from
	// it. It is not part of the file: enrollment stores it in the state dir.
	ConnectionID string `yaml:"-"`
}

// LoadConfig reads and checks path. The error lists every problem found, each with its
// place in the file.
func LoadConfig(path string) (Config, error) {
	cfg := Config{StateDir: "plantbridge-agent-state"}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var problems []error
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
		// A TypeError lists every unknown key and bad value, each with its line.
		for _, e := range te.Errors {
			problems = append(problems, fmt.Errorf("%s: %s", path, e))
		}
	}
	if cfg.Version != 1 {
		problems = append(problems, fmt.Errorf("%s: version: must be 1, got %d", path, cfg.Version))
	}
	if cfg.Relay.URL == "" {
		problems = append(problems, fmt.Errorf("%s: relay.url: required", path))
	}
	if cfg.Agent.ID == "" {
		problems = append(problems, fmt.Errorf("%s: agent.id: required", path))
	}
	if v := os.Getenv("PLANTBRIDGE_AGENT_SECRET"); v != "" {
		cfg.Agent.Secret = v
	} else if cfg.Agent.SecretFile != "" {
		s, err := os.ReadFile(relativeTo(path, cfg.Agent.SecretFile))
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: agent.secret_file: %w", path, err))
		}
		cfg.Agent.Secret = strings.TrimSpace(string(s))
	}
	if cfg.Agent.Secret == "" && cfg.Agent.SecretFile == "" {
		problems = append(problems, fmt.Errorf("%s: agent.secret: required (or agent.secret_file, or PLANTBRIDGE_AGENT_SECRET)", path))
	}
	if c := cfg.Connection; c != nil {
		problems = append(problems, c.resolve(path)...)
	}
	if cfg.StateDir != "" {
		cfg.StateDir = relativeTo(path, cfg.StateDir)
	}
	return cfg, errors.Join(problems...)
}

var drivers = []string{"sqlite", "postgres", "sqlserver", "oracle"}

// resolve checks the connection settings and fills the DSN from its file or the
// environment.
func (c *ConnectionConfig) resolve(path string) []error {
	var problems []error
	if !slices.Contains(profiles.Systems(), c.System) {
		problems = append(problems, fmt.Errorf("%s: connection.system: %q is not one of %s", path, c.System,
			strings.Join(profiles.Systems(), ", ")))
	}
	if !slices.Contains(drivers, c.Driver) {
		problems = append(problems, fmt.Errorf("%s: connection.driver: %q is not one of %s", path, c.Driver,
			strings.Join(drivers, ", ")))
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			problems = append(problems, fmt.Errorf("%s: connection.timezone: %w", path, err))
		}
	}
	switch {
	case os.Getenv("PLANTBRIDGE_DB_DSN") != "":
		c.DSN = os.Getenv("PLANTBRIDGE_DB_DSN")
	case c.DSNFile != "":
		b, err := os.ReadFile(relativeTo(path, c.DSNFile))
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: connection.dsn_file: %w", path, err))
		}
		c.DSN = strings.TrimSpace(string(b))
	case c.DSN == "":
		problems = append(problems, fmt.Errorf("%s: connection.dsn: required (or connection.dsn_file, or PLANTBRIDGE_DB_DSN)", path))
	}
	if c.Driver == "sqlite" && c.DSN != "" && !strings.HasPrefix(c.DSN, "file:") {
		c.DSN = relativeTo(path, c.DSN)
	}
	return problems
}

// relativeTo resolves a path named in the config file relative to the file.
func relativeTo(configPath, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configPath), p)
}

// Location returns the database's time zone.
func (c *ConnectionConfig) Location() *time.Location {
	if c.Timezone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC // reported by LoadConfig
	}
	return loc
}
