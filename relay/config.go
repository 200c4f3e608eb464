package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is relay.yaml. Every default is stated on its field and in configs/relay.yaml.
type Config struct {
	// Version of the file format; must be 1.
	Version int `yaml:"version"`
	// Listen is the address of the API and tunnel endpoint. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// DataDir holds the relay's state. Default ./plantbridge-data.
	DataDir string `yaml:"data_dir"`
	// AdminToken guards the operator endpoints (/v1/agents). Default: none, and those
	// endpoints refuse every request. Environment override: PLANTBRIDGE_ADMIN_TOKEN.
	AdminToken string `yaml:"admin_token"`
	// DrainTimeout bounds how long shutdown waits for agents to move away. Default 15s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// DefaultConfig returns the configuration used with no file.
func DefaultConfig() Config {
	return Config{Version: 1, Listen: "127.0.0.1:8080", DataDir: "plantbridge-data", DrainTimeout: 15 * time.Second}
}

// LoadConfig reads path (or only defaults and the environment if path is ""), rejecting
// unknown keys, and reports every problem it finds at once.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // empty file: defaults
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	}
	if v := os.Getenv("PLANTBRIDGE_ADMIN_TOKEN"); v != "" {
		cfg.AdminToken = v
	}
	var problems []error
	if cfg.Version != 1 {
		problems = append(problems, fmt.Errorf("%s: version: must be 1, got %d", path, cfg.Version))
	}
	if cfg.Listen == "" {
		problems = append(problems, fmt.Errorf("%s: listen: must not be empty", path))
	}
	if cfg.DataDir == "" {
		problems = append(problems, fmt.Errorf("%s: data_dir: must not be empty", path))
	}
	if cfg.DrainTimeout < 0 {
		problems = append(problems, fmt.Errorf("%s: drain_timeout: must not be negative", path))
	}
	return cfg, errors.Join(problems...)
}
