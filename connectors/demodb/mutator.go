package demodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// mutation is one kind of change a system undergoes. apply makes one change
// inside tx and records it; it returns false when the row it picked does not
// qualify (a closed work order cannot advance), and the Mutator picks again.
type mutation struct {
	name   string
	weight int
	apply  func(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error)
}

// Mutator keeps a demo database changing the way its system would: status
// transitions along the system's lifecycle, new work orders, edits, a few
// deletes, asset edits and purchase order receipts, each maintaining the
// system's change-tracking columns as the real system does.
//
// A Mutator is not safe for concurrent use.
type Mutator struct {
	// Now returns the plant's local wall-clock time for change dates. It
	// defaults to time.Now; tests set it to get reproducible rows.
	Now func() time.Time

	db        *DB
	sys       *system
	r         *rand.Rand
	mutations []mutation
	total     int
	state     any // the system's own bookkeeping (next numbers, id ranges)
}

// NewMutator prepares to change the demo database of system in db. Changes
// are a deterministic function of seed and the database's contents.
func NewMutator(ctx context.Context, db *DB, systemName string, seed int64) (*Mutator, error) {
	sys, err := lookup(systemName)
	if err != nil {
		return nil, err
	}
	if seed == 0 {
		seed = 1
	}
	m := &Mutator{Now: time.Now, db: db, sys: sys, r: rand.New(rand.NewPCG(uint64(seed), hashString("mutate")))}
	if m.mutations, err = sys.mutator(ctx, m); err != nil {
		return nil, fmt.Errorf("prepare %s mutator: %w", systemName, err)
	}
	for _, mu := range m.mutations {
		m.total += mu.weight
	}
	return m, nil
}

// now is the change time as the system stores it: local, no zone, seconds.
func (m *Mutator) now() time.Time { return naive(m.Now()).Truncate(time.Second) }

// maxAttempts bounds how often a step looks for a qualifying row, so that a
// database with nothing left to change cannot spin forever.
const maxAttempts = 200

// Step applies n changes, each in its own transaction, and returns what they
// changed.
func (m *Mutator) Step(ctx context.Context, n int) (Changes, error) {
	all := changeSet{}
	for range n {
		done := false
		for range maxAttempts {
			mu := m.pick()
			rec := changeSet{}
			var ok bool
			err := m.db.inTx(ctx, func(tx execer) error {
				var err error
				ok, err = mu.apply(ctx, m, tx, rec)
				if err == nil && !ok {
					// Nothing was written, but end the transaction cleanly.
					return errNotApplicable
				}
				return err
			})
			if errors.Is(err, errNotApplicable) {
				continue
			}
			if err != nil {
				return all.result(), fmt.Errorf("%s %s: %w", m.sys.name, mu.name, err)
			}
			for table, keys := range rec {
				for k, kind := range keys {
					all.add(table, kind, k)
				}
			}
			done = true
			break
		}
		if !done {
			return all.result(), fmt.Errorf("%s: no row qualifies for any change after %d attempts", m.sys.name, maxAttempts)
		}
	}
	return all.result(), nil
}

var errNotApplicable = errors.New("change not applicable")

func (m *Mutator) pick() mutation {
	x := m.r.IntN(m.total)
	for _, mu := range m.mutations {
		if x < mu.weight {
			return mu
		}
		x -= mu.weight
	}
	return m.mutations[len(m.mutations)-1]
}

// Run applies changes at rate per second until ctx is cancelled, logging a
// summary every minute.
func (m *Mutator) Run(ctx context.Context, rate float64, log *slog.Logger) error {
	if rate <= 0 {
		return errors.New("mutation rate must be positive")
	}
	// Ticks at up to 20 Hz, applying as many changes as the rate has
	// accrued, so that high rates do not need a timer per change.
	interval := max(time.Duration(float64(time.Second)/rate), 50*time.Millisecond)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	start := time.Now()
	last := start
	nextLog := start.Add(time.Minute)
	applied := 0
	owed := 0.0
	log.Info("mutating", "system", m.sys.name, "changes_per_s", rate)
	for {
		select {
		case <-ctx.Done():
			log.Info("mutation stopped", "changes", applied)
			return ctx.Err()
		case now := <-tick.C:
			owed += now.Sub(last).Seconds() * rate
			last = now
			n := int(owed)
			if n == 0 {
				continue
			}
			owed -= float64(n)
			if _, err := m.Step(ctx, n); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			applied += n
			if now.After(nextLog) {
				nextLog = now.Add(time.Minute)
				log.Info("mutating", "system", m.sys.name, "changes", applied, "changes_per_s", int(float64(applied)/now.Sub(start).Seconds()))
			}
		}
	}
}

// key joins key column values the way Changes reports them.
func key(parts ...any) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		switch x := p.(type) {
		case string:
			s[i] = x
		case int:
			s[i] = strconv.Itoa(x)
		case int64:
			s[i] = strconv.FormatInt(x, 10)
		default:
			s[i] = fmt.Sprint(x)
		}
	}
	return strings.Join(s, "/")
}

// row fetches one row as strings (NULL as ""), or nil if there is none.
func row(ctx context.Context, e execer, q string, args ...any) ([]string, error) {
	var out []string
	err := e.query(ctx, sq(q), args, func(r []any) error {
		if out != nil {
			return nil
		}
		out = make([]string, len(r))
		for i, v := range r {
			switch x := v.(type) {
			case nil:
			case string:
				out[i] = x
			case time.Time:
				out[i] = x.Format(sqliteTime)
			case interface{ Float64Value() (pgtype.Float8, error) }: // NUMERIC on PostgreSQL
				f, err := x.Float64Value()
				if err != nil {
					return err
				}
				out[i] = strconv.FormatFloat(f.Float64, 'f', -1, 64)
			default:
				out[i] = fmt.Sprint(x)
			}
		}
		return nil
	})
	return out, err
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// exec1 runs a statement that must change exactly one row.
func exec1(ctx context.Context, e execer, q string, args ...any) error {
	n, err := e.exec(ctx, sq(q), args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%d rows changed, want 1: %s", n, q)
	}
	return nil
}
