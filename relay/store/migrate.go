package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// migrationsFS holds migrations/<dialect>/NNNN_name.sql. Both dialects have
// the same versions with the same names; a test checks it.
//
//go:embed migrations
var migrationsFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the dialect's migrations in version order, checking
// that versions run 1, 2, 3, … without gaps.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", name)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration file %s: want version %d", name, len(ms)+1)
		}
		b, err := fs.ReadFile(migrationsFS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: rest, sql: string(b)})
	}
	return ms, nil
}

// migrate applies pending migrations up to target (all when 0), each in its
// own transaction together with its schema_migrations row, so a failed
// migration leaves the previous version intact.
func (s *sqlStore) migrate(ctx context.Context, target int) error {
	ms, err := loadMigrations(s.d.name)
	if err != nil {
		return err
	}
	if target <= 0 || target > len(ms) {
		target = len(ms)
	}
	for {
		applied, err := s.migrateNext(ctx, ms, target)
		if err != nil || !applied {
			return err
		}
	}
}

// migrateNext applies the next pending migration, if any, and reports
// whether it did. It reads the current version under the migration lock, so
// that replicas starting at once apply each migration exactly once.
func (s *sqlStore) migrateNext(ctx context.Context, ms []migration, target int) (bool, error) {
	applied := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.lockMigrations != "" {
			if _, err := tx.ExecContext(ctx, s.d.lockMigrations); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at `+s.d.timeType+` NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := s.queryRow(ctx, tx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("database schema version %d is newer than this relay's %d; run a newer relay", current, len(ms))
		}
		if current >= target {
			return nil
		}
		m := ms[current]
		// No arguments: both drivers then run the text as a script of
		// several statements.
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("apply %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, s.t(s.clock())); err != nil {
			return fmt.Errorf("record %04d_%s: %w", m.version, m.name, err)
		}
		s.log.Info("applied schema migration", "db", s.d.name, "version", m.version, "name", m.name)
		applied = true
		return nil
	})
	return applied, err
}

// schemaVersion returns the applied schema version.
func (s *sqlStore) schemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.queryRow(ctx, s.r, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
