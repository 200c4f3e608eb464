package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Connection states.
const (
	StatePendingEnrollment = "pending_enrollment"
	StateOnline            = "online"
	StateOffline           = "offline"
	StateReauthRequired    = "reauth_required"
	StateDegraded          = "degraded"
)

// ConnectionStatus is GET /v1/connections/{id}/status.
type ConnectionStatus struct {
	ConnectionID string `json:"connection_id"`
	State        string `json:"state"`
	// Reason explains a state other than online, in plain words.
	Reason   string            `json:"reason,omitempty"`
	Agent    *AgentJSON        `json:"agent"`
	Database DatabaseJSON      `json:"database"`
	Buffer   wire.BufferStatus `json:"buffer"`
	Circuit  string            `json:"circuit"`

	// models is the agent's progress per model, for sync-status.
	models []wire.ModelStatus
}

// SetModels attaches the agent's progress per model (not shown in the status itself).
func (s *ConnectionStatus) SetModels(m []wire.ModelStatus) { s.models = m }

// AgentJSON describes the connection's agent.
type AgentJSON struct {
	ID             string     `json:"id"`
	Connected      bool       `json:"connected"`
	Version        string     `json:"version,omitempty"`
	Hostname       string     `json:"hostname,omitempty"`
	OS             string     `json:"os,omitempty"`
	ConnectedSince *time.Time `json:"connected_since"`
	LastSeenAt     *time.Time `json:"last_seen_at"`
	RTTMillis      *float64   `json:"rtt_ms"`
}

// DatabaseJSON is the plant database as the agent last reported it.
type DatabaseJSON struct {
	State     string      `json:"state"`
	Table     string      `json:"table,omitempty"`
	LastError *wire.Error `json:"last_error"`
	CheckedAt *time.Time  `json:"checked_at"`
}

func (a *API) connectionStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	st := a.agents.Status(c)
	st.Circuit = a.breakers.state(c.ID)
	WriteJSON(w, http.StatusOK, st)
	return nil
}

// SyncStatusJSON is the sync state of one model.
type SyncStatusJSON struct {
	Model                string         `json:"model"`
	Status               string         `json:"status"`
	LastSyncStart        *time.Time     `json:"last_sync_start"`
	LastSyncFinished     *time.Time     `json:"last_sync_finished"`
	LastSuccessfulSyncAt *time.Time     `json:"last_successful_sync_at"`
	NextSyncStart        *time.Time     `json:"next_sync_start"`
	IsInitialSync        bool           `json:"is_initial_sync"`
	RecordsSynced        int64          `json:"records_synced"`
	Error                *SyncErrorJSON `json:"error"`
	Progress             *ModelProgress `json:"progress,omitempty"`
	UpdatedAt            *time.Time     `json:"updated_at"`
}

// SyncErrorJSON is why a sync failed.
type SyncErrorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ModelProgress is the progress of a running sync, from the agent's last report.
type ModelProgress struct {
	RowsRead        int64   `json:"rows_read"`
	BatchesBuffered int64   `json:"batches_buffered"`
	RowsPerSecond   float64 `json:"rows_per_second"`
}

func (a *API) syncStatus(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	states, err := a.store.ListSyncStates(r.Context(), c.ID)
	if err != nil {
		return err
	}
	progress := map[string]wire.ModelStatus{}
	for _, m := range a.agents.Status(c).models {
		progress[m.Model] = m
	}
	out := make([]SyncStatusJSON, 0, len(states))
	for _, st := range states {
		s := SyncStatusJSON{Model: st.Model, Status: string(st.Status), LastSyncStart: st.LastSyncStart,
			LastSyncFinished: st.LastSyncFinished, LastSuccessfulSyncAt: st.LastSuccessfulSyncAt,
			NextSyncStart: st.NextSyncStart, IsInitialSync: st.IsInitialSync, RecordsSynced: st.RecordsSynced}
		if !st.UpdatedAt.IsZero() {
			u := st.UpdatedAt
			s.UpdatedAt = &u
		}
		if st.Error != nil {
			s.Error = &SyncErrorJSON{Code: st.Error.Code, Message: st.Error.Message}
		}
		if p, ok := progress[st.Model]; ok && st.Status == store.SyncSyncing {
			s.Progress = &ModelProgress{RowsRead: p.RowsRead, BatchesBuffered: p.BatchesBuffered, RowsPerSecond: p.RowsPerSecond}
		}
		out = append(out, s)
	}
	// Models the agent has not reported on yet are pending, so that a consumer sees every
	// model from the start.
	for _, name := range model.Names() {
		if !slices.ContainsFunc(out, func(s SyncStatusJSON) bool { return s.Model == name }) {
			out = append(out, SyncStatusJSON{Model: name, Status: "pending", IsInitialSync: true})
		}
	}
	slices.SortFunc(out, func(x, y SyncStatusJSON) int {
		switch {
		case x.Model < y.Model:
			return -1
		case x.Model > y.Model:
			return 1
		}
		return 0
	})
	WriteJSON(w, http.StatusOK, map[string]any{"connection_id": c.ID, "results": out})
	return nil
}

// EventJSON is one stored connection event.
type EventJSON struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	AgentID    string    `json:"agent_id"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	RTTMillis  float64   `json:"rtt_ms,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	At         time.Time `json:"at"`
}

func (a *API) connectionEvents(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	p, err := a.storePage(r, "events", c.ID)
	if err != nil {
		return err
	}
	list, next, err := a.store.ListConnectionEvents(r.Context(), c.ID, p)
	if err != nil {
		return err
	}
	out := make([]EventJSON, len(list))
	for i, e := range list {
		out[i] = EventJSON{ID: e.ID, Kind: e.Kind, AgentID: e.AgentID, RemoteAddr: e.RemoteAddr,
			RTTMillis: float64(e.RTT.Microseconds()) / 1000, Reason: e.Reason, Detail: e.Detail, At: e.At}
	}
	WriteJSON(w, http.StatusOK, listJSON[EventJSON]{Next: a.wrapNext("events", c.ID, next), Results: out})
	return nil
}

type syncRequest struct {
	Models []string `json:"models"`
	Full   bool     `json:"full"`
}

func (a *API) triggerSync(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	var req syncRequest
	if err := DecodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	fm := settingsOf(c).FieldMappings
	for i, m := range req.Models {
		if model.Lookup(m) == nil && (fm == nil || fm.CustomModels[m] == nil) {
			return fieldError("/models/"+itoa(i), "is not a model of this connection")
		}
	}
	var accepted wire.SyncRequest
	if err := a.callAgent(r, c, http.MethodPost, wire.PathSyncs, wire.SyncRequest{Models: req.Models, Full: req.Full}, &accepted); err != nil {
		return err
	}
	WriteJSON(w, http.StatusAccepted, map[string]any{"connection_id": c.ID, "models": accepted.Models, "full": accepted.Full,
		"status": "accepted"})
	return nil
}

// storePage reads cursor and page_size for a list that the store pages, checking that
// a cursor belongs to this list.
func (a *API) storePage(r *http.Request, list, scope string) (store.Page, error) {
	q := r.URL.Query()
	n, err := pageSize(q.Get("page_size"))
	if err != nil {
		return store.Page{}, err
	}
	p := store.Page{Limit: n}
	if s := q.Get("cursor"); s != "" {
		cur, err := a.cursors.decode(s, list, queryDigest(scope))
		if err != nil {
			return p, err
		}
		p.After = cur.Inner
	}
	return p, nil
}

// wrapNext signs a store cursor for the list.
func (a *API) wrapNext(list, scope, next string) *string {
	if next == "" {
		return nil
	}
	s := a.cursors.encode(cursor{List: list, Query: queryDigest(scope), Inner: next})
	return &s
}
