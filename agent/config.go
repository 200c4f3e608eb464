package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
		f := cfg.Agent.SecretFile
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		s, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: agent.secret_file: %w", path, err))
		}
		cfg.Agent.Secret = strings.TrimSpace(string(s))
	}
	if cfg.Agent.Secret == "" && cfg.Agent.SecretFile == "" {
		problems = append(problems, fmt.Errorf("%s: agent.secret: required (or agent.secret_file, or PLANTBRIDGE_AGENT_SECRET)", path))
	}
	if cfg.StateDir != "" && !filepath.IsAbs(cfg.StateDir) {
		cfg.StateDir = filepath.Join(filepath.Dir(path), cfg.StateDir)
	}
	return cfg, errors.Join(problems...)
}
