package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/relay/store"
)

// pageSize parses page_size: default 100, 1 to 1000.
func pageSize(v string) (int, error) {
	if v == "" {
		return store.DefaultPageSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxPageSize {
		return 0, Errorf(CodeInvalidRequest, "page_size must be a whole number from 1 to %d", store.MaxPageSize).
			WithDetails(map[string]any{"parameter": "page_size"})
	}
	return n, nil
}

// parseTime parses a time filter: RFC 3339 with a zone.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, Errorf(CodeInvalidRequest, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", name).
			WithDetails(map[string]any{"parameter": name})
	}
	return t.UTC(), nil
}

func parseBool(name, v string) (bool, error) {
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, Errorf(CodeInvalidRequest, "%s must be true or false", name).WithDetails(map[string]any{"parameter": name})
}

// listParams are the parameters of a record list.
var listParams = []string{"cursor", "page_size", "modified_after", "modified_before", "include_deleted", "include_remote_data"}

// recordList is a page of records.
type recordList struct {
	next, previous *string
}

func (a *API) listRecords(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("model")
	if model.Lookup(name) == nil {
		return Errorf(CodeNotFound, "no model %q; models are %v, custom models are under /custom/{name}", name, model.Names())
	}
	return a.serveList(w, r, name)
}

func (a *API) listCustom(w http.ResponseWriter, r *http.Request) error {
	return a.serveList(w, r, "")
}

// serveList answers a list of records of modelName, or of the custom model named in the
// path when modelName is "".
func (a *API) serveList(w http.ResponseWriter, r *http.Request, modelName string) error {
	c, modelName, err := a.recordTarget(r, modelName)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(listParams, k) {
			return Errorf(CodeInvalidRequest, "unknown query parameter %q; known: %v", k, listParams).
				WithDetails(map[string]any{"parameter": k})
		}
	}
	for _, k := range listParams {
		if len(q[k]) > 1 {
			return Errorf(CodeInvalidRequest, "query parameter %q given more than once", k).WithDetails(map[string]any{"parameter": k})
		}
	}
	limit, err := pageSize(q.Get("page_size"))
	if err != nil {
		return err
	}
	after, err := parseTime("modified_after", q.Get("modified_after"))
	if err != nil {
		return err
	}
	before, err := parseTime("modified_before", q.Get("modified_before"))
	if err != nil {
		return err
	}
	deleted, err := parseBool("include_deleted", q.Get("include_deleted"))
	if err != nil {
		return err
	}
	remote, err := parseBool("include_remote_data", q.Get("include_remote_data"))
	if err != nil {
		return err
	}
	digest := queryDigest(c.ID, modelName, q.Get("modified_after"), q.Get("modified_before"), strconv.FormatBool(deleted))
	sq := store.RecordQuery{ConnectionID: c.ID, Model: modelName, ModifiedAfter: after, ModifiedBefore: before,
		IncludeDeleted: deleted, Limit: limit}
	var snapshot int64
	var cur cursor
	if s := q.Get("cursor"); s == "" {
		// A walk starts at the last committed change, not at the wall clock: a
		// batch that took an earlier modified_at but commits during the walk would
		// otherwise move a record the walk has passed to a place still ahead of it.
		clock, err := a.store.RecordsClock(r.Context(), c.ID)
		if err != nil {
			return err
		}
		snapshot = micros(clock)
	} else {
		if cur, err = a.cursors.decode(s, "records", digest); err != nil {
			return err
		}
		snapshot = cur.Snapshot
		pos := &store.RecordCursor{ModifiedAt: fromMicros(cur.ModifiedAt), ID: cur.ID}
		if cur.Back {
			sq.Before = pos
		} else {
			sq.After = pos
		}
	}
	// The walk ends at its snapshot: a record changed during the walk moved past it, and
	// the next walk (modified_after = the last modified_at seen) returns it once.
	// A connection that has never stored a record has snapshot 0 and an empty walk.
	if bound := fromMicros(snapshot + 1); sq.ModifiedBefore.IsZero() || bound.Before(sq.ModifiedBefore) {
		sq.ModifiedBefore = bound
	}
	page, err := a.store.ListRecords(r.Context(), sq)
	if err != nil {
		return err
	}
	out := recordList{}
	mk := func(back bool, rec store.StoredRecord) *string {
		s := a.cursors.encode(cursor{List: "records", Query: digest, Back: back, ModifiedAt: micros(rec.ModifiedAt),
			ID: rec.ID, Snapshot: snapshot})
		return &s
	}
	if n := len(page.Records); n > 0 {
		first, last := page.Records[0], page.Records[n-1]
		if cur.Back {
			out.next = mk(false, last)
			if page.More {
				out.previous = mk(true, first)
			}
		} else {
			if page.More {
				out.next = mk(false, last)
			}
			if sq.After != nil {
				out.previous = mk(true, first)
			}
		}
	} else if sq.After != nil {
		// Past the end: the way back starts where this page would have.
		out.previous = mk(true, store.StoredRecord{ModifiedAt: sq.After.ModifiedAt, ID: sq.After.ID + "\x00"})
	}
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer pageBuffers.Put(buf)
	buf.Reset()
	buf.Grow(len(page.Records) * 700)
	buf.WriteString(`{"next":`)
	writeNullableString(buf, out.next)
	buf.WriteString(`,"previous":`)
	writeNullableString(buf, out.previous)
	buf.WriteString(`,"results":[`)
	for i, rec := range page.Records {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := recordJSON(buf, rec, remote); err != nil {
			return err
		}
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
	return nil
}

func writeNullableString(buf *bytes.Buffer, s *string) {
	if s == nil {
		buf.WriteString("null")
		return
	}
	buf.WriteByte('"')
	buf.WriteString(*s) // cursors are base64url and a dot: nothing to escape
	buf.WriteByte('"')
}

func (a *API) getRecord(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("model")
	if model.Lookup(name) == nil {
		return Errorf(CodeNotFound, "no model %q", name)
	}
	return a.serveRecord(w, r, name)
}

func (a *API) getCustom(w http.ResponseWriter, r *http.Request) error {
	return a.serveRecord(w, r, "")
}

func (a *API) serveRecord(w http.ResponseWriter, r *http.Request, modelName string) error {
	c, modelName, err := a.recordTarget(r, modelName)
	if err != nil {
		return err
	}
	remote, err := parseBool("include_remote_data", r.URL.Query().Get("include_remote_data"))
	if err != nil {
		return err
	}
	rec, err := a.store.GetRecord(r.Context(), c.ID, modelName, r.PathValue("record_id"))
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(CodeNotFound, "no %s record %q in this connection", modelName, r.PathValue("record_id"))
	}
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := recordJSON(&buf, rec, remote); err != nil {
		return err
	}
	buf.WriteByte('\n')
	w.Header().Set("Content-Type", "application/json")
	w.Write(buf.Bytes())
	return nil
}

// recordTarget resolves the connection in the path and the model: modelName, or the
// custom model named in the path when modelName is "".
func (a *API) recordTarget(r *http.Request, modelName string) (store.Connection, string, error) {
	c, err := a.connection(r)
	if err != nil {
		return c, "", err
	}
	if modelName == "" {
		modelName, err = customModel(c, r.PathValue("name"))
	}
	return c, modelName, err
}

var customName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// customModel checks that name is one of the connection's custom models.
func customModel(c store.Connection, name string) (string, error) {
	fm := settingsOf(c).FieldMappings
	if !customName.MatchString(name) || fm == nil || fm.CustomModels[name] == nil {
		return "", Errorf(CodeNotFound, "no custom model %q on this connection; define one with PUT /v1/connections/%s/custom-models/%s",
			name, url.PathEscape(c.ID), url.PathEscape(name))
	}
	return name, nil
}

// pageBuffers holds the buffers that pages of records are written into.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
