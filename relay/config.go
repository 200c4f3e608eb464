package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is relay.yaml. Every default is stated on its field and in configs/relay.yaml.
type Config struct {
	// Version of the file format; must be 1.
	Version int `yaml:"version"`
	// Listen is the address of the API and tunnel endpoint. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// MetricsListen, when set, is a separate address for /metrics, which the API's
	// listener then no longer serves: scrape the relay on a private port. Default:
	// none, and /metrics is on Listen.
	MetricsListen string `yaml:"metrics_listen"`
	// DataDir holds the relay's state. Default ./plantbridge-data.
	DataDir string `yaml:"data_dir"`
	// Store is the relay's database.
	Store StoreConfig `yaml:"store"`
	// AdminToken guards the operator endpoints (/v1/agents). Default: none, and those
	// endpoints refuse every request. Environment override: PLANTBRIDGE_ADMIN_TOKEN.
	AdminToken string `yaml:"admin_token"`
	// CursorSecret signs list cursors. Default: a random key kept in data_dir/cursor.key;
	// several replicas must share one. Environment override: PLANTBRIDGE_CURSOR_SECRET.
	CursorSecret string `yaml:"cursor_secret"`
	// DrainTimeout bounds how long shutdown waits for agents to move away. Default 15s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// EnrollmentTTL is how long an enrollment token stays valid. Default 24h.
	EnrollmentTTL time.Duration `yaml:"enrollment_ttl"`
	// API tunes the public API.
	API APIConfig `yaml:"api"`
	// Webhooks tunes webhook deliveries.
	Webhooks WebhooksConfig `yaml:"webhooks"`
}

// StoreConfig selects the relay's database.
type StoreConfig struct {
	// Driver is sqlite (a file in data_dir) or postgres. Default sqlite.
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL connection string. Environment override:
	// PLANTBRIDGE_STORE_DSN. Default: none.
	DSN string `yaml:"dsn"`
}

// APIConfig tunes the public API.
type APIConfig struct {
	// RateLimit is the sustained requests per second allowed per API key. Default 50.
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is how many requests a key may make at once. Default 100.
	RateBurst int `yaml:"rate_burst"`
	// MaxBodyBytes bounds request bodies (async write jobs get 32 times as much).
	// Default 1048576.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// AgentTimeout bounds every call through a tunnel. Default 30s.
	AgentTimeout time.Duration `yaml:"agent_timeout"`
}

// WebhooksConfig tunes webhook deliveries.
type WebhooksConfig struct {
	// AllowHTTP allows http:// endpoint URLs. Default false (https only).
	AllowHTTP bool `yaml:"allow_http"`
	// AllowPrivate allows endpoints on private, loopback and link-local addresses.
	// Default false.
	AllowPrivate bool `yaml:"allow_private"`
}

// DefaultConfig returns the configuration used with no file.
func DefaultConfig() Config {
	return Config{Version: 1, Listen: "127.0.0.1:8080", DataDir: "plantbridge-data", DrainTimeout: 15 * time.Second,
		EnrollmentTTL: 24 * time.Hour,
		Store:         StoreConfig{Driver: "sqlite"},
		API:           APIConfig{RateLimit: 50, RateBurst: 100, MaxBodyBytes: 1 << 20, AgentTimeout: 30 * time.Second},
	}
}

// LoadConfig reads path (or only defaults and the environment if path is ""), rejecting
// unknown keys, and reports every problem it finds at once, each with its place.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	var problems []error
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // empty file: defaults
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return cfg, fmt.Errorf("%s: %w", path, err)
			}
			for _, e := range te.Errors {
				problems = append(problems, fmt.Errorf("%s: %s", path, e))
			}
		}
		if !filepath.IsAbs(cfg.DataDir) && cfg.DataDir != "" {
			cfg.DataDir = filepath.Join(filepath.Dir(path), cfg.DataDir)
		}
	}
	if v := os.Getenv("PLANTBRIDGE_ADMIN_TOKEN"); v != "" {
		cfg.AdminToken = v
	}
	if v := os.Getenv("PLANTBRIDGE_CURSOR_SECRET"); v != "" {
		cfg.CursorSecret = v
	}
	if v := os.Getenv("PLANTBRIDGE_STORE_DSN"); v != "" {
		cfg.Store.DSN = v
	}
	bad := func(field, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: %s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	if cfg.Version != 1 {
		bad("version", "must be 1, got %d", cfg.Version)
	}
	if cfg.Listen == "" {
		bad("listen", "must not be empty")
	}
	if cfg.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsListen); err != nil {
			bad("metrics_listen", "%q is not host:port", cfg.MetricsListen)
		} else if cfg.MetricsListen == cfg.Listen {
			bad("metrics_listen", "must differ from listen")
		}
	}
	if cfg.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if cfg.DrainTimeout < 0 {
		bad("drain_timeout", "must not be negative")
	}
	if cfg.EnrollmentTTL <= 0 {
		bad("enrollment_ttl", "must be positive")
	}
	if !slices.Contains([]string{"sqlite", "postgres"}, cfg.Store.Driver) {
		bad("store.driver", "%q is not sqlite or postgres", cfg.Store.Driver)
	}
	if cfg.Store.Driver == "postgres" && cfg.Store.DSN == "" {
		bad("store.dsn", "required with driver postgres (or PLANTBRIDGE_STORE_DSN)")
	}
	if cfg.CursorSecret != "" && len(cfg.CursorSecret) < 32 {
		bad("cursor_secret", "must be at least 32 characters")
	}
	if cfg.API.RateLimit <= 0 {
		bad("api.rate_limit", "must be positive")
	}
	if cfg.API.RateBurst < 1 {
		bad("api.rate_burst", "must be at least 1")
	}
	if cfg.API.MaxBodyBytes < 1024 {
		bad("api.max_body_bytes", "must be at least 1024")
	}
	if cfg.API.AgentTimeout <= 0 {
		bad("api.agent_timeout", "must be positive")
	}
	return cfg, errors.Join(problems...)
}
