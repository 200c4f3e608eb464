package connectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// SQLConnector is the Connector for SQL databases, driven by a profile.
type SQLConnector struct {
	cfg     Config
	d       *dialect.Dialect
	db      *sql.DB
	profile *profiles.Profile
	log     *slog.Logger
	loc     *time.Location
	now     func() time.Time

	mu     sync.Mutex // guards the fields below
	schema *Schema
	plans  *plans
}

var _ Connector = (*SQLConnector)(nil)

// Open opens a connection, discovers its schema and compiles the profile
// and cfg.Overrides against it.
func Open(ctx context.Context, cfg Config) (*SQLConnector, error) {
	d, err := dialect.ByName(cfg.Driver)
	if err != nil {
		return nil, &Error{Class: BadRequest, Op: "open", Err: err}
	}
	db, err := d.Open(cfg.DSN)
	if err != nil {
		return nil, &Error{Class: Classify(err), Op: "open", Err: explainOracleClient(err)}
	}
	c, err := OpenDB(ctx, db, d, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// OpenDB is Open over an existing handle; Close closes db.
func OpenDB(ctx context.Context, db *sql.DB, d *dialect.Dialect, cfg Config) (*SQLConnector, error) {
	p := cfg.Profile
	if p == nil {
		var err error
		if p, err = profiles.Load(cfg.System); err != nil {
			return nil, &Error{Class: BadRequest, Op: "open", Err: err}
		}
	}
	c := &SQLConnector{cfg: cfg, d: d, db: db, profile: p, log: cfg.Logger, loc: cfg.Location, now: cfg.Now}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.loc == nil {
		c.loc = time.UTC
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.WriteUser == "" {
		c.cfg.WriteUser = "PLANTBRIDGE"
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, wrap("connect", "", explainOracleClient(err))
	}
	s, err := c.Discover(ctx)
	if err != nil {
		return nil, err
	}
	ps, soft, err := compile(p, cfg.Overrides, s, d)
	if err != nil {
		return nil, &Error{Class: BadRequest, Op: "compile mapping", Err: err}
	}
	c.logSoft(soft)
	c.mu.Lock()
	c.plans = ps
	c.mu.Unlock()
	c.log.Info("connector open", "system", p.System, "driver", d.Name(), "tables", len(s.Tables), "models", len(ps.byName))
	return c, nil
}

// System returns the profile's system name.
func (c *SQLConnector) System() string { return c.profile.System }

// Dialect returns the connection's SQL dialect.
func (c *SQLConnector) Dialect() *dialect.Dialect { return c.d }

// Discover reads the schema again and keeps it for later SetOverrides calls.
// Plans compiled earlier stay as they are until the next SetOverrides.
func (c *SQLConnector) Discover(ctx context.Context) (*Schema, error) {
	s, err := c.d.Discover(ctx, c.db, c.cfg.SchemaName)
	if err != nil {
		return nil, wrap("discover", "", err)
	}
	c.mu.Lock()
	c.schema = s
	c.mu.Unlock()
	return s, nil
}

// SetOverrides compiles the profile with o against the discovered schema and
// swaps the result in; on error the previous mapping stays in force. A nil
// o removes all overrides.
func (c *SQLConnector) SetOverrides(ctx context.Context, o *Overrides) error {
	if o != nil {
		if err := o.Check(); err != nil {
			return &Error{Class: BadRequest, Op: "set overrides", Err: err}
		}
	}
	c.mu.Lock()
	s := c.schema
	c.mu.Unlock()
	ps, soft, err := compile(c.profile, o, s, c.d)
	if err != nil {
		return &Error{Class: BadRequest, Op: "set overrides", Err: err}
	}
	c.logSoft(soft)
	c.mu.Lock()
	c.plans = ps
	c.mu.Unlock()
	c.log.Info("overrides applied", "models", len(ps.byName))
	return nil
}

// Overrides returns the overrides in force.
func (c *SQLConnector) Overrides() *Overrides {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plans.overrides
}

// Models lists the served models.
func (c *SQLConnector) Models() []string { return c.current().names() }

// Close closes the database handle.
func (c *SQLConnector) Close() error { return c.db.Close() }

func (c *SQLConnector) current() *plans {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plans
}

func (c *SQLConnector) plan(name string) (*plan, error) {
	ps := c.current()
	p := ps.byName[name]
	if p == nil {
		if u, ok := ps.unserved[name]; ok {
			return nil, &Error{Class: BadRequest, Op: "read " + name, Table: u.table, Err: unservedError(name, u)}
		}
		return nil, &Error{Class: BadRequest, Op: "read " + name, Err: fmt.Errorf("model %q: %w", name, ErrNotFound)}
	}
	return p, nil
}

// ErrUnserved is returned (wrapped, together with ErrNotFound) by reads of
// a profile model whose table, key or change column this database lacks.
var ErrUnserved = errors.New("the profile's mapping does not fit this database")

// unservedError says why a model is not served and how to serve it.
func unservedError(name string, u unserved) error {
	return fmt.Errorf("model %q: %w (%w): %s; map the model to this database's own table and columns with a field-mapping override for this connection (models.%s.source replaces the whole mapping)",
		name, ErrUnserved, ErrNotFound, u.probs.Error(), name)
}

// UnservedReasons returns, for each model of the profile that this database
// cannot serve, what the database lacks, in plain words (`table "PM" does not
// exist`), for diagnose.
func (c *SQLConnector) UnservedReasons() map[string]string {
	ps := c.current()
	out := make(map[string]string, len(ps.unserved))
	for name, u := range ps.unserved {
		msgs := make([]string, 0, len(u.probs))
		for _, p := range u.probs {
			// A problem is "path: message"; the path is the profile's, not plant IT's.
			if _, msg, ok := strings.Cut(p, ": "); ok {
				p = msg
			}
			msgs = append(msgs, p)
		}
		out[name] = strings.Join(msgs, "; ")
	}
	return out
}

// logSoft reports profile parts that this site's schema cannot serve.
func (c *SQLConnector) logSoft(soft profiles.Problems) {
	for _, p := range soft {
		c.log.Warn("profile mapping left out: not in this database", "problem", p,
			"fix", "map it to a column this database has with a field-mapping override for this connection")
	}
}
