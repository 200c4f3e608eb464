// Package syncer moves changes from the plant database to the relay: the Scheduler
// reads each model on its interval into the outbox, and the Uploader sends the outbox
// to the relay, oldest first, deleting what the relay acknowledges.
//
// The two meet only in the outbox, so either can stop without the other noticing: the
// scheduler keeps reading while the relay is away (until the outbox is full), and the
// uploader keeps draining while the database is down.
package syncer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/agent/outbox"
	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Source gives the scheduler the connector of the plant database.
type Source interface {
	// Connector returns the open connector, opening it first if needed.
	Connector(ctx context.Context) (connectors.Connector, error)
	// Reset closes c if it is still the open connector, so that the next call to
	// Connector opens a new one, with the credentials as they are by then.
	Reset(c connectors.Connector)
}

// Defaults of Config.
const (
	DefaultInterval = 5 * time.Minute
	DefaultParallel = 2
	// MaxRetryDelay caps the backoff of a failing database or model.
	MaxRetryDelay = 5 * time.Minute
	// authRetryDelay is the least wait after the database refused the login, doubling
	// with each refusal in a row up to maxAuthRetryDelay: a password is not fixed
	// within seconds, and every failed login counts towards the account's lockout
	// (Oracle's default profile locks an account after 10). A manual sync tries at once.
	authRetryDelay    = time.Minute
	maxAuthRetryDelay = 15 * time.Minute
	// breakerThreshold is the number of consecutive database failures that opens the
	// circuit (a refused login opens it at once).
	breakerThreshold = 3
)

// Config configures a Scheduler.
type Config struct {
	// Source is the plant database. Required.
	Source Source
	// Outbox receives the batches. Required.
	Outbox *outbox.Outbox
	// Models lists the models to sync; nil means every model the connection serves.
	Models []string
	// Catalog lists the models the connection is expected to serve (its profile's),
	// so that a manual sync can be accepted before the database was first reached.
	Catalog []string
	// Interval between incremental syncs of a model. Default DefaultInterval.
	Interval time.Duration
	// Intervals overrides Interval per model.
	Intervals map[string]time.Duration
	// HistoryWindow limits full re-syncs to records changed within it; 0 reads all.
	HistoryWindow time.Duration
	// FullInterval is how often a model is fully re-synced by itself; 0 never.
	FullInterval time.Duration
	// Parallel is how many models read at once. Default DefaultParallel.
	Parallel int
	// BatchSize is the records per batch. Default connectors.MaxBatchRecords.
	BatchSize int
	// Logger receives the scheduler's logs. Required.
	Logger *slog.Logger
	// OnChange, if set, is called (outside any lock) when the database state or the
	// circuit changes.
	OnChange func()
	// OnRun, if set, is called (outside any lock) as each sync run starts.
	OnRun func()
}

// Circuit states of the breaker in front of the database.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

// Scheduler runs the syncs of every model: incremental ones on their interval,
// periodic full re-syncs, and manual ones on Trigger. At most one run per model is
// under way at a time. Failures back off per model, and a circuit breaker rests a
// database that keeps failing.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	ob   *outbox.Outbox
	wake chan struct{} // buffered 1: something for the loop to look at

	mu      sync.Mutex // guards the fields below
	models  map[string]*modelRun
	running int // runs under way
	// served is what the connection served when last asked (nil: not yet reached).
	served []string
	br     breaker
	// db is the last database outcome: state, error, when.
	dbState   string
	dbErr     *wire.Error
	dbChecked time.Time
	// probeNext is when to try the database while no model is known to sync.
	probeNext time.Time
	probing   bool
	// stored is what the outbox held per model when Run started, for models that
	// appear later (custom models added by overrides).
	stored map[string]outbox.ModelState
}

// modelRun is the schedule and progress of one model.
type modelRun struct {
	name     string
	interval time.Duration
	next     time.Time // next incremental run
	nextFull time.Time // next periodic full re-sync; zero: none scheduled
	// fullID is the full re-sync in progress, resumed by the next run.
	fullID     string
	manual     bool // a manual run is asked for
	manualFull bool
	running    bool
	removed    bool // no longer served; dropped once idle
	failures   int
	backoff    tunnel.Backoff

	// Progress of the current or last run.
	status      string
	full        bool
	rowsRead    int64
	batches     int64
	startedAt   time.Time
	finishedAt  time.Time
	lastSuccess time.Time
	lastErr     *wire.Error
	// deniedTable is the table of a permission_denied failure.
	deniedTable string
	denied      bool
}

// breaker is a circuit breaker in front of the database: closed lets runs through,
// open holds them until openUntil, half_open lets one run probe the database.
type breaker struct {
	state     string
	failures  int // consecutive database failures
	refusals  int // consecutive refused logins among them
	openUntil time.Time
	probe     bool // the half-open probe is under way
	backoff   tunnel.Backoff
}

// NewScheduler checks cfg and returns a scheduler; Run starts it.
func NewScheduler(cfg Config) (*Scheduler, error) {
	if cfg.Source == nil || cfg.Outbox == nil || cfg.Logger == nil {
		return nil, errors.New("scheduler: source, outbox and logger are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > connectors.MaxBatchRecords {
		cfg.BatchSize = connectors.MaxBatchRecords
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, ob: cfg.Outbox, wake: make(chan struct{}, 1),
		models: map[string]*modelRun{}, dbState: wire.DBUnknown}
	s.br = breaker{state: CircuitClosed, backoff: tunnel.Backoff{Base: time.Second, Cap: MaxRetryDelay}}
	initial := cfg.Models
	if initial == nil {
		initial = cfg.Catalog
	}
	now := time.Now()
	for _, name := range initial {
		s.addModelLocked(name, now)
	}
	return s, nil
}

func (s *Scheduler) addModelLocked(name string, now time.Time) *modelRun {
	if m := s.models[name]; m != nil {
		m.removed = false
		return m
	}
	iv := s.cfg.Interval
	if v := s.cfg.Intervals[name]; v > 0 {
		iv = v
	}
	m := &modelRun{name: name, interval: iv, next: now, backoff: tunnel.Backoff{Base: time.Second, Cap: MaxRetryDelay}}
	s.models[name] = m
	return m
}

// restoreLocked sets a model's schedule from what the outbox kept across a restart: a
// full re-sync in progress resumes, and the periodic full re-sync keeps its rhythm.
func (s *Scheduler) restoreLocked(m *modelRun, st outbox.ModelState, now time.Time) {
	m.fullID = st.FullSyncID
	m.lastSuccess = st.LastSuccessAt
	if s.cfg.FullInterval > 0 {
		switch {
		case !st.LastFullAt.IsZero():
			m.nextFull = st.LastFullAt.Add(s.cfg.FullInterval)
		case !st.LastSuccessAt.IsZero():
			m.nextFull = now.Add(s.cfg.FullInterval)
		}
	}
}

// Run schedules syncs until ctx ends, then waits for the runs under way: each
// finishes the batch in hand and stops.
func (s *Scheduler) Run(ctx context.Context) error {
	stored, err := s.ob.Models(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	s.stored = stored
	for name, m := range s.models {
		s.restoreLocked(m, stored[name], now)
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(s.startDue(ctx, &wg))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.wake:
		}
	}
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startDue starts the runs that are due and allowed, and returns how long the loop may
// sleep before something else falls due.
func (s *Scheduler) startDue(ctx context.Context, wg *sync.WaitGroup) time.Duration {
	s.mu.Lock()
	before := s.dbStatusLocked()
	now := time.Now()
	wake := now.Add(time.Hour)
	var starts []*modelRun
	probe := false
	if s.admitLocked(now, &wake) {
		probe = s.startProbeLocked(now, &wake)
		starts = s.startModelsLocked(now, &wake)
	}
	after := s.dbStatusLocked()
	s.mu.Unlock()
	s.changed(before, after)
	if probe {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.probe(ctx)
		}()
	}
	for _, m := range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, m)
		}()
	}
	return max(wake.Sub(now), 0)
}

// admitLocked reports whether the circuit lets runs start; an open circuit whose rest
// is over turns half open.
func (s *Scheduler) admitLocked(now time.Time, wake *time.Time) bool {
	br := &s.br
	if br.state == CircuitOpen {
		if now.Before(br.openUntil) {
			*wake = minTime(*wake, br.openUntil)
			return false
		}
		br.state, br.probe = CircuitHalfOpen, false
		s.log.Info("database circuit half open: one run probes the database")
	}
	return !(br.state == CircuitHalfOpen && br.probe)
}

// startProbeLocked starts a probe of the database while there is no model to sync (a
// generic profile before its custom models arrive), to learn its models and report
// its state.
func (s *Scheduler) startProbeLocked(now time.Time, wake *time.Time) bool {
	if len(s.models) > 0 || s.probing {
		return false
	}
	if now.Before(s.probeNext) {
		*wake = minTime(*wake, s.probeNext)
		return false
	}
	s.probing = true
	s.running++
	if s.br.state == CircuitHalfOpen {
		s.br.probe = true
	}
	return true
}

// startModelsLocked marks the models that are due as running, up to Parallel at a
// time and one while the circuit is half open, and returns them.
func (s *Scheduler) startModelsLocked(now time.Time, wake *time.Time) []*modelRun {
	var starts []*modelRun
	for _, name := range sortedKeys(s.models) {
		m := s.models[name]
		if m.running {
			continue
		}
		if m.removed {
			delete(s.models, name)
			continue
		}
		if !m.manual && now.Before(m.next) {
			*wake = minTime(*wake, m.next)
			if !m.nextFull.IsZero() {
				*wake = minTime(*wake, m.nextFull)
			}
			continue
		}
		if s.running >= s.cfg.Parallel || (s.br.state == CircuitHalfOpen && s.br.probe) {
			continue // woken again when a run ends
		}
		full := m.manualFull || m.fullID != "" || (!m.nextFull.IsZero() && !now.Before(m.nextFull))
		if m.lastSuccess.IsZero() && s.cfg.HistoryWindow > 0 {
			// The initial sync honours the history window too.
			full = true
		}
		m.running, m.manual, m.manualFull = true, false, false
		m.status, m.full, m.rowsRead, m.batches, m.startedAt, m.finishedAt = wire.SyncSyncing, full, 0, 0, now, time.Time{}
		s.running++
		if s.br.state == CircuitHalfOpen {
			s.br.probe = true
		}
		starts = append(starts, m)
	}
	return starts
}

// probe opens the database to learn its models and state when there is nothing to sync.
func (s *Scheduler) probe(ctx context.Context) {
	c, err := s.cfg.Source.Connector(ctx)
	s.mu.Lock()
	before := s.dbStatusLocked()
	s.probing = false
	s.running--
	s.probeNext = time.Now().Add(s.cfg.Interval)
	s.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.finishFailure(before, nil, err, nil)
		return
	}
	s.noteModels(c.Models())
	s.mu.Lock()
	s.succeedLocked(time.Now())
	after := s.dbStatusLocked()
	s.mu.Unlock()
	s.changed(before, after)
	s.poke()
}

// Busy says whether a sync (or a probe of the database) is under way.
func (s *Scheduler) Busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running > 0
}

// NoteModels updates the models to sync from what the connection serves now: custom
// models that mapping overrides added or removed.
func (s *Scheduler) NoteModels(served []string) { s.noteModels(served) }

// noteModels updates the models to sync from what the connection serves now.
func (s *Scheduler) noteModels(served []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Equal(served, s.served) {
		return
	}
	s.served = slices.Clone(served)
	want := served
	if s.cfg.Models != nil {
		want = nil
		for _, name := range s.cfg.Models {
			if slices.Contains(served, name) {
				want = append(want, name)
			} else {
				s.log.Warn("sync.models names a model this connection does not serve; it is skipped", "model", name,
					"served", served)
			}
		}
	}
	now := time.Now()
	for _, name := range want {
		if _, ok := s.models[name]; !ok {
			m := s.addModelLocked(name, now)
			s.restoreLocked(m, s.stored[name], now)
			s.log.Info("model added to the sync schedule", "model", name)
		}
	}
	for name, m := range s.models {
		if !slices.Contains(want, name) {
			m.removed = true
		}
	}
	s.poke()
}

// ErrUnknownModel is wrapped by Trigger's error for a model this agent does not sync.
var ErrUnknownModel = errors.New("unknown model")

// Trigger asks for a sync of models (every model when empty) now: incremental, or a
// full re-sync when full is set. A model that is running syncs again when its run
// ends. Nothing is applied when one of the models is unknown.
func (s *Scheduler) Trigger(models []string, full bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(models) == 0 {
		models = sortedKeys(s.models)
	}
	for _, name := range models {
		if m := s.models[name]; m == nil || m.removed {
			return fmt.Errorf("model %q: %w (this agent syncs %v)", name, ErrUnknownModel, sortedKeys(s.models))
		}
	}
	for _, name := range models {
		m := s.models[name]
		m.manual = true
		m.manualFull = m.manualFull || full
	}
	if s.br.state == CircuitOpen {
		// Someone asks now, perhaps having just fixed the database: end the rest and
		// let one run probe it.
		s.br.openUntil = time.Now()
	}
	s.log.Info("manual sync requested", "models", models, "full", full)
	s.poke()
	return nil
}

// newFullSyncID names a full re-sync.
func newFullSyncID() string {
	var b [8]byte
	rand.Read(b[:])
	return "fs_" + hex.EncodeToString(b[:])
}

// run performs one sync of m and records its outcome.
func (s *Scheduler) run(ctx context.Context, m *modelRun) {
	if s.cfg.OnRun != nil {
		s.cfg.OnRun()
	}
	log := s.log.With("model", m.name)
	s.mu.Lock()
	start, initial, lastSuccess, full, fullID := m.startedAt, m.lastSuccess.IsZero(), m.lastSuccess, m.full, m.fullID
	s.mu.Unlock()
	var conn connectors.Connector
	err := func() error {
		c, err := s.cfg.Source.Connector(ctx)
		if err != nil {
			return err
		}
		conn = c
		served := c.Models()
		s.noteModels(served)
		if !slices.Contains(served, m.name) {
			return errModelGone
		}
		wm, err := s.ob.Watermark(ctx, m.name)
		if err != nil {
			return &localError{err}
		}
		if full {
			if fullID == "" {
				fullID = newFullSyncID()
			}
			if fullID, err = s.ob.BeginFullSync(m.name, fullID); err != nil {
				return &localError{err}
			}
			// Kept until the Final batch is queued: a failed run resumes this re-sync.
			s.mu.Lock()
			m.fullID = fullID
			s.mu.Unlock()
		}
		st := wire.SyncState{Model: m.name, Status: wire.SyncSyncing, Full: full, LastSyncStart: &start, IsInitialSync: initial}
		if !lastSuccess.IsZero() {
			st.LastSuccessfulSyncAt = &lastSuccess
		}
		if err := s.ob.PutState(st); err != nil {
			return &localError{err}
		}
		log.Debug("sync starting", "full", full, "full_sync_id", fullID, "initial", initial)
		var buf []byte
		var enc recordEncoder
		return c.Read(ctx, connectors.ReadRequest{Model: m.name, Watermark: wm, Full: full, HistoryWindow: s.cfg.HistoryWindow,
			BatchSize: s.cfg.BatchSize, Snapshot: s.ob}, func(b connectors.Batch) error {
			buf = buf[:0]
			buf = append(buf, '[')
			for i := range b.Records {
				if i > 0 {
					buf = append(buf, ',')
				}
				if buf, err = enc.appendRecord(buf, &b.Records[i]); err != nil {
					return &localError{fmt.Errorf("encode %s record %s: %w", m.name, b.Records[i].RemoteID, err)}
				}
			}
			buf = append(buf, ']')
			ob := outbox.Batch{Model: m.name, Records: buf, Count: len(b.Records), Watermark: b.Watermark, Hashes: b.Hashes}
			if full {
				ob.FullSyncID, ob.Final = fullID, b.Final
				// A history window leaves older records out of a full re-sync on purpose:
				// they must not read as deleted.
				ob.FullSyncDone = b.Final && s.cfg.HistoryWindow == 0
			}
			if _, err := s.ob.Put(ctx, ob); err != nil {
				if ctx.Err() != nil {
					return err
				}
				return &localError{err}
			}
			s.mu.Lock()
			m.rowsRead += int64(len(b.Records))
			m.batches++
			s.mu.Unlock()
			return nil
		})
	}()
	end := time.Now()
	if ctx.Err() != nil {
		s.mu.Lock()
		m.running = false
		m.status = wire.SyncPaused
		s.running--
		rows := m.rowsRead
		s.mu.Unlock()
		log.Info("sync stopped with the agent", "rows", rows)
		return
	}
	// m stays running until its outcome and its next start are recorded, under the
	// same lock: in between, the loop would find it idle and due, and start it again.
	s.mu.Lock()
	before := s.dbStatusLocked()
	m.finishedAt = end
	rows := m.rowsRead
	s.mu.Unlock()
	if errors.Is(err, errModelGone) {
		s.mu.Lock()
		m.running = false
		s.running--
		m.status = ""
		s.succeedLocked(end) // the database answered
		after := s.dbStatusLocked()
		s.mu.Unlock()
		s.changed(before, after)
		s.poke()
		return
	}
	if err != nil {
		s.finishFailure(before, m, err, conn)
		return
	}
	s.mu.Lock()
	m.running = false
	s.running--
	m.status, m.lastErr, m.denied, m.deniedTable = wire.SyncDone, nil, false, ""
	m.failures = 0
	m.backoff.Reset()
	m.lastSuccess = end
	if full {
		m.fullID = ""
	}
	if s.cfg.FullInterval > 0 && (full || initial) {
		m.nextFull = start.Add(s.cfg.FullInterval)
	}
	m.next = end.Add(m.interval)
	next := m.next
	s.succeedLocked(end)
	after := s.dbStatusLocked()
	s.mu.Unlock()
	s.changed(before, after)
	st := wire.SyncState{Model: m.name, Status: wire.SyncDone, Full: full, LastSyncStart: &start, LastSyncFinished: &end,
		LastSuccessfulSyncAt: &end, NextSyncStart: &next, IsInitialSync: initial, RecordsSynced: rows}
	if err := s.ob.PutState(st); err != nil {
		log.Error("queue sync state", "err", err)
	}
	el := end.Sub(start)
	log.Info("sync done", "full", full, "initial", initial, "rows", rows, "elapsed", el.Round(time.Millisecond),
		"rows_per_s", int(float64(rows)/max(el.Seconds(), 1e-3)))
	s.poke()
}

// errModelGone ends a run whose model the connection no longer serves.
var errModelGone = errors.New("model no longer served")

// localError is a failure of the agent itself (its outbox, encoding), not of the
// database.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// succeedLocked records that the database answered.
func (s *Scheduler) succeedLocked(now time.Time) {
	if s.br.state != CircuitClosed {
		s.log.Info("database circuit closed: the database answers again")
	}
	s.br.state, s.br.failures, s.br.refusals, s.br.probe = CircuitClosed, 0, 0, false
	s.br.backoff.Reset()
	s.dbState, s.dbErr, s.dbChecked = wire.DBReachable, nil, now
}

// authDelayLocked is the wait after the latest of br.refusals refused logins in a row.
func (s *Scheduler) authDelayLocked() time.Duration {
	n := min(max(s.br.refusals-1, 0), 10)
	return min(authRetryDelay<<n, maxAuthRetryDelay)
}

// finishFailure records a failed run of m (nil for a probe), ends the run and schedules
// the retry.
// Failures of the database as a whole (unreachable, login refused, busy) count towards
// the circuit breaker; failures of one model (permission on its table, a mapping or
// data problem) back off that model only.
func (s *Scheduler) finishFailure(before wire.DatabaseStatus, m *modelRun, err error, conn connectors.Connector) {
	now := time.Now()
	class := connectors.Classify(err)
	var le *localError
	local := errors.As(err, &le)
	dbWide := !local && (class == connectors.Unreachable || class == connectors.AuthFailed || class == connectors.Busy ||
		(conn == nil && class == connectors.Other))
	werr := WireError(err)
	if local {
		werr = &wire.Error{Code: "INTERNAL", Message: "the agent could not queue the sync: see the agent's log"}
	}
	if conn != nil && (class == connectors.AuthFailed || class == connectors.Unreachable) {
		// Open again next time, with the DSN as it is then: a fixed password or a
		// restarted database must not meet a cached broken handle.
		s.cfg.Source.Reset(conn)
	}
	s.mu.Lock()
	br := &s.br
	var retry time.Time
	if dbWide {
		br.failures++
		if class == connectors.AuthFailed {
			br.refusals++
		} else {
			br.refusals = 0
		}
		s.dbState, s.dbErr, s.dbChecked = dbStateOf(class), werr, now
		if br.state == CircuitHalfOpen || class == connectors.AuthFailed || br.failures >= breakerThreshold {
			d := br.backoff.Next()
			if class == connectors.AuthFailed {
				d = max(d, s.authDelayLocked())
			}
			if br.state != CircuitOpen {
				s.log.Warn("database circuit open: syncs rest the database", "state", s.dbState, "retry_in", d.Round(time.Second))
			}
			br.state, br.openUntil, br.probe = CircuitOpen, now.Add(d), false
			retry = br.openUntil
		}
	} else if local {
		// Not the database's doing: let another run probe it.
		br.probe = false
	} else {
		// The database answered; the failure is this model's.
		if br.state != CircuitClosed {
			s.log.Info("database circuit closed: the database answers again")
		}
		br.state, br.failures, br.refusals, br.probe = CircuitClosed, 0, 0, false
		br.backoff.Reset()
		s.dbState, s.dbErr, s.dbChecked = wire.DBReachable, nil, now
	}
	if m != nil {
		m.running = false
		s.running--
		m.status, m.lastErr = wire.SyncFailed, werr
		m.denied = class == connectors.PermissionDenied && !local
		m.deniedTable = ""
		var ce *connectors.Error
		if m.denied && errors.As(err, &ce) {
			m.deniedTable = ce.Table
		}
		m.failures++
		d := m.backoff.Next()
		if class == connectors.AuthFailed {
			d = max(d, authRetryDelay)
		}
		m.next = maxTime(now.Add(d), retry)
	}
	var failed *wire.SyncState
	if m != nil {
		// The relay shows it in sync-status (and announces it as sync.failed): without
		// it, the last word the relay had of this model would be a run still syncing.
		start, next := m.startedAt, m.next
		failed = &wire.SyncState{Model: m.name, Status: wire.SyncFailed, Full: m.full, LastSyncStart: &start,
			LastSyncFinished: &now, NextSyncStart: &next, IsInitialSync: m.lastSuccess.IsZero(), RecordsSynced: m.rowsRead,
			Error: werr}
		if !m.lastSuccess.IsZero() {
			last := m.lastSuccess
			failed.LastSuccessfulSyncAt = &last
		}
	}
	after := s.dbStatusLocked()
	name := ""
	if m != nil {
		name = m.name
	} else {
		s.probeNext = maxTime(now.Add(br.backoff.Next()), retry)
	}
	s.mu.Unlock()
	s.changed(before, after)
	s.log.Warn("sync failed", "model", name, "class", class.String(), "db_wide", dbWide, "err", err)
	if failed != nil {
		if err := s.ob.PutState(*failed); err != nil {
			s.log.Error("queue sync state", "model", name, "err", err)
		}
	}
	s.poke()
}

func dbStateOf(c connectors.Class) string {
	switch c {
	case connectors.AuthFailed:
		return wire.DBAuthFailed
	case connectors.Busy:
		return wire.DBBusy
	case connectors.PermissionDenied:
		return wire.DBPermissionDenied
	}
	return wire.DBUnreachable
}

// WireError describes a database failure for the relay: a code of the API and a
// message safe to show a consumer. Driver text, which can name hosts and users, stays
// in the agent's log.
func WireError(err error) *wire.Error {
	switch connectors.Classify(err) {
	case connectors.Unreachable:
		return &wire.Error{Code: "CONNECTION_UNREACHABLE", Message: "the plant database is unreachable"}
	case connectors.AuthFailed:
		return &wire.Error{Code: "REAUTH_REQUIRED", Message: "the plant database refused the agent's login"}
	case connectors.PermissionDenied:
		msg := "the agent's database user may not read a mapped table"
		var ce *connectors.Error
		if errors.As(err, &ce) && ce.Table != "" {
			msg = "the agent's database user may not read table " + ce.Table
		}
		return &wire.Error{Code: "SOURCE_ERROR", Message: msg}
	case connectors.Busy:
		return &wire.Error{Code: "SOURCE_RATE_LIMITED", Message: "the plant database is busy"}
	case connectors.BadRequest:
		return &wire.Error{Code: "SOURCE_ERROR", Message: "the mapping does not fit the plant database"}
	}
	return &wire.Error{Code: "SOURCE_ERROR", Message: "the plant database returned an error"}
}

// Database reports the plant database as the scheduler last found it.
func (s *Scheduler) Database() wire.DatabaseStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dbStatusLocked()
}

func (s *Scheduler) dbStatusLocked() wire.DatabaseStatus {
	st := wire.DatabaseStatus{State: s.dbState, Error: s.dbErr, Circuit: s.br.state}
	if !s.dbChecked.IsZero() {
		t := s.dbChecked
		st.CheckedAt = &t
	}
	if st.State == wire.DBReachable {
		for _, name := range sortedKeys(s.models) {
			if m := s.models[name]; m.denied {
				st.State, st.Table, st.Error = wire.DBPermissionDenied, m.deniedTable, m.lastErr
				break
			}
		}
	}
	return st
}

// changed calls OnChange when the database's state, table or circuit changed.
func (s *Scheduler) changed(before, after wire.DatabaseStatus) {
	if before.State == after.State && before.Table == after.Table && before.Circuit == after.Circuit {
		return
	}
	s.log.Info("database state", "state", after.State, "table", after.Table, "circuit", after.Circuit)
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
}

// Models reports the progress of every model's current or last run.
func (s *Scheduler) Models() []wire.ModelStatus {
	full := s.ob.Stats().Full
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	out := make([]wire.ModelStatus, 0, len(s.models))
	for _, name := range sortedKeys(s.models) {
		m := s.models[name]
		if m.removed {
			continue
		}
		ms := wire.ModelStatus{Model: name, Status: m.status, RowsRead: m.rowsRead, BatchesBuffered: m.batches}
		if ms.Status == "" {
			ms.Status = wire.SyncPaused
		}
		if m.running && full {
			ms.Status = wire.SyncPaused
		}
		if !m.startedAt.IsZero() {
			t := m.startedAt
			ms.StartedAt = &t
			end := m.finishedAt
			if m.running || end.IsZero() {
				end = now
			}
			if el := end.Sub(m.startedAt).Seconds(); el > 0 {
				ms.RowsPerSecond = float64(int64(float64(m.rowsRead)/el*10)) / 10
			}
		}
		if !m.running {
			next := m.next
			if s.br.state == CircuitOpen && s.br.openUntil.After(next) {
				next = s.br.openUntil
			}
			if m.manual {
				next = now
			}
			ms.NextSyncStart = &next
		}
		out = append(out, ms)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
