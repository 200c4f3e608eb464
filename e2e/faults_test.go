package e2e

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/internal/pgtest"

	"github.com/jackc/pgx/v5"
)

// The fault tests run the relay, the agent and the plant database's mutator as real
// processes, break one of them the way plants and clouds break, and then hold the relay
// to the oracle (compare): every record of the plant database, once, every field equal.

// TestAgentKilledDuringSyncs kills the agent with SIGKILL at random moments while it
// syncs a plant database that its users keep changing: during the initial sync, during
// uploads and during incremental syncs. After the last kill the agent runs on its own
// state, and the relay must hold exactly the database's records: first after an
// incremental sync (no change was lost on the way: the watermarks and the outbox
// agreed at every kill), then after a full re-sync, with the deletes reported too.
func TestAgentKilledDuringSyncs(t *testing.T) {
	t.Parallel()
	const kills = 24
	seed := time.Now().UnixNano()
	t.Logf("random seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))

	p := newPlant(t, plantConfig{driver: "sqlite", rows: 4000, seed: 7})
	models := p.servedModels()
	p.startMutator(50)
	start := time.Now()
	// What the kills interrupted, as the killed agent's outbox shows it: the initial
	// sync, a full re-sync, uploads (batches the relay had not acknowledged).
	var initial, full, unacked, most int
	for i := range kills {
		started := time.Now()
		p.startAgent()
		switch {
		case i < 4:
			// Into the initial sync, which the agent starts before its tunnel is up,
			// and which each of these kills interrupts again.
			time.Sleep(time.Duration(50+rnd.IntN(350)) * time.Millisecond)
		case i%2 == 0:
			// Into a full re-sync, asked for through the relay as soon as the agent is
			// back, which the next agent resumes.
			p.waitState(30*time.Second, "online", func(s connStatus) bool {
				return s.Agent != nil && s.Agent.ConnectedSince != nil && s.Agent.ConnectedSince.After(started)
			})
			if code, body := p.api("POST", "/v1/connections/"+p.connID+"/syncs", map[string]any{"full": true}); code != http.StatusAccepted {
				t.Fatalf("full re-sync: %d %v", code, body)
			}
			time.Sleep(time.Duration(rnd.IntN(300)) * time.Millisecond)
		default:
			// Anywhere in the incremental syncs and uploads that follow the mutator.
			time.Sleep(time.Duration(100+rnd.IntN(900)) * time.Millisecond)
		}
		p.agent.kill()
		ob := p.killedOutbox()
		if ob.synced < len(models) {
			initial++
		}
		if ob.fulls > 0 {
			full++
		}
		if ob.batches > 0 {
			unacked++
			most = max(most, ob.batches)
		}
	}
	t.Logf("%d kills in %v: %d during the initial sync, %d during a full re-sync, %d with batches the relay had not acknowledged (up to %d)",
		kills, time.Since(start).Round(time.Millisecond), initial, full, unacked, most)

	p.startAgent()
	time.Sleep(2 * time.Second)
	p.stopMutator()
	p.settle(models, false, 2*time.Minute)
	tl := p.compare(false)
	t.Logf("after %s changes and an incremental sync: %d records equal, %d deleted ones marked, %d deleted ones not yet reported",
		p.mutations(), tl.live, tl.deleted, tl.unmarked)
	p.settle(models, true, 2*time.Minute)
	tl = p.compare(true)
	t.Logf("after a full re-sync: %d records equal, %d deleted ones marked", tl.live, tl.deleted)
}

// TestRelayDownWhileAgentSyncs stops the relay for a while, once with SIGTERM and once
// with SIGKILL, while the agent syncs a changing plant database, and restarts it on the
// same data dir. Meanwhile the agent keeps reading into its outbox, which the test sees
// grow in the agent's status file; when the relay is back the outbox drains, and the
// relay holds exactly the database's records.
func TestRelayDownWhileAgentSyncs(t *testing.T) {
	t.Parallel()
	p := newPlant(t, plantConfig{driver: "sqlite", rows: 2000, seed: 11})
	models := p.servedModels()
	p.startAgent()
	p.settle(models, false, time.Minute)
	p.startMutator(50)
	var peak agent.StatusFile
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		time.Sleep(500 * time.Millisecond) // into the syncs that follow the changes
		p.signalRelay(sig)
		down := time.Now()
		first := p.waitAgentStatus(20*time.Second, "batches buffered", down, func(s agent.StatusFile) bool {
			return !s.Tunnel.Connected && s.Buffer.Batches > 0
		})
		grown := p.waitAgentStatus(20*time.Second, "the buffer growing", first.UpdatedAt, func(s agent.StatusFile) bool {
			return s.Buffer.Batches > first.Buffer.Batches && s.Buffer.Bytes > first.Buffer.Bytes
		})
		if grown.Buffer.Bytes > peak.Buffer.Bytes {
			peak = grown
		}
		t.Logf("relay down (%v): the agent's buffer grew from %d batches (%d bytes) to %d batches (%d bytes) in %v",
			sig, first.Buffer.Batches, first.Buffer.Bytes, grown.Buffer.Batches, grown.Buffer.Bytes,
			grown.UpdatedAt.Sub(first.UpdatedAt).Round(time.Second))
		p.startRelay()
		up := time.Now()
		// The tunnel's reconnect backoff starts again from 1 s only after a minute
		// connected, so the second outage may take up to its cap (60 s) to notice.
		drained := p.waitAgentStatus(90*time.Second, "the buffer drained", up, func(s agent.StatusFile) bool {
			return s.Tunnel.Connected && s.Buffer.Batches < grown.Buffer.Batches/4
		})
		t.Logf("relay back: %d batches left after %v", drained.Buffer.Batches, drained.UpdatedAt.Sub(up).Round(time.Second))
	}
	p.stopMutator()
	p.settle(models, false, time.Minute)
	tl := p.compare(false)
	t.Logf("after %s changes and an incremental sync: %d records equal, %d deleted ones not yet reported",
		p.mutations(), tl.live, tl.unmarked)
	p.settle(models, true, time.Minute)
	tl = p.compare(true)
	t.Logf("after a full re-sync: %d records equal, %d deleted ones marked; buffer peak %d batches, %d bytes",
		tl.live, tl.deleted, peak.Buffer.Batches, peak.Buffer.Bytes)
}

// TestDatabaseRestartedDuringSyncs stops the plant's PostgreSQL while the agent syncs
// it and the plant's users change it, and starts it again on the same port. The relay
// must show the connection degraded (the database unreachable) while it is down and
// online once the agent's backoff has found it back, without any help; the agent must
// not hammer the database meanwhile; and the relay must end up with exactly the
// database's records.
func TestDatabaseRestartedDuringSyncs(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	p := newPlant(t, plantConfig{driver: "postgres", dsn: srv.CreateDB(t, "maximo"), rows: 1500, seed: 13})
	models := p.servedModels()
	p.startAgent()
	p.settle(models, false, time.Minute)
	p.startMutator(50)
	time.Sleep(1500 * time.Millisecond) // into the syncs that follow the changes

	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	failedBefore := strings.Count(p.agent.output(), `"msg":"sync failed"`)
	st := p.waitState(30*time.Second, "degraded", func(s connStatus) bool { return s.Database.State == "unreachable" })
	t.Logf("database down: the relay says %s (%s) after %v", st.State, st.Reason, time.Since(down).Round(time.Millisecond))
	p.stopMutator() // it has lost its database; the plant's users wait too
	p.waitSyncError("CONNECTION_UNREACHABLE")
	time.Sleep(8 * time.Second)
	failed := strings.Count(p.agent.output(), `"msg":"sync failed"`) - failedBefore
	opened := strings.Contains(p.agent.output(), "database circuit open")
	t.Logf("%d failed syncs in %v of downtime; circuit opened: %v", failed, time.Since(down).Round(time.Second), opened)
	// Nine models, two at a time, each backing off from 1 s, and a circuit that opens
	// after three database failures in a row: a handful, not hundreds.
	if failed > 20 || !opened {
		t.Errorf("%d failed syncs in %v (circuit opened: %v): the agent does not rest the database",
			failed, time.Since(down).Round(time.Second), opened)
	}

	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	p.waitState(90*time.Second, "online", func(s connStatus) bool { return s.Database.State == "reachable" })
	t.Logf("database back: the relay says online after %v", time.Since(up).Round(time.Millisecond))
	p.startMutator(50)
	time.Sleep(2 * time.Second)
	p.stopMutator()
	p.settle(models, false, time.Minute)
	tl := p.compare(false)
	t.Logf("after an incremental sync: %d records equal, %d deleted ones not yet reported", tl.live, tl.unmarked)
	p.settle(models, true, time.Minute)
	tl = p.compare(true)
	t.Logf("after a full re-sync: %d records equal, %d deleted ones marked", tl.live, tl.deleted)
}

// TestWrongDatabasePassword starts the agent with a wrong password for the plant's
// PostgreSQL account. The relay must say reauth_required; the agent must not retry in
// a loop (every attempt counts towards the account's lockout in a real plant), which
// the test counts in PostgreSQL's own log; and once plant IT writes the right password
// into the DSN file and asks for a sync, the agent recovers without a restart. (Left
// alone it would try again by itself, a minute or more after the last refusal.)
func TestWrongDatabasePassword(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	dsn := srv.CreateDB(t, "maximo")
	agentDSN := func(password string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("plant", password)
		return u.String()
	}
	p := newPlant(t, plantConfig{driver: "postgres", dsn: dsn, agentDSN: agentDSN("not-the-password"), rows: 500, seed: 17})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE ROLE plant LOGIN PASSWORD 'db-pa55word'`,
		`GRANT USAGE ON SCHEMA public TO plant`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO plant`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The cluster trusts every local connection; make it ask the agent's account for
	// its password, as a plant's database does.
	hba := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(srv.Dir, "data", "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	refused := func() int {
		b, err := os.ReadFile(srv.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), `password authentication failed for user "plant"`)
	}

	models := p.servedModels()
	p.startAgent()
	start := time.Now()
	st := p.waitState(30*time.Second, "reauth_required", nil)
	t.Logf("the relay says %s (%s) after %v", st.State, st.Reason, time.Since(start).Round(time.Millisecond))
	p.waitSyncError("REAUTH_REQUIRED")
	// The first syncs start together (two models at a time) and each may try once
	// before the first refusal rests the database.
	time.Sleep(2 * time.Second)
	first := refused()
	time.Sleep(10 * time.Second)
	later := refused()
	t.Logf("PostgreSQL refused %d logins in the agent's first 2 s, %d in the 10 s after", first, later-first)
	if first == 0 || first > 2 || later != first {
		t.Errorf("logins refused: %d in the first 2 s, %d in the 10 s after: the agent must rest a database that refuses its login",
			first, later-first)
	}
	if s, _ := p.status(); s.State != "reauth_required" {
		t.Errorf("state %s after 10 s, want reauth_required still", s.State)
	}

	p.setAgentDSN(agentDSN("db-pa55word"))
	fixed := time.Now()
	p.settle(models, false, time.Minute)
	p.waitState(30*time.Second, "online", nil)
	t.Logf("password fixed: the agent synced every model %v later, without a restart", time.Since(fixed).Round(time.Millisecond))
	tl := p.compare(true)
	t.Logf("%d records equal; %d logins refused in all", tl.live, refused())
}

// TestBufferFullWhileRelayDown starts the agent with the smallest buffer the config
// allows while the relay is down, on a plant database several times that size. The
// agent must fill the buffer, say buffer_full and pause reading (drop nothing, hold no
// more than the limit), and when the relay returns drain everything, so that the relay
// holds exactly the database's records.
func TestBufferFullWhileRelayDown(t *testing.T) {
	t.Parallel()
	const maxBytes = connectors.MaxBatchBytes // the least buffer.max_bytes may be
	p := newPlant(t, plantConfig{driver: "sqlite", rows: 3000, seed: 19, maxBytes: maxBytes})
	models := p.servedModels()
	p.signalRelay(syscall.SIGTERM)
	start := time.Now()
	p.startAgent()
	full := p.waitAgentStatus(30*time.Second, "buffer_full", start, func(s agent.StatusFile) bool { return s.Buffer.Full })
	// What the paused models had read when the buffer filled.
	paused := map[string]int64{}
	for _, m := range full.Models {
		if m.Status == "paused" {
			paused[m.Model] = m.RowsRead
		}
	}
	if len(paused) == 0 {
		t.Errorf("no model paused while the buffer is full: %+v", full.Models)
	}
	// The next report, while the relay stays away: reading stays paused.
	later := p.waitAgentStatus(20*time.Second, "a report after the first full one", full.UpdatedAt, func(agent.StatusFile) bool { return true })
	t.Logf("buffer full %v after the start: %d batches, %d of %d bytes; paused (rows read): %v",
		full.UpdatedAt.Sub(start).Round(time.Second), full.Buffer.Batches, full.Buffer.Bytes, full.Buffer.MaxBytes, paused)
	if !later.Buffer.Full || later.Buffer.Batches != full.Buffer.Batches {
		t.Errorf("the buffer went from %d batches (full) to %d (full: %v) while the relay was away",
			full.Buffer.Batches, later.Buffer.Batches, later.Buffer.Full)
	}
	for _, m := range later.Models {
		if n, ok := paused[m.Model]; ok && (m.Status != "paused" || m.RowsRead != n) {
			t.Errorf("%s read on while the buffer was full: paused at %d rows read, then %s at %d", m.Model, n, m.Status, m.RowsRead)
		}
	}
	// States of a model's runs are tiny and may join a full buffer; batches may not.
	for _, s := range []agent.StatusFile{full, later} {
		if s.Buffer.Bytes > maxBytes+64<<10 {
			t.Errorf("the buffer holds %d bytes, over its limit of %d", s.Buffer.Bytes, maxBytes)
		}
	}
	if !strings.Contains(p.agent.output(), "outbox full; reading pauses") {
		t.Error("the agent did not log that its outbox is full")
	}
	// What plant IT sees. The command exits non-zero: the agent runs in the foreground
	// here, not as a service.
	out, _ := exec.Command(filepath.Join(binDir, "plantbridge-agent"), "status", "--config", p.config).Output()
	if !strings.Contains(string(out), "(full: reading paused until the relay takes batches again)") {
		t.Errorf("plantbridge-agent status does not say the buffer is full:\n%s", out)
	}

	p.startRelay()
	p.settle(models, false, 2*time.Minute)
	tl := p.compare(true)
	t.Logf("relay back: drained and synced; %d records equal", tl.live)
	if !strings.Contains(p.agent.output(), "outbox has space again; reading resumes") {
		t.Error("the agent did not log that reading resumes")
	}
}
