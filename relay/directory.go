package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/relay/api"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/relay/webhooks"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Events receives the relay's webhook events; package webhooks delivers them.
type Events = webhooks.Emitter

// directory knows every agent that has opened a tunnel since the relay started: its
// connection, its last status report, and the connection state derived from them. It
// authenticates tunnels against the store, records connection events, and announces
// state changes, holding back "offline" for a grace period so that a quick reconnect
// pages nobody.
type directory struct {
	store  store.Store
	log    *slog.Logger
	now    func() time.Time
	grace  time.Duration
	events Events
	ep     *tunnel.Endpoint // set once, before the first tunnel is served

	mu     sync.Mutex // guards agents
	agents map[string]*agentEntry
}

type agentEntry struct {
	conn       store.Connection
	report     *wire.AgentStatus
	reportedAt time.Time
	lastSeen   time.Time
	// published is the last state announced; offlineTimer holds back an offline one.
	published    string
	offlineTimer *time.Timer
}

func newDirectory(st store.Store, log *slog.Logger, now func() time.Time, grace time.Duration, events Events) *directory {
	return &directory{store: st, log: log, now: now, grace: grace, events: events, agents: map[string]*agentEntry{}}
}

// AuthenticateAgent implements tunnel.Authenticator.
func (d *directory) AuthenticateAgent(ctx context.Context, agentID, secret string) error {
	c, err := d.store.AuthenticateAgent(ctx, agentID, secret)
	if errors.Is(err, store.ErrUnauthorized) || errors.Is(err, store.ErrNotFound) {
		return tunnel.ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("authenticate agent: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.agents[agentID]
	if e == nil {
		e = &agentEntry{published: api.StateOffline}
		if c.AgentEnrolledAt == nil {
			e.published = api.StatePendingEnrollment
		}
		d.agents[agentID] = e
	}
	e.conn = c
	return nil
}

// connectionOf returns the connection of an agent that has authenticated.
func (d *directory) connectionOf(agentID string) (store.Connection, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.agents[agentID]
	if !ok {
		return store.Connection{}, false
	}
	return e.conn, true
}

// onEvent stores a tunnel event with the agent's connection and updates its state.
func (d *directory) onEvent(ev tunnel.Event) {
	c, ok := d.connectionOf(ev.AgentID)
	if !ok {
		return // an unknown agent id: logged by the tunnel, not stored, so it cannot fill the store
	}
	ctx := context.Background()
	if _, err := d.store.AddConnectionEvent(ctx, store.ConnectionEvent{ConnectionID: c.ID, AgentID: ev.AgentID,
		Kind: string(ev.Kind), RemoteAddr: ev.Remote, RTT: ev.RTT, Reason: ev.Reason, Detail: ev.Detail,
		At: d.now().UTC()}); err != nil {
		d.log.Warn("store connection event", "agent_id", ev.AgentID, "err", err)
	}
	if ev.Kind == tunnel.EventDisconnect {
		d.mu.Lock()
		if e := d.agents[ev.AgentID]; e != nil {
			e.lastSeen = d.now().UTC()
		}
		d.mu.Unlock()
	}
	d.refresh(ev.AgentID)
}

// report stores an agent's status report.
func (d *directory) report(agentID string, st wire.AgentStatus) {
	d.mu.Lock()
	if e := d.agents[agentID]; e != nil {
		e.report, e.reportedAt = &st, d.now().UTC()
	}
	d.mu.Unlock()
	d.refresh(agentID)
}

// refresh derives the agent's connection state and announces a change.
func (d *directory) refresh(agentID string) {
	d.mu.Lock()
	e := d.agents[agentID]
	if e == nil {
		d.mu.Unlock()
		return
	}
	st := d.statusLocked(e)
	from := e.published
	switch {
	case st.State == from:
		if e.offlineTimer != nil { // back before the grace ran out: nothing to say
			e.offlineTimer.Stop()
			e.offlineTimer = nil
		}
		d.mu.Unlock()
		return
	case st.State == api.StateOffline && d.grace > 0:
		if e.offlineTimer == nil {
			e.offlineTimer = time.AfterFunc(d.grace, func() { d.publishOffline(agentID) })
		}
		d.mu.Unlock()
		return
	}
	if e.offlineTimer != nil {
		e.offlineTimer.Stop()
		e.offlineTimer = nil
	}
	e.published = st.State
	conn := e.conn
	d.mu.Unlock()
	d.announce(conn, from, st)
}

// publishOffline announces an offline state that outlasted the grace period.
func (d *directory) publishOffline(agentID string) {
	d.mu.Lock()
	e := d.agents[agentID]
	if e == nil || e.offlineTimer == nil {
		d.mu.Unlock()
		return
	}
	e.offlineTimer = nil
	st := d.statusLocked(e)
	if st.State != api.StateOffline || e.published == api.StateOffline {
		d.mu.Unlock()
		return
	}
	from := e.published
	e.published = st.State
	conn := e.conn
	d.mu.Unlock()
	d.announce(conn, from, st)
}

func (d *directory) announce(c store.Connection, from string, st api.ConnectionStatus) {
	d.log.Info("connection state", "connection_id", c.ID, "agent_id", c.AgentID, "from", from, "to", st.State, "reason", st.Reason)
	if d.events == nil {
		return
	}
	ctx := context.Background()
	now := d.now().UTC()
	emit := func(typ string, data any) {
		if _, err := d.events.Emit(ctx, webhooks.Event{AccountID: c.AccountID, Type: typ, ConnectionID: c.ID, Data: data}); err != nil {
			d.log.Warn("emit event", "type", typ, "connection_id", c.ID, "err", err)
		}
	}
	// A connection that was never announced online is not "changed" by its first
	// connect after enrollment from the consumer's point of view only if it was
	// pending; that change is news too, so it is announced like any other.
	emit(webhooks.EventConnectionStatusChanged, webhooks.ConnectionStatusChangedData{From: from, To: st.State,
		Reason: st.Reason, ChangedAt: now})
	if st.State == api.StateReauthRequired {
		e := webhooks.ErrorData{Code: api.CodeReauthRequired, Message: st.Reason}
		if st.Database.LastError != nil {
			e.Message = st.Reason + ": " + st.Database.LastError.Message
		}
		emit(webhooks.EventConnectionAuthRequired, webhooks.ConnectionAuthRequiredData{Error: e, Since: now})
	}
}

// Client implements api.Agents.
func (d *directory) Client(agentID string) (*http.Client, error) {
	s, err := d.ep.Session(agentID)
	if err != nil {
		return nil, err
	}
	return s.Client(), nil
}

// Disconnect implements api.Agents: the agent's credential is gone.
func (d *directory) Disconnect(agentID string) {
	if agentID == "" {
		return
	}
	d.ep.Disconnect(agentID, tunnel.ReasonRevoked)
	d.mu.Lock()
	if e := d.agents[agentID]; e != nil && e.offlineTimer != nil {
		e.offlineTimer.Stop()
	}
	delete(d.agents, agentID)
	d.mu.Unlock()
}

// Status implements api.Agents.
func (d *directory) Status(c store.Connection) api.ConnectionStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.agents[c.AgentID]
	if e == nil {
		e = &agentEntry{conn: c}
	} else {
		cp := *e
		cp.conn = c
		e = &cp
	}
	return d.statusLocked(e)
}

// statusLocked derives the state of an agent's connection.
func (d *directory) statusLocked(e *agentEntry) api.ConnectionStatus {
	c := e.conn
	st := api.ConnectionStatus{ConnectionID: c.ID, Database: api.DatabaseJSON{State: wire.DBUnknown}, Circuit: "closed"}
	if c.AgentEnrolledAt == nil {
		st.State, st.Reason = api.StatePendingEnrollment, "no agent has enrolled yet"
		return st
	}
	agent := &api.AgentJSON{ID: c.AgentID}
	st.Agent = agent
	if !e.lastSeen.IsZero() {
		t := e.lastSeen
		agent.LastSeenAt = &t
	}
	var session *tunnel.Session
	if d.ep != nil {
		session, _ = d.ep.Session(c.AgentID)
	}
	if r := e.report; r != nil {
		st.Buffer = r.Buffer
		st.Database = api.DatabaseJSON{State: r.Database.State, Table: r.Database.Table, LastError: r.Database.Error,
			CheckedAt: r.Database.CheckedAt}
		st.SetModels(r.Models)
		agent.Version, agent.OS, agent.Hostname = r.Version, r.OS, r.Hostname
	}
	if session == nil {
		st.State, st.Reason = api.StateOffline, "the agent has no tunnel to the relay"
		if e.lastSeen.IsZero() {
			st.Reason = "the agent has not connected since the relay started"
		}
		return st
	}
	info := session.Info()
	agent.Connected = true
	agent.Version, agent.Hostname, agent.OS = info.Version, info.Hostname, info.OS
	since, seen, rtt := info.ConnectedSince, info.LastSeenAt, info.RTTMillis
	agent.ConnectedSince, agent.LastSeenAt, agent.RTTMillis = &since, &seen, &rtt
	st.State = api.StateOnline
	switch st.Database.State {
	case wire.DBAuthFailed:
		st.State, st.Reason = api.StateReauthRequired, "the plant database refused the agent's login; plant IT must update the password"
	case wire.DBUnreachable:
		st.State, st.Reason = api.StateDegraded, "the agent cannot reach the plant database"
	case wire.DBPermissionDenied:
		st.State, st.Reason = api.StateDegraded, "the agent's database user may not read a mapped table"
		if st.Database.Table != "" {
			st.Reason += " (" + st.Database.Table + ")"
		}
	case wire.DBBusy:
		st.State, st.Reason = api.StateDegraded, "the plant database is too busy to answer"
	}
	if st.State == api.StateOnline && st.Buffer.Full {
		st.State, st.Reason = api.StateDegraded, "the agent's buffer is full; reading is paused until it drains"
	}
	return st
}

// close stops pending offline announcements.
func (d *directory) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.agents {
		if e.offlineTimer != nil {
			e.offlineTimer.Stop()
			e.offlineTimer = nil
		}
	}
}
