package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/plantbridge/plantbridge/agent/outbox"
	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// fakeDB is a stand-in for the plant database and its connector, a test double: the
// scheduler's tests need refused logins, unreachable servers and denied tables on
// demand, which no database here produces at will. Each read of a model returns its
// configured number of new rows after the watermark, in batches of two.
type fakeDB struct {
	mu      sync.Mutex // guards the fields below
	models  []string
	rows    map[string]int   // new rows per read
	openErr error            // Connector fails with it
	readErr map[string]error // Read of a model fails with it
	// gate, if set for a model, holds its reads until a value arrives.
	gate map[string]chan struct{}
	// hold, if set for a model, holds its reads after their rows until they are
	// canceled.
	hold   map[string]bool
	reads  []readCall
	active map[string]int
	most   map[string]int // most concurrent reads per model
	opens  int            // Connector calls
	resets int
	conn   *fakeConn
}

type readCall struct {
	model     string
	full      bool
	watermark string
	at        time.Time
}

func newFakeDB(models ...string) *fakeDB {
	db := &fakeDB{models: models, rows: map[string]int{}, readErr: map[string]error{}, gate: map[string]chan struct{}{},
		hold: map[string]bool{}, active: map[string]int{}, most: map[string]int{}}
	db.conn = &fakeConn{db: db}
	return db
}

func (db *fakeDB) Connector(ctx context.Context) (connectors.Connector, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.opens++
	if db.openErr != nil {
		return nil, db.openErr
	}
	return db.conn, nil
}

func (db *fakeDB) Reset(c connectors.Connector) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.resets++
}

func (db *fakeDB) set(f func(db *fakeDB)) {
	db.mu.Lock()
	defer db.mu.Unlock()
	f(db)
}

func (db *fakeDB) get(f func(db *fakeDB)) { db.set(f) }

// readsOf returns the reads of a model so far.
func (db *fakeDB) readsOf(m string) []readCall {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []readCall
	for _, r := range db.reads {
		if r.model == m {
			out = append(out, r)
		}
	}
	return out
}

type fakeConn struct {
	connectors.Connector // methods the scheduler never calls
	db                   *fakeDB
}

func (c *fakeConn) Models() []string {
	c.db.mu.Lock()
	defer c.db.mu.Unlock()
	return slices.Clone(c.db.models)
}

func (c *fakeConn) Read(ctx context.Context, req connectors.ReadRequest, emit func(connectors.Batch) error) error {
	db := c.db
	db.mu.Lock()
	db.reads = append(db.reads, readCall{model: req.Model, full: req.Full, watermark: req.Watermark, at: time.Now()})
	db.active[req.Model]++
	db.most[req.Model] = max(db.most[req.Model], db.active[req.Model])
	err, n, gate, hold := db.readErr[req.Model], db.rows[req.Model], db.gate[req.Model], db.hold[req.Model]
	db.mu.Unlock()
	defer func() {
		db.mu.Lock()
		db.active[req.Model]--
		db.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	wm, _ := strconv.Atoi(req.Watermark)
	var batch []model.Record
	for i := 1; i <= n; i++ {
		rid := strconv.Itoa(wm + i)
		batch = append(batch, model.Record{ID: model.RecordID("conn_test", req.Model, rid), RemoteID: rid, Model: req.Model})
		if len(batch) == 2 || i == n {
			if err := emit(connectors.Batch{Model: req.Model, Records: batch, Watermark: strconv.Itoa(wm + i),
				Final: req.Full && i == n}); err != nil {
				return err
			}
			batch = nil
		}
	}
	if n == 0 && req.Full {
		return emit(connectors.Batch{Model: req.Model, Watermark: req.Watermark, Final: true})
	}
	if hold {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// harness runs a scheduler over a fakeDB and a real outbox inside a synctest bubble.
type harness struct {
	t      *testing.T
	db     *fakeDB
	ob     *outbox.Outbox
	s      *Scheduler
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex // guards changes
	changes []wire.DatabaseStatus
}

func newHarness(t *testing.T, db *fakeDB, cfg Config, before func(ob *outbox.Outbox)) *harness {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Logger: logtest.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(ob)
	}
	h := &harness{t: t, db: db, ob: ob, done: make(chan error, 1)}
	cfg.Source, cfg.Outbox, cfg.Logger = db, ob, logtest.New(t)
	cfg.OnChange = func() {
		st := h.s.Database()
		h.mu.Lock()
		h.changes = append(h.changes, st)
		h.mu.Unlock()
	}
	if cfg.Catalog == nil && cfg.Models == nil {
		cfg.Catalog = db.models
	}
	h.s, err = NewScheduler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.s.Run(ctx) }()
	return h
}

// stop ends the scheduler and closes the outbox, inside the bubble.
func (h *harness) stop() {
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Error(err)
	}
	h.ob.Close()
}

// circuits returns the circuit states the scheduler went through, without repeats.
func (h *harness) circuits() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, c := range h.changes {
		if len(out) == 0 || out[len(out)-1] != c.Circuit {
			out = append(out, c.Circuit)
		}
	}
	return out
}

// queued drains the outbox and returns its items as "batch model ids" and
// "state model status".
func (h *harness) queued() []string {
	ctx := context.Background()
	var out []string
	for {
		it, ok, err := h.ob.Peek(ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		if !ok {
			return out
		}
		switch it.Kind {
		case outbox.KindBatch:
			var b wire.Batch
			json.Unmarshal(it.Body, &b)
			ids := ""
			for _, r := range b.Records {
				var k struct {
					RemoteID string `json:"remote_id"`
				}
				json.Unmarshal(r, &k)
				ids += " " + k.RemoteID
			}
			tag := ""
			if b.FullSyncID != "" {
				tag = " full=" + b.FullSyncID
				if b.FullSyncDone {
					tag += " done"
				}
			}
			out = append(out, "batch "+b.Model+ids+tag)
		case outbox.KindSyncState:
			var s wire.SyncState
			json.Unmarshal(it.Body, &s)
			out = append(out, "state "+s.Model+" "+s.Status)
		}
		h.ob.Ack(it.Seq)
	}
}

func TestSchedulerIntervals(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("assets", "work_orders")
		db.rows["work_orders"] = 3
		h := newHarness(t, db, Config{Interval: 5 * time.Minute, Intervals: map[string]time.Duration{"work_orders": time.Minute}}, nil)
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		wo, as := db.readsOf("work_orders"), db.readsOf("assets")
		if len(wo) != 11 || len(as) != 3 {
			t.Errorf("in 10 minutes: %d work order reads (want 11, one a minute), %d asset reads (want 3, every 5)", len(wo), len(as))
		}
		for i, r := range wo {
			if r.full {
				t.Errorf("read %d is full", i)
			}
			want := strconv.Itoa(3 * i)
			if i == 0 {
				want = ""
			}
			if r.watermark != want {
				t.Errorf("read %d from watermark %q, want %q (each read goes on from the last batch)", i, r.watermark, want)
			}
		}
		ms := h.s.Models()
		if len(ms) != 2 || ms[1].Model != "work_orders" || ms[1].Status != wire.SyncDone || ms[1].RowsRead != 3 ||
			ms[1].BatchesBuffered != 2 || ms[1].NextSyncStart == nil || ms[1].StartedAt == nil {
			t.Errorf("model status %+v", ms)
		}
		if st := h.s.Database(); st.State != wire.DBReachable || st.Circuit != CircuitClosed || st.CheckedAt == nil {
			t.Errorf("database status %+v", st)
		}
		// Two batches per work order read, and per model its newest state (older ones
		// are replaced), behind the batches.
		got := h.queued()
		var batches, states []string
		for _, it := range got {
			if it[:5] == "batch" {
				batches = append(batches, it)
			} else {
				states = append(states, it)
			}
		}
		slices.Sort(states)
		if len(batches) != 11*2 || batches[0] != "batch work_orders 1 2" || batches[21] != "batch work_orders 33" ||
			!slices.Equal(states, []string{"state assets done", "state work_orders done"}) ||
			slices.Index(got, "state work_orders done") < slices.Index(got, "batch work_orders 33") {
			t.Errorf("queued %d items: %v", len(got), got)
		}
		h.stop()
	})
}

func TestSchedulerOneRunPerModel(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("work_orders")
		gate := make(chan struct{})
		db.gate["work_orders"] = gate
		h := newHarness(t, db, Config{Interval: time.Minute}, nil)
		synctest.Wait()
		// The run outlasts its interval and is asked for again and again meanwhile.
		for range 5 {
			time.Sleep(time.Minute)
			if err := h.s.Trigger(nil, false); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		if n := len(db.readsOf("work_orders")); n != 1 {
			t.Errorf("%d reads while the first was running", n)
		}
		if ms := h.s.Models(); ms[0].Status != wire.SyncSyncing || ms[0].NextSyncStart != nil {
			t.Errorf("status while running: %+v", ms[0])
		}
		db.set(func(db *fakeDB) { delete(db.gate, "work_orders") })
		close(gate)
		synctest.Wait()
		// The asks while it ran make one more run right after it, not five.
		if n := len(db.readsOf("work_orders")); n != 2 {
			t.Errorf("%d reads after the first ended, want 2", n)
		}
		db.get(func(db *fakeDB) {
			if db.most["work_orders"] != 1 {
				t.Errorf("%d reads of one model at once", db.most["work_orders"])
			}
		})
		h.stop()
	})
}

func TestSchedulerManualAndFull(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("assets", "work_orders")
		db.rows["work_orders"] = 1
		h := newHarness(t, db, Config{Interval: time.Hour}, nil)
		synctest.Wait()
		h.queued()
		err := h.s.Trigger([]string{"work_orders", "vendors"}, true)
		if !errors.Is(err, ErrUnknownModel) {
			t.Fatalf("trigger with an unknown model = %v", err)
		}
		synctest.Wait()
		if n := len(db.readsOf("work_orders")); n != 1 {
			t.Fatalf("a refused trigger started a read (%d reads)", n)
		}
		time.Sleep(time.Second)
		if err := h.s.Trigger([]string{"work_orders"}, true); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		reads := db.readsOf("work_orders")
		if len(reads) != 2 || !reads[1].full {
			t.Fatalf("reads after a manual full sync: %+v", reads)
		}
		if n := len(db.readsOf("assets")); n != 1 {
			t.Errorf("assets read %d times; the trigger named work orders only", n)
		}
		got := h.queued()
		if len(got) != 2 || !regexpMatch(`^batch work_orders 2 full=fs_[0-9a-f]+ done$`, got[0]) || got[1] != "state work_orders done" {
			t.Errorf("queued after a full sync: %v", got)
		}
		h.stop()
	})
}

// TestSchedulerPeriodicFull checks that a model is fully re-synced every FullInterval,
// counting the initial sync as one.
func TestSchedulerPeriodicFull(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("work_orders")
		start := time.Now()
		h := newHarness(t, db, Config{Interval: 10 * time.Minute, FullInterval: time.Hour}, nil)
		time.Sleep(2*time.Hour + time.Second)
		synctest.Wait()
		var fulls []time.Duration
		for _, r := range db.readsOf("work_orders") {
			if r.full {
				fulls = append(fulls, r.at.Sub(start))
			}
		}
		if !slices.Equal(fulls, []time.Duration{time.Hour, 2 * time.Hour}) {
			t.Errorf("full re-syncs at %v, want at 1h and 2h", fulls)
		}
		h.stop()
	})
}

// TestSchedulerResumesFullSync checks that a full re-sync interrupted by a restart
// resumes under its id.
func TestSchedulerResumesFullSync(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("work_orders")
		db.rows["work_orders"] = 2
		h := newHarness(t, db, Config{}, func(ob *outbox.Outbox) {
			ob.BeginFullSync("work_orders", "fs_before_restart")
		})
		synctest.Wait()
		if r := db.readsOf("work_orders"); len(r) != 1 || !r[0].full {
			t.Fatalf("reads %+v, want one full", r)
		}
		if got := h.queued(); len(got) != 2 || got[0] != "batch work_orders 1 2 full=fs_before_restart done" {
			t.Errorf("queued %v", got)
		}
		ms, _ := h.ob.Models(context.Background())
		if ms["work_orders"].FullSyncID != "" || ms["work_orders"].LastFullAt.IsZero() {
			t.Errorf("after the resumed full sync: %+v", ms["work_orders"])
		}
		h.stop()
	})
}

// TestSchedulerCircuitBreaker takes the database away: the scheduler backs off, opens
// the circuit, probes now and then with one run, never in a tight loop, and recovers by
// itself when the database returns.
func TestSchedulerCircuitBreaker(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("assets", "work_orders")
		db.openErr = &connectors.Error{Class: connectors.Unreachable, Op: "connect", Err: errors.New("dial tcp: connection refused")}
		h := newHarness(t, db, Config{Interval: time.Minute}, nil)
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		var opens int
		db.get(func(db *fakeDB) { opens = db.opens })
		// Backoff doubles up to 5 minutes: about 15 attempts in 30 minutes.
		if opens < 5 || opens > 25 {
			t.Errorf("%d attempts to open the database in 30 minutes", opens)
		}
		st := h.s.Database()
		if st.State != wire.DBUnreachable || st.Error == nil || st.Error.Code != "CONNECTION_UNREACHABLE" {
			t.Errorf("database status %+v", st)
		}
		if ms := h.s.Models(); ms[0].Status != wire.SyncFailed || ms[0].NextSyncStart == nil {
			t.Errorf("model status %+v", ms[0])
		}
		if c := h.circuits(); len(c) < 4 || c[0] != CircuitClosed || c[1] != CircuitOpen || c[2] != CircuitHalfOpen || c[3] != CircuitOpen {
			t.Errorf("circuit went %v, want closed, open, half_open, open, …", c)
		}

		db.set(func(db *fakeDB) { db.openErr = nil })
		time.Sleep(MaxRetryDelay + time.Second)
		synctest.Wait()
		if st := h.s.Database(); st.State != wire.DBReachable || st.Circuit != CircuitClosed || st.Error != nil {
			t.Errorf("after the database returned: %+v", st)
		}
		if c := h.circuits(); c[len(c)-1] != CircuitClosed || c[len(c)-2] != CircuitHalfOpen {
			t.Errorf("circuit went %v, want …, half_open, closed", c)
		}
		for _, m := range h.s.Models() {
			if m.Status != wire.SyncDone {
				t.Errorf("%s: %s after recovery", m.Model, m.Status)
			}
		}
		h.stop()
	})
}

// TestSchedulerAuthFailed has the database refuse the login: the circuit opens at once,
// attempts start a minute apart and slow down to one every 15 minutes (so an account
// with a lockout after 10 failures takes hours to lock), the connector is reopened (not
// reused), and a manual sync after the password is fixed recovers without a restart.
func TestSchedulerAuthFailed(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("work_orders")
		denied := &connectors.Error{Class: connectors.AuthFailed, Op: "read work_orders", Err: errors.New("ORA-01017: invalid username/password")}
		db.readErr["work_orders"] = denied
		h := newHarness(t, db, Config{Interval: time.Minute}, nil)
		synctest.Wait()
		st := h.s.Database()
		if st.State != wire.DBAuthFailed || st.Circuit != CircuitOpen || st.Error.Code != "REAUTH_REQUIRED" {
			t.Fatalf("after a refused login: %+v", st)
		}
		db.get(func(db *fakeDB) {
			if db.resets != 1 {
				t.Errorf("%d connector resets, want 1 (a refused login must not keep the handle)", db.resets)
			}
		})
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		reads := db.readsOf("work_orders")
		var gaps []time.Duration
		for i := 1; i < len(reads); i++ {
			gaps = append(gaps, reads[i].at.Sub(reads[i-1].at).Truncate(time.Minute))
		}
		// 1, 2, 4, 8 minutes (the breaker's own backoff may add to one), then 15.
		for i, want := range []time.Duration{1, 2, 4, 8, 15, 15, 15} {
			if i >= len(gaps) || gaps[i] < want*time.Minute || gaps[i] > 15*time.Minute {
				t.Fatalf("logins after a refused one came %v apart, want at least %v", gaps, []int{1, 2, 4, 8, 15, 15, 15})
			}
		}
		if len(reads) > 12 {
			t.Errorf("%d logins in 2 hours", len(reads))
		}

		db.set(func(db *fakeDB) { delete(db.readErr, "work_orders") })
		before := len(reads)
		if err := h.s.Trigger(nil, false); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(db.readsOf("work_orders")); n != before+1 {
			t.Errorf("a manual sync after the fix made %d reads", n-before)
		}
		if st := h.s.Database(); st.State != wire.DBReachable || st.Circuit != CircuitClosed {
			t.Errorf("after the fix: %+v", st)
		}
		h.stop()
	})
}

// TestSchedulerPermissionDenied has one table refused: the database state names it,
// other models go on, the circuit stays closed, and the model recovers by itself.
func TestSchedulerPermissionDenied(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("assets", "work_orders")
		db.readErr["work_orders"] = &connectors.Error{Class: connectors.PermissionDenied, Table: "WORKORDER", Op: "read work_orders",
			Err: errors.New("permission denied for table workorder")}
		h := newHarness(t, db, Config{Interval: time.Minute}, nil)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		st := h.s.Database()
		if st.State != wire.DBPermissionDenied || st.Table != "WORKORDER" || st.Circuit != CircuitClosed ||
			st.Error == nil || st.Error.Message != "the agent's database user may not read table WORKORDER" {
			t.Errorf("database status %+v", st)
		}
		if n := len(db.readsOf("assets")); n < 10 {
			t.Errorf("assets read %d times in 10 minutes beside a refused table", n)
		}
		// Backoff from 1 s doubling to 5 minutes: about a dozen tries in 10 minutes.
		if n := len(db.readsOf("work_orders")); n > 16 {
			t.Errorf("refused table retried %d times in 10 minutes", n)
		}
		db.set(func(db *fakeDB) { delete(db.readErr, "work_orders") })
		time.Sleep(MaxRetryDelay + time.Second)
		synctest.Wait()
		if st := h.s.Database(); st.State != wire.DBReachable || st.Table != "" {
			t.Errorf("after the grant: %+v", st)
		}
		h.stop()
	})
}

// TestSchedulerReportsFailedRuns has a read fail: the relay is told, through the
// outbox, that the run failed and why, with no driver text, and is told again once a
// later run is done.
func TestSchedulerReportsFailedRuns(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("work_orders")
		db.rows["work_orders"] = 3
		db.readErr["work_orders"] = &connectors.Error{Class: connectors.Unreachable, Op: "read work_orders",
			Err: errors.New("dial tcp 10.0.0.7:5432: connection refused")}
		h := newHarness(t, db, Config{Interval: time.Hour}, nil)
		synctest.Wait()
		it, ok, err := h.ob.Peek(context.Background())
		if err != nil || !ok || it.Kind != outbox.KindSyncState {
			t.Fatalf("queued after a failed run: %+v %v %v", it, ok, err)
		}
		var st wire.SyncState
		if err := json.Unmarshal(it.Body, &st); err != nil {
			t.Fatal(err)
		}
		if st.Status != wire.SyncFailed || st.Error == nil || st.Error.Code != "CONNECTION_UNREACHABLE" ||
			st.LastSyncStart == nil || st.LastSyncFinished == nil || st.NextSyncStart == nil || !st.IsInitialSync ||
			st.LastSuccessfulSyncAt != nil {
			t.Errorf("failed state %s", it.Body)
		}
		if regexpMatch(`10\.0\.0\.7|refused`, string(it.Body)) {
			t.Errorf("driver text in the state for the relay: %s", it.Body)
		}
		db.set(func(db *fakeDB) { delete(db.readErr, "work_orders") })
		time.Sleep(MaxRetryDelay + time.Second)
		synctest.Wait()
		if q := h.queued(); !slices.Equal(q, []string{"batch work_orders 1 2", "batch work_orders 3", "state work_orders done"}) {
			t.Errorf("queued after recovery: %q", q)
		}
		h.stop()
	})
}

// TestSchedulerModelsFollowTheConnection checks that models come from the connection
// when the catalog is empty (a generic profile) and that a model the connection stops
// serving leaves the schedule.
func TestSchedulerModelsFollowTheConnection(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB()
		h := newHarness(t, db, Config{Interval: time.Minute, Catalog: []string{}}, nil)
		synctest.Wait()
		if ms := h.s.Models(); len(ms) != 0 {
			t.Fatalf("models before the database has any: %+v", ms)
		}
		db.set(func(db *fakeDB) { db.models = []string{"custom_meters"} })
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if n := len(db.readsOf("custom_meters")); n != 1 {
			t.Errorf("new model read %d times", n)
		}
		if err := h.s.Trigger([]string{"custom_meters"}, false); err != nil {
			t.Errorf("trigger of the new model: %v", err)
		}
		synctest.Wait()
		db.set(func(db *fakeDB) { db.models = []string{"other"} })
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if err := h.s.Trigger([]string{"custom_meters"}, false); !errors.Is(err, ErrUnknownModel) {
			t.Errorf("trigger of a model no longer served = %v", err)
		}
		h.stop()
	})
}

// TestSchedulerStopFinishesTheBatch stops the scheduler in the middle of a long read:
// Run returns, and what the outbox holds is consistent, the watermark that of the last
// queued batch.
func TestSchedulerStopFinishesTheBatch(t *testing.T) {
	leaktest.Check(t)
	synctest.Test(t, func(t *testing.T) {
		db := newFakeDB("work_orders")
		db.rows["work_orders"] = 41
		db.hold["work_orders"] = true
		h := newHarness(t, db, Config{}, nil)
		synctest.Wait()
		if n := h.ob.Stats().Batches; n != 21 {
			t.Fatalf("%d batches queued", n)
		}
		h.cancel()
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
		wm, _ := h.ob.Watermark(context.Background(), "work_orders")
		got := h.queued()
		last := got[len(got)-1]
		if want := fmt.Sprintf(" %s", wm); last[len(last)-len(want):] != want {
			t.Errorf("watermark %s, last queued %q", wm, last)
		}
		if ms := h.s.Models(); ms[0].Status != wire.SyncPaused {
			t.Errorf("status after stop: %+v", ms[0])
		}
		h.ob.Close()
	})
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
