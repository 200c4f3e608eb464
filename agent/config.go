package agent

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/tunnel"

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
	// StateDir holds the agent's state (enrolled credential, outbox, status), relative to
	// the config file. It is made readable by the agent's account only. Default
	// plantbridge-agent-state.
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
	// Models lists the models to sync, by their unified names. Default: every model of
	// the connection, custom models included.
	Models []string `yaml:"models"`
	// Intervals overrides Interval per model, such as work_orders: 1m. Default: none.
	// Read it through IntervalOf.
	Intervals map[string]time.Duration `yaml:"intervals"`
	// HistoryWindow limits full re-syncs to records changed within it. Default 0 (all).
	HistoryWindow time.Duration `yaml:"history_window"`
	// FullInterval is how often a full re-sync runs by itself, to find deletes and
	// late commits that a watermark cannot see. Default 24h; 0 turns it off.
	FullInterval *time.Duration `yaml:"full_interval"`
}

// BufferConfig bounds the outbox.
type BufferConfig struct {
	// MaxBytes is the most the outbox may hold, in bytes; reading pauses when it is full
	// and nothing is dropped. At least 1 MiB (one batch). Default 1 GiB (1073741824).
	MaxBytes int64 `yaml:"max_bytes"`
}

// PassthroughConfig controls read-only SQL passthrough.
type PassthroughConfig struct {
	// Enabled allows it. Default false.
	Enabled bool `yaml:"enabled"`
	// MaxRows caps the rows one statement returns, at most 10000. Default 1000.
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

	// dsnFilePath is DSNFile resolved against the config file's directory, read again
	// each time the database is opened, so that plant IT can fix a password without
	// restarting the agent.
	dsnFilePath string
	// configFile is the file this section came from; relative SQLite paths are
	// relative to it.
	configFile string
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
	// CAFile is a PEM file of extra CAs to trust, for a TLS-inspecting proxy, relative to
	// the config file. Default: none.
	CAFile string `yaml:"ca_file"`
}

// IdentityConfig identifies the agent. Normally it is left empty: `plantbridge-agent
// enroll` stores the agent's id and secret in <state_dir>/credential.json. When ID is
// set, the identity here wins over the enrolled one.
type IdentityConfig struct {
	// ID is the agent id the relay knows it by. Default: the enrolled credential's.
	ID string `yaml:"id"`
	// Secret is the agent credential. Prefer SecretFile or the environment variable
	// PLANTBRIDGE_AGENT_SECRET, which overrides both (and the enrolled secret). Default:
	// the enrolled credential's.
	Secret string `yaml:"secret"`
	// SecretFile is a file holding the credential, relative to the config file. Default:
	// none.
	SecretFile string `yaml:"secret_file"`
	// ConnectionID is the relay's id of this agent's connection; record ids derive from
	// it. It is not part of the file: enrollment stores it in the state dir.
	ConnectionID string `yaml:"-"`
}

// Defaults of agent.yaml, as configs/agent.yaml states them.
const (
	DefaultStateDir           = "plantbridge-agent-state"
	DefaultSyncInterval       = 5 * time.Minute
	DefaultFullInterval       = 24 * time.Hour
	DefaultBufferMaxBytes     = 1 << 30
	DefaultPassthroughMaxRows = 1000
)

const (
	// minSyncInterval catches a duration written without a unit: YAML reads "5" as 5ns.
	minSyncInterval = time.Second
	// maxPassthroughRows is the most a passthrough statement may return (wire.PassthroughRequest).
	maxPassthroughRows = 10000
)

// IntervalOf returns the incremental sync interval of a model.
func (s SyncConfig) IntervalOf(model string) time.Duration {
	if d, ok := s.Intervals[model]; ok {
		return d
	}
	return s.Interval
}

// LoadConfig reads and checks path. The error lists every problem found, each with its
// line in the file where there is one.
//
// The agent's identity comes from agent.yaml when agent.id is set there (with its secret
// from agent.secret, agent.secret_file or PLANTBRIDGE_AGENT_SECRET), and otherwise from
// the credential that enrollment stored in the state dir. Explicit settings win so that a
// hand-made setup is never overridden by a file it does not show; the enrolled
// credential still supplies the connection id when it belongs to the same agent id.
func LoadConfig(path string) (Config, error) {
	return load(path, true)
}

// LoadConfigForEnroll is LoadConfig without the agent identity, which enrollment is about
// to provide (and which the status command does not need).
func LoadConfigForEnroll(path string) (Config, error) {
	return load(path, false)
}

func load(path string, identity bool) (Config, error) {
	cfg := Config{StateDir: DefaultStateDir}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	p := &problems{file: path}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
		// A TypeError lists every unknown key and bad value, each with its line.
		for _, e := range te.Errors {
			p.list = append(p.list, fmt.Errorf("%s: %s", path, e))
		}
	}
	p.pos = newPositions(b)
	if cfg.Version != 1 {
		p.add(key{"version"}, "must be 1, got %d", cfg.Version)
	}
	cfg.Relay.check(p)
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	cfg.StateDir = relativeTo(path, cfg.StateDir)
	if identity {
		cfg.resolveIdentity(p)
	}
	if c := cfg.Connection; c != nil {
		c.resolve(p)
	}
	cfg.Sync.check(p, cfg.Connection)
	cfg.Buffer.check(p)
	cfg.Passthrough.check(p)
	return cfg, errors.Join(p.list...)
}

// check validates the relay settings and resolves the CA file relative to the config.
func (r *RelayConfig) check(p *problems) {
	if r.URL == "" {
		p.add(key{"relay", "url"}, "required")
	} else if _, err := tunnel.TunnelURL(r.URL); err != nil {
		p.add(key{"relay", "url"}, "%v", err)
	}
	if r.Proxy != "" {
		u, err := url.Parse(r.Proxy)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			p.add(key{"relay", "proxy"}, "must be http://[user:password@]host:port")
		}
	}
	if r.CAFile != "" {
		r.CAFile = relativeTo(p.file, r.CAFile)
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			p.add(key{"relay", "ca_file"}, "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			p.add(key{"relay", "ca_file"}, "%s holds no PEM certificate", r.CAFile)
		}
	}
}

// resolveIdentity fills the agent id, secret and connection id from agent.yaml, the
// environment and the enrolled credential, in that order of precedence.
func (cfg *Config) resolveIdentity(p *problems) {
	a := &cfg.Agent
	cred, credErr := ReadCredential(cfg.StateDir)
	if credErr != nil && !errors.Is(credErr, fs.ErrNotExist) {
		p.list = append(p.list, fmt.Errorf("%s: enrolled credential: %w", p.file, credErr))
	}
	envSecret := os.Getenv("PLANTBRIDGE_AGENT_SECRET")
	if a.ID == "" {
		if a.Secret != "" || a.SecretFile != "" {
			p.add(key{"agent", "id"}, "required when agent.secret or agent.secret_file is set; "+
				"set it, or remove both to use the enrolled credential")
			return
		}
		if credErr != nil {
			if errors.Is(credErr, fs.ErrNotExist) {
				p.add(key{"agent", "id"}, "required: enroll the agent (plantbridge-agent enroll --relay URL --token TOKEN), "+
					"or set agent.id and agent.secret")
			}
			return
		}
		a.ID, a.Secret, a.ConnectionID = cred.AgentID, cred.Secret, cred.ConnectionID
		if envSecret != "" {
			a.Secret = envSecret
		}
		return
	}
	if credErr == nil && cred.AgentID == a.ID {
		a.ConnectionID = cred.ConnectionID
	}
	switch {
	case envSecret != "":
		a.Secret = envSecret
	case a.SecretFile != "":
		s, err := os.ReadFile(relativeTo(p.file, a.SecretFile))
		if err != nil {
			p.add(key{"agent", "secret_file"}, "%v", err)
		}
		a.Secret = strings.TrimSpace(string(s))
	case a.Secret == "":
		p.add(key{"agent", "secret"}, "required when agent.id is set (or agent.secret_file, or PLANTBRIDGE_AGENT_SECRET)")
	}
}

// check validates the schedule against the profile's models and applies defaults.
func (s *SyncConfig) check(p *problems, conn *ConnectionConfig) {
	switch {
	case s.Interval < 0:
		p.add(key{"sync", "interval"}, "must not be negative, got %v", s.Interval)
	case s.Interval == 0:
		s.Interval = DefaultSyncInterval
	case s.Interval < minSyncInterval:
		p.add(key{"sync", "interval"}, "%v is too short; write a unit, such as 5m", s.Interval)
	}
	for _, m := range profiles.SortedKeys(s.Intervals) {
		if d := s.Intervals[m]; d < minSyncInterval {
			p.add(key{"sync", "intervals", m}, "must be at least %v, got %v (write a unit, such as 1m)", minSyncInterval, d)
		}
	}
	if s.HistoryWindow < 0 {
		p.add(key{"sync", "history_window"}, "must not be negative, got %v", s.HistoryWindow)
	}
	if s.FullInterval == nil {
		d := DefaultFullInterval
		s.FullInterval = &d
	} else if *s.FullInterval < 0 {
		p.add(key{"sync", "full_interval"}, "must not be negative (0 turns it off), got %v", *s.FullInterval)
	} else if *s.FullInterval > 0 && *s.FullInterval < time.Minute {
		p.add(key{"sync", "full_interval"}, "%v is too short for a full re-sync; write a unit, such as 24h", *s.FullInterval)
	}
	if len(s.Models) == 0 && len(s.Intervals) == 0 {
		return
	}
	if conn == nil {
		p.add(key{"sync"}, "models and intervals need a connection section")
		return
	}
	known, ok := knownModels(conn.System)
	if !ok {
		return // the unknown system is reported by connection.system
	}
	unknown := func(k key, name string) {
		p.add(k, "%s has no model %q; its models are %s", conn.System, name, strings.Join(known, ", "))
	}
	seen := map[string]bool{}
	for i, m := range s.Models {
		switch {
		case !slices.Contains(known, m):
			unknown(key{"sync", "models", i}, m)
		case seen[m]:
			p.add(key{"sync", "models", i}, "%q is listed twice", m)
		}
		seen[m] = true
	}
	for _, m := range profiles.SortedKeys(s.Intervals) {
		if !slices.Contains(known, m) {
			unknown(key{"sync", "intervals", m}, m)
		}
	}
}

// knownModels lists the models a system's profile serves; the generic profile serves any
// unified model its mapping overrides define. Custom models are not listed: they arrive
// with mapping overrides from the relay and are synced when sync.models is empty.
func knownModels(system string) ([]string, bool) {
	if system == "generic" {
		var out []string
		for _, d := range model.Models {
			out = append(out, d.Name)
		}
		return out, true
	}
	prof, err := profiles.Load(system)
	if err != nil {
		return nil, false
	}
	return profiles.SortedKeys(prof.Models), true
}

func (b *BufferConfig) check(p *problems) {
	switch {
	case b.MaxBytes < 0:
		p.add(key{"buffer", "max_bytes"}, "must not be negative, got %d", b.MaxBytes)
	case b.MaxBytes == 0:
		b.MaxBytes = DefaultBufferMaxBytes
	case b.MaxBytes < connectors.MaxBatchBytes:
		// A smaller buffer could never take a full batch, and reading would stop for good.
		p.add(key{"buffer", "max_bytes"}, "must be at least %d (one batch), got %d", connectors.MaxBatchBytes, b.MaxBytes)
	}
}

func (pt *PassthroughConfig) check(p *problems) {
	switch {
	case pt.MaxRows < 0 || pt.MaxRows > maxPassthroughRows:
		p.add(key{"passthrough", "max_rows"}, "must be between 1 and %d, got %d", maxPassthroughRows, pt.MaxRows)
	case pt.MaxRows == 0:
		pt.MaxRows = DefaultPassthroughMaxRows
	}
}

// problems collects what is wrong with a config file, each with its place.
type problems struct {
	file string
	pos  positions
	list []error
}

// key is the path of a setting: mapping keys as strings, list indexes as ints.
type key []any

func (k key) String() string {
	var b strings.Builder
	for _, e := range k {
		switch e := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, e)
		}
	}
	return b.String()
}

func (p *problems) add(k key, format string, args ...any) {
	msg := k.String() + ": " + fmt.Sprintf(format, args...)
	if line := p.pos.line(k); line > 0 {
		p.list = append(p.list, fmt.Errorf("%s: line %d: %s", p.file, line, msg))
		return
	}
	p.list = append(p.list, fmt.Errorf("%s: %s", p.file, msg))
}

// positions finds the lines of settings in the file.
type positions struct{ root *yaml.Node }

func newPositions(b []byte) positions {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return positions{}
	}
	return positions{doc.Content[0]}
}

// line returns the line of the deepest part of k present in the file (so a missing
// setting points at its section), or 0.
func (ps positions) line(k key) int {
	n, line := ps.root, 0
	for _, e := range k {
		if n == nil {
			break
		}
		var next *yaml.Node
		switch e := e.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == e {
						next, line = n.Content[i+1], n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && e < len(n.Content) {
				next = n.Content[e]
				line = next.Line
			}
		}
		n = next
	}
	return line
}

var drivers = []string{"sqlite", "postgres", "sqlserver", "oracle"}

// resolve checks the connection settings and fills the DSN from its file or the
// environment.
func (c *ConnectionConfig) resolve(p *problems) {
	if !slices.Contains(profiles.Systems(), c.System) {
		p.add(key{"connection", "system"}, "%q is not one of %s", c.System, strings.Join(profiles.Systems(), ", "))
	}
	if !slices.Contains(drivers, c.Driver) {
		p.add(key{"connection", "driver"}, "%q is not one of %s", c.Driver, strings.Join(drivers, ", "))
	}
	if c.Timezone != "" {
		if _, err := time.LoadLocation(c.Timezone); err != nil {
			p.add(key{"connection", "timezone"}, "%v", err)
		}
	}
	switch {
	case os.Getenv("PLANTBRIDGE_DB_DSN") != "":
		c.DSN = os.Getenv("PLANTBRIDGE_DB_DSN")
	case c.DSNFile != "":
		c.dsnFilePath, c.configFile = relativeTo(p.file, c.DSNFile), p.file
		b, err := os.ReadFile(c.dsnFilePath)
		if err != nil {
			p.add(key{"connection", "dsn_file"}, "%v", err)
		}
		c.DSN = strings.TrimSpace(string(b))
	case c.DSN == "":
		p.add(key{"connection", "dsn"}, "required (or connection.dsn_file, or PLANTBRIDGE_DB_DSN)")
	}
	if c.Driver == "sqlite" && c.DSN != "" && !strings.HasPrefix(c.DSN, "file:") {
		c.DSN = relativeTo(p.file, c.DSN)
	}
}

// CurrentDSN returns the DSN as it is now: PLANTBRIDGE_DB_DSN, else the DSN file read
// again, else the DSN of the config file. A DSN file that cannot be read now gives the
// DSN it held when the config was loaded.
func (c *ConnectionConfig) CurrentDSN() string {
	if v := os.Getenv("PLANTBRIDGE_DB_DSN"); v != "" {
		return v
	}
	if c.dsnFilePath != "" {
		if b, err := os.ReadFile(c.dsnFilePath); err == nil && strings.TrimSpace(string(b)) != "" {
			dsn := strings.TrimSpace(string(b))
			if c.Driver == "sqlite" && !strings.HasPrefix(dsn, "file:") {
				dsn = relativeTo(c.configFile, dsn)
			}
			return dsn
		}
	}
	return c.DSN
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
