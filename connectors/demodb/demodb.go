// Package demodb creates realistic plant-maintenance databases of IBM Maximo,
// Infor EAM, MP2 and SAP PM and keeps them changing, for the demo, for tests
// of the connectors and for benchmarks.
//
// Schemas follow the public data dictionaries of each system (table and
// column names, key structure, how changes are tracked), so that a connector
// that works against a demo database has met the same shapes it meets in a
// plant: Maximo's composite (SITEID, WONUM) keys, unique indexes instead of
// primary keys and one global ROWSTAMP sequence; Infor EAM's *_LASTSAVED
// times and user/system status pairs; MP2's tables without any change column;
// SAP's client column, DATS strings and date-only change dates.
//
// The data is deterministic: the same system, size and seed give the same
// rows. A Mutator applies a realistic stream of changes and reports exactly
// which rows it touched.
package demodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// Systems lists the maintenance systems a demo database can imitate.
var Systems = []string{"maximo", "infor_eam", "mp2", "sap_pm"}

// Options configures Run.
type Options struct {
	// System is maximo, infor_eam, mp2 or sap_pm.
	System string
	// Driver is sqlite or postgres.
	Driver string
	// Rows is the number of work orders; the other tables scale with it.
	Rows int
	// Out is the SQLite file (Driver sqlite).
	Out string
	// DSN is the PostgreSQL connection string (Driver postgres).
	DSN string
	// Mutate is the number of changes per second applied after creation
	// until the context is cancelled; 0 means none.
	Mutate float64
	// Seed selects the generated data; 0 means 1.
	Seed int64
}

// system is everything demodb knows about one maintenance system.
type system struct {
	name string
	// workOrders is the work order table, used to tell whether a database
	// already holds data.
	workOrders string
	tables     func(g *gen) []*table
	// afterLoad installs what a live system has beyond tables and indexes
	// (sequences, triggers), once the bulk load is done.
	afterLoad func(ctx context.Context, db *DB, l *loader) error
	// mutator returns the system's mutations after reading the state they
	// need from the database.
	mutator func(ctx context.Context, m *Mutator) ([]mutation, error)
}

var systems = map[string]*system{}

func lookup(name string) (*system, error) {
	s, ok := systems[name]
	if !ok {
		return nil, fmt.Errorf("unknown system %q (want one of %v)", name, Systems)
	}
	return s, nil
}

// Tables returns the names of the tables Create makes for system, in load
// order.
func Tables(systemName string) ([]string, error) {
	s, err := lookup(systemName)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range s.tables(newGen(1, 1, time.Time{})) {
		out = append(out, t.name)
	}
	return out, nil
}

// Run creates the demo database described by opts, unless it already holds
// work orders, and then, if opts.Mutate > 0, keeps changing it at that rate
// until ctx is cancelled. Cancellation is not an error.
func Run(ctx context.Context, opts Options, log *slog.Logger) error {
	if opts.Rows < 0 {
		return errors.New("rows must not be negative")
	}
	target := opts.Out
	if opts.Driver == string(Postgres) {
		target = opts.DSN
	}
	if target == "" {
		return fmt.Errorf("driver %s needs %s", opts.Driver, map[bool]string{true: "a DSN", false: "an output file"}[opts.Driver == string(Postgres)])
	}
	sys, err := lookup(opts.System)
	if err != nil {
		return err
	}
	db, err := Open(ctx, opts.Driver, target)
	if err != nil {
		return err
	}
	defer db.Close()

	exists, err := hasRows(ctx, db, sys.workOrders)
	if err != nil {
		return err
	}
	if exists {
		log.Info("database already has data; skipping creation", "system", sys.name, "table", sys.workOrders)
	} else if err := create(ctx, db, sys, opts.Rows, opts.Seed, time.Now(), log); err != nil {
		return err
	}
	if opts.Mutate <= 0 {
		return nil
	}
	m, err := NewMutator(ctx, db, opts.System, opts.Seed)
	if err != nil {
		return err
	}
	err = m.Run(ctx, opts.Mutate, log)
	if ctx.Err() != nil {
		return nil // cancellation (or a deadline) is how mutation ends
	}
	return err
}

// hasRows reports whether table exists and holds at least one row.
func hasRows(ctx context.Context, db *DB, table string) (bool, error) {
	var q string
	if db.dialect == SQLite {
		q = `select count(*) from sqlite_master where type = 'table' and name = ?`
	} else {
		q = `select count(*) from information_schema.tables where table_schema = current_schema() and table_name = ?`
	}
	n, err := queryInt(ctx, db.execer(), q, table)
	if err != nil {
		return false, fmt.Errorf("look for %s: %w", table, err)
	}
	if n == 0 {
		return false, nil
	}
	n, err = queryInt(ctx, db.execer(), sq(`select count(*) from (select 1 from `+table+` limit 1) t`))
	if err != nil {
		return false, fmt.Errorf("count %s: %w", table, err)
	}
	return n > 0, nil
}

// Create makes the tables of system in db and fills them with rows work
// orders' worth of data generated from seed, with history ending today.
func Create(ctx context.Context, db *DB, systemName string, rows int, seed int64, log *slog.Logger) error {
	return CreateAt(ctx, db, systemName, rows, seed, time.Now(), log)
}

// CreateAt is Create with the end of the generated history fixed at now (a
// local wall-clock time), which makes the data independent of the day it is
// generated on.
func CreateAt(ctx context.Context, db *DB, systemName string, rows int, seed int64, now time.Time, log *slog.Logger) error {
	sys, err := lookup(systemName)
	if err != nil {
		return err
	}
	return create(ctx, db, sys, rows, seed, now, log)
}

func create(ctx context.Context, db *DB, sys *system, rows int, seed int64, now time.Time, log *slog.Logger) error {
	start := time.Now()
	g := newGen(rows, seed, now)
	tables := sys.tables(g)
	e := db.execer()
	for _, t := range tables {
		if _, err := e.exec(ctx, createTableSQL(db.dialect, t)); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
	}
	if db.dialect == SQLite {
		// Durability does not matter while loading: a crash means starting
		// over. Restored below so the mutator writes like a real system.
		// A large page cache and in-memory temp storage keep the index
		// builds after the load from sorting through temp files.
		for _, p := range []string{`PRAGMA synchronous=OFF`, `PRAGMA cache_size=-262144`, `PRAGMA temp_store=MEMORY`} {
			if _, err := e.exec(ctx, p); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		defer func() {
			for _, p := range []string{`PRAGMA synchronous=NORMAL`, `PRAGMA cache_size=-2000`, `PRAGMA temp_store=DEFAULT`} {
				e.exec(context.WithoutCancel(ctx), p)
			}
		}()
	}
	l := &loader{db: db, log: log}
	total := 0
	for _, t := range tables {
		n, err := l.load(ctx, t, g)
		if err != nil {
			return err
		}
		total += n
	}
	loaded := time.Now()
	for _, t := range tables {
		for _, stmt := range indexSQL(t) {
			if _, err := e.exec(ctx, stmt); err != nil {
				return fmt.Errorf("index %s: %w", t.name, err)
			}
		}
	}
	log.Debug("indexes built", "elapsed", time.Since(loaded).Round(time.Millisecond))
	if sys.afterLoad != nil {
		if err := sys.afterLoad(ctx, db, l); err != nil {
			return err
		}
	}
	if db.dialect == Postgres {
		// Fresh statistics, so that the first incremental reads use the
		// indexes rather than guessing from an empty table.
		if _, err := e.exec(ctx, `analyze`); err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
	}
	el := time.Since(start)
	log.Info("demo database created", "system", sys.name, "dialect", db.dialect, "work_orders", rows,
		"rows", total, "elapsed", el.Round(time.Millisecond), "rows_per_s", rate(total, el))
	return nil
}

// TableChanges lists the keys of one table that a Mutator step changed. A
// key is the table's natural key with its columns joined by "/", in the
// order of the table's unique key (for Maximo WORKORDER: SITEID/WONUM).
type TableChanges struct {
	Inserted []string
	Updated  []string
	Deleted  []string
}

// Changes maps table names to what changed in them. A row inserted and then
// updated within one step counts as inserted; inserted and then deleted, as
// nothing.
type Changes map[string]*TableChanges

// Count returns the number of rows changed across all tables.
func (c Changes) Count() int {
	n := 0
	for _, t := range c {
		n += len(t.Inserted) + len(t.Updated) + len(t.Deleted)
	}
	return n
}

type changeKind int

const (
	inserted changeKind = iota + 1
	updated
	deleted
)

// changeSet accumulates changes with the merge rules documented on Changes.
type changeSet map[string]map[string]changeKind

func (cs changeSet) add(table string, kind changeKind, key string) {
	m := cs[table]
	if m == nil {
		m = map[string]changeKind{}
		cs[table] = m
	}
	prev := m[key]
	switch {
	case prev == inserted && kind == updated:
	case prev == inserted && kind == deleted:
		delete(m, key)
	case prev == deleted && kind == inserted:
		m[key] = updated
	default:
		m[key] = kind
	}
}

func (cs changeSet) result() Changes {
	out := Changes{}
	for table, m := range cs {
		tc := &TableChanges{}
		for k, kind := range m {
			switch kind {
			case inserted:
				tc.Inserted = append(tc.Inserted, k)
			case updated:
				tc.Updated = append(tc.Updated, k)
			case deleted:
				tc.Deleted = append(tc.Deleted, k)
			}
		}
		if len(tc.Inserted)+len(tc.Updated)+len(tc.Deleted) == 0 {
			continue
		}
		sort.Strings(tc.Inserted)
		sort.Strings(tc.Updated)
		sort.Strings(tc.Deleted)
		out[table] = tc
	}
	return out
}

func init() {
	for _, s := range []*system{maximoSystem(), inforSystem(), mp2System(), sapSystem()} {
		systems[s.name] = s
	}
	if len(systems) != len(Systems) {
		panic("demodb: Systems out of step with the registered systems")
	}
	for name := range systems {
		if !slices.Contains(Systems, name) {
			panic("demodb: system " + name + " missing from Systems")
		}
	}
}
