package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

func (a *API) remoteSchema(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	var schema json.RawMessage
	if err := a.callAgent(r, c, http.MethodGet, wire.PathSchema, nil, &schema); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(schema)
	return nil
}

func (a *API) passthrough(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	var req wire.PassthroughRequest
	if err := DecodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if !settingsOf(c).PassthroughEnabled {
		return Errorf(CodePermissionDenied, "passthrough is off for this connection; set settings.passthrough_enabled to true (plant IT must also enable it on the agent)")
	}
	switch {
	case req.SQL == "":
		return fieldError("/sql", "is required")
	case req.MaxRows < 0 || req.MaxRows > 10000:
		return fieldError("/max_rows", "must be 1 to 10000")
	case req.TimeoutMS < 0 || req.TimeoutMS > 60000:
		return fieldError("/timeout_ms", "must be 1 to 60000")
	}
	// The agent enforces the statement's own limit (default 10 s); the call waits a
	// little longer so that the agent's answer, not a relay timeout, explains it.
	limit := 10 * time.Second
	if req.TimeoutMS > 0 {
		limit = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	var res json.RawMessage
	if err := a.callAgentWithin(r.Context(), max(a.cfg.AgentTimeout, limit+5*time.Second), c, http.MethodPost, wire.PathPassthrough, req, &res); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(res)
	return nil
}

// mappings returns the mapping document the agent holds, asking the agent when it is
// online and falling back to the relay's copy when it is not.
func (a *API) mappings(r *http.Request, c store.Connection) (*profiles.Overrides, error) {
	var doc profiles.Overrides
	err := a.callAgent(r, c, http.MethodGet, wire.PathMappings, nil, &doc)
	if err == nil {
		return &doc, nil
	}
	if fm := settingsOf(c).FieldMappings; fm != nil {
		return fm, nil
	}
	if e, ok := err.(*Error); ok && e.Code == CodeConnectionUnreachable {
		return &profiles.Overrides{Version: 1}, nil
	}
	return nil, err
}

func (a *API) getMappings(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	doc, err := a.mappings(r, c)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, doc)
	return nil
}

func (a *API) getModelMapping(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	name := r.PathValue("model")
	if model.Lookup(name) == nil {
		return Errorf(CodeNotFound, "no model %q", name)
	}
	doc, err := a.mappings(r, c)
	if err != nil {
		return err
	}
	mo := doc.Models[name]
	if mo == nil {
		mo = &profiles.ModelOverride{}
	}
	WriteJSON(w, http.StatusOK, mo)
	return nil
}

// pushMappings sends a whole mapping document to the agent, which validates and applies
// it; only an accepted document is kept as the relay's copy.
func (a *API) pushMappings(r *http.Request, c store.Connection, doc *profiles.Overrides) (*profiles.Overrides, error) {
	if doc.Version == 0 {
		doc.Version = 1
	}
	var accepted profiles.Overrides
	if err := a.callAgent(r, c, http.MethodPut, wire.PathMappings, doc, &accepted); err != nil {
		return nil, err
	}
	settings := map[string]json.RawMessage{}
	json.Unmarshal(c.Settings, &settings)
	settings["field_mappings"], _ = json.Marshal(&accepted)
	raw, _ := json.Marshal(settings)
	a.forgetConnection(c)
	if _, err := a.store.UpdateConnection(r.Context(), c.AccountID, c.ID, store.ConnectionUpdate{Settings: raw}); err != nil {
		return nil, err
	}
	return &accepted, nil
}

func (a *API) putMappings(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	var doc profiles.Overrides
	if err := DecodeJSON(w, r, a.cfg.MaxBodyBytes, &doc); err != nil {
		return err
	}
	if doc.Version != 0 && doc.Version != 1 {
		return fieldError("/version", "must be 1")
	}
	accepted, err := a.pushMappings(r, c, &doc)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, accepted)
	return nil
}

func (a *API) putModelMapping(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("model")
	if model.Lookup(name) == nil {
		return Errorf(CodeNotFound, "no model %q", name)
	}
	var mo profiles.ModelOverride
	return a.editMappings(w, r, &mo, func(doc *profiles.Overrides) {
		if doc.Models == nil {
			doc.Models = map[string]*profiles.ModelOverride{}
		}
		doc.Models[name] = &mo
	}, func(doc *profiles.Overrides) any { return doc.Models[name] })
}

func (a *API) putCustomModel(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !customName.MatchString(name) || model.Lookup(name) != nil {
		return Errorf(CodeValidationFailed, "custom model names are lower case letters, digits and _, start with a letter, and differ from the unified models").
			WithDetails(map[string]any{"fields": []wire.FieldError{{Pointer: "/name", Message: "invalid custom model name"}}})
	}
	var m profiles.Model
	return a.editMappings(w, r, &m, func(doc *profiles.Overrides) {
		if doc.CustomModels == nil {
			doc.CustomModels = map[string]*profiles.Model{}
		}
		doc.CustomModels[name] = &m
	}, func(doc *profiles.Overrides) any { return doc.CustomModels[name] })
}

// editMappings changes one part of the connection's mapping document: it decodes the
// request body into part, lets edit put it into the current document, has the agent
// validate and apply the result, and answers what answer picks from the accepted
// document.
func (a *API) editMappings(w http.ResponseWriter, r *http.Request, part any, edit func(*profiles.Overrides),
	answer func(*profiles.Overrides) any) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	if err := DecodeJSON(w, r, a.cfg.MaxBodyBytes, part); err != nil {
		return err
	}
	doc, err := a.mappings(r, c)
	if err != nil {
		return err
	}
	edit(doc)
	accepted, err := a.pushMappings(r, c, doc)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, answer(accepted))
	return nil
}

func (a *API) deleteCustomModel(w http.ResponseWriter, r *http.Request) error {
	c, err := a.connection(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	doc, err := a.mappings(r, c)
	if err != nil {
		return err
	}
	if doc.CustomModels[name] == nil {
		return Errorf(CodeNotFound, "no custom model %q on this connection", name)
	}
	delete(doc.CustomModels, name)
	if _, err := a.pushMappings(r, c, doc); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
