package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// ConnectionJSON is a connection as the API shows it.
type ConnectionJSON struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	System          string          `json:"system"`
	Settings        json.RawMessage `json:"settings"`
	AgentID         string          `json:"agent_id"`
	AgentEnrolledAt *time.Time      `json:"agent_enrolled_at"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
}

// EnrollmentJSON is a one-time enrollment token, shown once.
type EnrollmentJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// Command is what plant IT runs on the agent's machine.
	Command string `json:"command"`
}

// connectionSettings are the settings the relay itself reads. Other keys are kept for
// the consumer's own use.
type connectionSettings struct {
	PassthroughEnabled bool `json:"passthrough_enabled"`
	// FieldMappings is the last mapping document the agent accepted; it is maintained
	// by the field-mappings endpoints only.
	FieldMappings *profiles.Overrides `json:"field_mappings,omitempty"`
}

func settingsOf(c store.Connection) connectionSettings {
	var s connectionSettings
	json.Unmarshal(c.Settings, &s)
	return s
}

func connectionJSON(c store.Connection) ConnectionJSON {
	settings := c.Settings
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	return ConnectionJSON{ID: c.ID, Name: c.Name, System: c.System, Settings: settings, AgentID: c.AgentID,
		AgentEnrolledAt: c.AgentEnrolledAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

type createConnectionRequest struct {
	Name     string          `json:"name"`
	System   string          `json:"system"`
	Settings json.RawMessage `json:"settings"`
}

// checkSettings validates a settings object from a client.
func checkSettings(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return fieldError("/settings", "must be a JSON object")
	}
	if _, ok := m["field_mappings"]; ok {
		return fieldError("/settings/field_mappings", "is maintained through /field-mappings and /custom-models")
	}
	if v, ok := m["passthrough_enabled"]; ok {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return fieldError("/settings/passthrough_enabled", "must be a boolean")
		}
	}
	return nil
}

// fieldError is a VALIDATION_FAILED error for one field.
func fieldError(pointer, msg string) *Error {
	return Errorf(CodeValidationFailed, "%s %s", strings.TrimPrefix(pointer, "/"), msg).
		WithDetails(map[string]any{"fields": []wire.FieldError{{Pointer: pointer, Message: msg}}})
}

func (a *API) createConnection(w http.ResponseWriter, r *http.Request) error {
	var req createConnectionRequest
	if err := DecodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "" || len(req.Name) > 200:
		return fieldError("/name", "is required (1 to 200 characters)")
	case !slices.Contains(profiles.Systems(), req.System):
		return fieldError("/system", "must be one of "+strings.Join(profiles.Systems(), ", "))
	}
	if err := checkSettings(req.Settings); err != nil {
		return err
	}
	acct := principal(r).Account.ID
	c, err := a.store.CreateConnection(r.Context(), acct, store.NewConnection{Name: req.Name, System: req.System, Settings: req.Settings})
	if err != nil {
		return err
	}
	enr, err := a.newEnrollment(r, c)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, struct {
		ConnectionJSON
		Enrollment EnrollmentJSON `json:"enrollment"`
	}{connectionJSON(c), enr})
	return nil
}

func (a *API) newEnrollment(r *http.Request, c store.Connection) (EnrollmentJSON, error) {
	tok, plain, err := a.store.CreateEnrollmentToken(r.Context(), c.AccountID, c.ID, a.cfg.EnrollmentTTL)
	if err != nil {
		return EnrollmentJSON{}, err
	}
	return EnrollmentJSON{Token: plain, ExpiresAt: tok.ExpiresAt,
		Command: "plantbridge-agent enroll --relay " + relayURL(r) + " --token " + plain}, nil
}

// relayURL is the address agents reach the relay at, as the caller reached it, in the
// form relay.url takes (wss://, or ws:// for plain HTTP).
func relayURL(r *http.Request) string {
	scheme := "wss"
	if r.TLS == nil {
		scheme = "ws"
	}
	switch r.Header.Get("X-Forwarded-Proto") {
	case "https":
		scheme = "wss"
	case "http":
		scheme = "ws"
	}
	return scheme + "://" + r.Host
}

func (a *API) createEnrollmentToken(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	enr, err := a.newEnrollment(r, c)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, enr)
	return nil
}

func (a *API) listConnections(w http.ResponseWriter, r *http.Request) error {
	acct := principal(r).Account.ID
	p, err := a.storePage(r, "connections", acct)
	if err != nil {
		return err
	}
	list, next, err := a.store.ListConnections(r.Context(), acct, p)
	if err != nil {
		return err
	}
	out := make([]ConnectionJSON, len(list))
	for i, c := range list {
		out[i] = connectionJSON(c)
	}
	WriteJSON(w, http.StatusOK, listJSON[ConnectionJSON]{Next: a.wrapNext("connections", acct, next), Results: out})
	return nil
}

// listJSON is a page of a list that is walked with the next cursor.
type listJSON[T any] struct {
	Next    *string `json:"next"`
	Results []T     `json:"results"`
}

func (a *API) getConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, connectionJSON(c))
	return nil
}

type updateConnectionRequest struct {
	Name     *string         `json:"name"`
	Settings json.RawMessage `json:"settings"`
}

func (a *API) updateConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	var req updateConnectionRequest
	if err := DecodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	u := store.ConnectionUpdate{Name: req.Name}
	if req.Name != nil {
		n := strings.TrimSpace(*req.Name)
		if n == "" || len(n) > 200 {
			return fieldError("/name", "must be 1 to 200 characters")
		}
		u.Name = &n
	}
	if req.Settings != nil {
		if err := checkSettings(req.Settings); err != nil {
			return err
		}
		// The mapping document the agent holds stays with the connection.
		merged := map[string]json.RawMessage{}
		json.Unmarshal(req.Settings, &merged)
		if fm := settingsOf(c).FieldMappings; fm != nil {
			merged["field_mappings"], _ = json.Marshal(fm)
		}
		u.Settings, _ = json.Marshal(merged)
	}
	a.forgetConnection(c)
	c, err = a.store.UpdateConnection(r.Context(), c.AccountID, c.ID, u)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, connectionJSON(c))
	return nil
}

func (a *API) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	a.forgetConnection(c)
	if err := a.store.DeleteConnection(r.Context(), c.AccountID, c.ID); err != nil {
		return err
	}
	a.agents.Disconnect(c.AgentID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// enroll redeems an enrollment token for the agent's credential.
func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		WriteError(w, r, a.log, Errorf(CodeMethodNotAllowed, "use POST"))
		return
	}
	var req wire.EnrollRequest
	if err := DecodeJSON(w, r, 16<<10, &req); err != nil {
		WriteError(w, r, a.log, err)
		return
	}
	if req.Token == "" {
		WriteError(w, r, a.log, fieldError("/token", "is required"))
		return
	}
	cred, err := a.store.RedeemEnrollmentToken(r.Context(), strings.TrimSpace(req.Token))
	switch {
	case errors.Is(err, store.ErrTokenUsed):
		err = Errorf(CodeConflict, "this enrollment token was already used; create a new one with POST /v1/connections/{id}/enrollment-tokens")
	case errors.Is(err, store.ErrTokenExpired):
		err = Errorf(CodeAuthenticationFailed, "this enrollment token has expired; create a new one with POST /v1/connections/{id}/enrollment-tokens")
	case errors.Is(err, store.ErrUnauthorized), errors.Is(err, store.ErrNotFound):
		err = Errorf(CodeAuthenticationFailed, "unknown enrollment token")
	}
	if err != nil {
		WriteError(w, r, a.log, err)
		return
	}
	a.log.Info("agent enrolled", "request_id", RequestID(r.Context()), "agent_id", cred.AgentID,
		"connection_id", cred.ConnectionID, "hostname", req.Hostname, "version", req.Version)
	// A new credential replaces the old one: a tunnel still open with it must go.
	a.agents.Disconnect(cred.AgentID)
	a.conns.drop(cred.AccountID + "/" + cred.ConnectionID)
	WriteJSON(w, http.StatusOK, wire.EnrollResponse{AgentID: cred.AgentID, ConnectionID: cred.ConnectionID, Secret: cred.Secret})
}

// simplePage reads cursor and page_size for lists that are not record lists.
func itoa(i int) string { return strconv.Itoa(i) }
