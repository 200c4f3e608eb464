package e2e

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors"
)

// plant is a relay, an agent enrolled for one of its connections, and the Maximo
// database the agent reads, each run as its real program on loopback: the setting of
// the fault tests, which stop, kill and restart the parts and then compare what the
// relay holds with the database.
type plant struct {
	t        *testing.T
	dir      string
	addr     string // the relay's listener
	relayDir string // the relay's data dir
	key      string // the account's API key
	connID   string
	config   string // agent.yaml
	stateDir string // the agent's state dir
	dsnFile  string // the agent reads its DSN from here
	// source is the plant database as the test reads it to know what the relay must hold.
	source connectors.Config
	// demoArgs are the demo-db arguments that name the database.
	demoArgs []string

	relay   *proc
	agent   *proc
	mutator *proc
}

// plantConfig describes a plant.
type plantConfig struct {
	// driver is sqlite or postgres.
	driver string
	// dsn is the PostgreSQL database as the test and the mutator reach it; for sqlite
	// the database is a file in the plant's directory.
	dsn string
	// agentDSN is the DSN the agent is given (in connection.dsn_file); default dsn.
	agentDSN string
	// rows is the number of work orders of the demo database.
	rows int
	// maxBytes is buffer.max_bytes; 0 keeps the default.
	maxBytes int64
	// seed selects the demo data and its changes.
	seed int64
}

// timezone of the demo plant: its local times must reach the relay as the right UTC.
const plantTimezone = "America/Chicago"

// newPlant creates the demo database, an account and a connection on a running relay,
// and enrolls the agent with the connection's token. The agent is not started.
func newPlant(t *testing.T, pc plantConfig) *plant {
	t.Helper()
	dir := t.TempDir()
	p := &plant{t: t, dir: dir, addr: freePort(t), relayDir: filepath.Join(dir, "relay"),
		config: filepath.Join(dir, "agent.yaml"), stateDir: filepath.Join(dir, "agent-state"),
		dsnFile: filepath.Join(dir, "agent.dsn")}
	if pc.seed == 0 {
		pc.seed = 1
	}
	p.source = connectors.Config{System: "maximo", Driver: pc.driver, DSN: pc.dsn, Location: mustZone(t, plantTimezone)}
	if pc.driver == "sqlite" {
		p.source.DSN = filepath.Join(dir, "maximo.db")
		p.demoArgs = []string{"--system", "maximo", "--driver", "sqlite", "--out", p.source.DSN}
	} else {
		p.demoArgs = []string{"--system", "maximo", "--driver", pc.driver, "--dsn", pc.dsn}
	}
	p.demoArgs = append(p.demoArgs, "--seed", fmt.Sprint(pc.seed), "--rows", fmt.Sprint(pc.rows))
	run(t, "plantbridge-agent", append([]string{"demo-db"}, p.demoArgs...)...)

	p.key = strings.TrimSpace(run(t, "plantbridge-relay", "accounts", "create", "acme", "--data-dir", p.relayDir))
	p.startRelay()
	code, conn := p.api("POST", "/v1/connections", map[string]any{"name": "Bedford", "system": "maximo"})
	if code != http.StatusCreated {
		t.Fatalf("create connection: %d %v", code, conn)
	}
	p.connID = conn["id"].(string)
	p.source.ConnectionID = p.connID

	agentDSN := pc.agentDSN
	if agentDSN == "" {
		agentDSN = p.source.DSN
	}
	p.setAgentDSN(agentDSN)
	cfg := fmt.Sprintf(`version: 1
relay:
  url: ws://%s
state_dir: agent-state
connection:
  system: maximo
  driver: %s
  dsn_file: agent.dsn
  timezone: %s
sync:
  interval: 1s
  full_interval: 0s
`, p.addr, pc.driver, plantTimezone)
	if pc.maxBytes > 0 {
		cfg += fmt.Sprintf("buffer:\n  max_bytes: %d\n", pc.maxBytes)
	}
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	token := conn["enrollment"].(map[string]any)["token"].(string)
	run(t, "plantbridge-agent", "enroll", "--config", p.config, "--token", token)
	return p
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// run runs one of the built binaries to completion and returns its standard output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// setAgentDSN writes the DSN the agent opens the database with.
func (p *plant) setAgentDSN(dsn string) {
	p.t.Helper()
	if err := os.WriteFile(p.dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

func (p *plant) startRelay() {
	p.t.Helper()
	p.relay = startProc(p.t, nil, "plantbridge-relay", "serve", "--data-dir", p.relayDir, "--listen", p.addr)
	poll(p.t, 30*time.Second, "relay up", func() bool {
		code, _ := api(p.t, p.addr, "", "GET", "/healthz", nil)
		return code == http.StatusOK
	})
}

func (p *plant) startAgent() {
	p.t.Helper()
	p.agent = startProc(p.t, nil, "plantbridge-agent", "run", "--config", p.config)
}

// startMutator keeps the plant database changing at rate changes per second, as the
// plant's users do, in a process of its own.
func (p *plant) startMutator(rate float64) {
	p.t.Helper()
	p.mutator = startProc(p.t, nil, "plantbridge-agent", append(append([]string{"demo-db"}, p.demoArgs...),
		"--mutate", fmt.Sprint(rate))...)
}

// stopMutator stops the mutator and waits until it has exited: the database holds
// still from then on.
func (p *plant) stopMutator() {
	p.t.Helper()
	select {
	case <-p.mutator.done:
		if !strings.Contains(p.mutator.output(), "mutating") {
			p.t.Fatalf("the mutator exited before it started:\n%s", p.mutator.output())
		}
		return
	default:
	}
	p.mutator.stop(p.t, 30*time.Second)
}

// mutations returns how many changes the mutator has applied, as it logged them when it
// stopped.
func (p *plant) mutations() string {
	for _, line := range strings.Split(p.mutator.output(), "\n") {
		if strings.Contains(line, "mutation stopped") {
			if i := strings.Index(line, "changes="); i >= 0 {
				return line[i+len("changes="):]
			}
		}
	}
	return "?"
}

// api calls the relay's API with the account's key.
func (p *plant) api(method, path string, body any) (int, map[string]any) {
	return api(p.t, p.addr, p.key, method, path, body)
}

// connStatus is the part of GET /v1/connections/{id}/status the tests look at.
type connStatus struct {
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Database struct {
		State     string `json:"state"`
		LastError *struct {
			Code string `json:"code"`
		} `json:"last_error"`
	} `json:"database"`
	Buffer struct {
		Batches  int64 `json:"batches"`
		Bytes    int64 `json:"bytes"`
		MaxBytes int64 `json:"max_bytes"`
		Full     bool  `json:"full"`
	} `json:"buffer"`
	Agent *struct {
		Connected      bool       `json:"connected"`
		ConnectedSince *time.Time `json:"connected_since"`
	} `json:"agent"`
}

// status returns the connection's status; ok is false when the relay did not answer.
func (p *plant) status() (st connStatus, ok bool) {
	code, m := p.api("GET", "/v1/connections/"+p.connID+"/status", nil)
	if code != http.StatusOK {
		return st, false
	}
	b, _ := json.Marshal(m)
	return st, json.Unmarshal(b, &st) == nil
}

// waitState waits until the connection's state is want and returns the status.
func (p *plant) waitState(timeout time.Duration, want string, also func(connStatus) bool) connStatus {
	p.t.Helper()
	var st connStatus
	poll(p.t, timeout, "connection "+want, func() bool {
		s, ok := p.status()
		st = s
		return ok && s.State == want && (also == nil || also(s))
	})
	return st
}

// waitAgentStatus waits for a status file that the agent wrote (every few seconds, into
// its state dir) after since and that satisfies cond, and returns it.
func (p *plant) waitAgentStatus(timeout time.Duration, what string, since time.Time, cond func(agent.StatusFile) bool) agent.StatusFile {
	p.t.Helper()
	var st agent.StatusFile
	poll(p.t, timeout, "the agent's status file to show "+what, func() bool {
		s, err := agent.ReadStatusFile(p.stateDir)
		if err != nil || !s.UpdatedAt.After(since) {
			return false
		}
		st = s
		return cond(s)
	})
	return st
}

// modelSync is one model's entry in GET /v1/connections/{id}/sync-status.
type modelSync struct {
	Model            string     `json:"model"`
	Status           string     `json:"status"`
	LastSyncStart    *time.Time `json:"last_sync_start"`
	LastSyncFinished *time.Time `json:"last_sync_finished"`
	RecordsSynced    int64      `json:"records_synced"`
	Error            *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func (p *plant) syncStatus() map[string]modelSync {
	code, m := p.api("GET", "/v1/connections/"+p.connID+"/sync-status", nil)
	if code != http.StatusOK {
		return nil
	}
	var list struct {
		Results []modelSync `json:"results"`
	}
	b, _ := json.Marshal(m)
	json.Unmarshal(b, &list)
	out := map[string]modelSync{}
	for _, s := range list.Results {
		out[s.Model] = s
	}
	return out
}

// waitSyncError waits until the relay's sync-status shows a model's sync failed with
// the error code.
func (p *plant) waitSyncError(code string) {
	p.t.Helper()
	poll(p.t, 30*time.Second, "a model's sync to fail at the relay with "+code, func() bool {
		for _, s := range p.syncStatus() {
			if s.Status == "failed" && s.Error != nil && s.Error.Code == code {
				return true
			}
		}
		return false
	})
}

// settle asks the agent for a sync of every model (a full re-sync when full is set)
// and waits until the relay has all of it.
//
// The relay has everything a run read once it holds the run's final state, since the
// agent queues the state behind the run's batches. Which run is the one asked for: the
// sync request marks every model before it is answered, and the next run of a model
// to start afterwards is the one asked for, or follows it; so a model is settled when
// the relay says done for a run that started after the answer.
func (p *plant) settle(models []string, full bool, timeout time.Duration) {
	p.t.Helper()
	var asked time.Time
	// The agent may be waiting out its reconnect backoff (60 s at most, DESIGN §2).
	poll(p.t, 75*time.Second, "the relay to pass on the sync request", func() bool {
		code, _ := p.api("POST", "/v1/connections/"+p.connID+"/syncs", map[string]any{"full": full})
		asked = time.Now()
		return code == http.StatusAccepted
	})
	deadline := time.Now().Add(timeout)
	for {
		st := p.syncStatus()
		var pending []string
		for _, m := range models {
			s := st[m]
			if s.Status != "done" || s.LastSyncStart == nil || !s.LastSyncStart.After(asked) {
				pending = append(pending, fmt.Sprintf("%s (%s)", m, s.Status))
			}
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("a sync (full=%v) asked for at %s did not reach the relay within %v for %s",
				full, asked.Format(time.RFC3339Nano), timeout, strings.Join(pending, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signalRelay stops the relay with sig and waits until it has exited.
func (p *plant) signalRelay(sig syscall.Signal) {
	p.t.Helper()
	if sig == syscall.SIGKILL {
		p.relay.kill()
		return
	}
	p.relay.stop(p.t, 30*time.Second)
}

// outboxState is what a stopped agent's outbox holds.
type outboxState struct {
	// batches and states count the items the relay has not acknowledged.
	batches, states int
	// synced counts the models whose initial sync has finished, fulls those with a
	// full re-sync under way.
	synced, fulls int
}

// killedOutbox reads the outbox that a killed agent left, from a copy of its file and
// write-ahead log, so that the next agent recovers the original itself.
func (p *plant) killedOutbox() outboxState {
	p.t.Helper()
	dir := p.t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(p.stateDir, agent.OutboxFile+suffix))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, agent.OutboxFile+suffix), b, 0o600); err != nil {
			p.t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, agent.OutboxFile))
	if err != nil {
		p.t.Fatal(err)
	}
	defer db.Close()
	var st outboxState
	err = db.QueryRow(`SELECT count(CASE WHEN kind = 1 THEN 1 END), count(CASE WHEN kind = 2 THEN 1 END) FROM items`).
		Scan(&st.batches, &st.states)
	if err == nil {
		err = db.QueryRow(`SELECT count(CASE WHEN last_success_at IS NOT NULL THEN 1 END), count(CASE WHEN full_sync_id != '' THEN 1 END)
			FROM models`).Scan(&st.synced, &st.fulls)
	}
	if err != nil && !strings.Contains(err.Error(), "no such table") {
		p.t.Fatalf("read the killed agent's outbox: %v", err)
	}
	return st
}
