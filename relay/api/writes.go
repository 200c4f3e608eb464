package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// MaxBatchWrites is the most records one batch write may carry.
const MaxBatchWrites = 100

// writeInput is one record to write in a batch or async job.
type writeInput struct {
	// Op is create (default for records without id) or update.
	Op string `json:"op,omitempty"`
	// ID names the record to update.
	ID     string         `json:"id,omitempty"`
	Fields map[string]any `json:"fields"`
}

// writeResult is the outcome of one write of a batch or job.
type writeResult struct {
	Index  int             `json:"index"`
	Status int             `json:"status"`
	Record json.RawMessage `json:"record,omitempty"`
	Error  *errorJSON      `json:"error,omitempty"`
}

// writeModel checks the model in the path: a unified model the profiles can write.
func writeModel(r *http.Request) (string, error) {
	name := r.PathValue("model")
	if model.Lookup(name) == nil {
		return "", Errorf(CodeNotFound, "no model %q", name)
	}
	return name, nil
}

func (a *API) createRecord(w http.ResponseWriter, r *http.Request) error {
	return a.writeSingle(w, r, model.OpCreate, "", http.StatusCreated)
}

func (a *API) updateRecord(w http.ResponseWriter, r *http.Request) error {
	return a.writeSingle(w, r, model.OpUpdate, r.PathValue("record_id"), http.StatusOK)
}

// writeSingle writes the record whose fields are the request body and answers it as
// stored, with status.
func (a *API) writeSingle(w http.ResponseWriter, r *http.Request, op model.Op, id string, status int) error {
	return a.idempotent(w, r, func(body []byte) (int, any, error) {
		c, name, err := a.writeTarget(r)
		if err != nil {
			return 0, nil, err
		}
		fields, err := decodeFields(body)
		if err != nil {
			return 0, nil, err
		}
		rec, err := a.writeOne(r.Context(), c, name, writeInput{Op: string(op), ID: id, Fields: fields})
		if err != nil {
			return 0, nil, err
		}
		return status, rec, nil
	})
}

func (a *API) writeTarget(r *http.Request) (store.Connection, string, error) {
	c, err := a.connection(r)
	if err != nil {
		return c, "", err
	}
	name, err := writeModel(r)
	return c, name, err
}

// decodeFields reads a record's fields from a JSON object body.
func decodeFields(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		return nil, bodyError(err, 0)
	}
	if fields == nil {
		return nil, Errorf(CodeInvalidRequest, "request body must be a JSON object of the record's fields")
	}
	if dec.More() {
		return nil, Errorf(CodeInvalidRequest, "request body must hold exactly one JSON value")
	}
	return fields, nil
}

// writeOne performs one write through the agent and stores the written record.
func (a *API) writeOne(ctx context.Context, c store.Connection, name string, in writeInput) (json.RawMessage, error) {
	res, err := a.writeMany(ctx, c, name, []writeInput{in})
	if err != nil {
		return nil, err
	}
	if res[0].Error != nil {
		e := Errorf(res[0].Error.Code, "%s", res[0].Error.Message)
		e.Details = res[0].Error.Details
		return nil, e
	}
	return res[0].Record, nil
}

// prepared is a write checked and resolved on the relay, ready for the agent.
type prepared struct {
	write wire.Write
	err   *Error
}

// prepare validates one write and resolves its references from unified ids to remote
// ids, so that nothing invalid reaches the plant database.
func (a *API) prepare(ctx context.Context, c store.Connection, name string, in writeInput) prepared {
	op := model.Op(in.Op)
	if op == "" {
		op = model.OpCreate
		if in.ID != "" {
			op = model.OpUpdate
		}
	}
	fail := func(pointer, msg string) prepared { return prepared{err: fieldError(pointer, msg)} }
	switch op {
	case model.OpCreate:
		if in.ID != "" {
			return fail("/id", "must not be set when creating a record")
		}
	case model.OpUpdate:
		if in.ID == "" {
			return fail("/id", "is required to update a record")
		}
	default:
		return fail("/op", "must be create or update")
	}
	if len(in.Fields) == 0 {
		return fail("/fields", "must name at least one field")
	}
	w := wire.Write{Op: string(op), Fields: in.Fields}
	if op == model.OpUpdate {
		// A change of status alone is a status change: the system's own status
		// transition (history row, memo) rather than a plain update.
		statusOnly := true
		for k := range in.Fields {
			if k != "status" && k != "remote_status" {
				statusOnly = false
			}
		}
		if statusOnly {
			op, w.Op = model.OpStatus, string(model.OpStatus)
		}
		rec, err := a.store.GetRecord(ctx, c.ID, name, in.ID)
		if errors.Is(err, store.ErrNotFound) {
			return prepared{err: Errorf(CodeNotFound, "no %s record %q in this connection", name, in.ID)}
		}
		if err != nil {
			return prepared{err: Errorf(CodeInternal, "internal error").WithCause(err)}
		}
		w.RemoteID = rec.RemoteID
	}
	if errs := model.Validate(name, in.Fields, op); len(errs) > 0 {
		return prepared{err: Errorf(CodeValidationFailed, "%d field(s) are not valid: %s", len(errs), errs[0].Error()).
			WithDetails(map[string]any{"fields": errs})}
	}
	def := model.Lookup(name)
	for k, v := range in.Fields {
		f := def.Field(k)
		if f == nil || (f.Type != model.Ref && f.Type != model.RefList) || v == nil {
			continue
		}
		id, _ := v.(string)
		if l, ok := v.([]any); ok && len(l) == 1 {
			id, _ = l[0].(string)
		}
		if id == "" {
			continue // the connector explains what a list of several means for this system
		}
		ref, err := a.store.GetRecord(ctx, c.ID, f.Ref, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && ref.RemoteWasDeleted {
			return fail(model.Pointer(k), fmt.Sprintf("no %s record %q in this connection", f.Ref, id))
		}
		if err != nil {
			return prepared{err: Errorf(CodeInternal, "internal error").WithCause(err)}
		}
		if w.Refs == nil {
			w.Refs = map[string]string{}
		}
		w.Refs[k] = ref.RemoteID
	}
	return prepared{write: w}
}

// writeMany validates writes, sends the valid ones to the agent in one call, stores the
// records it wrote, and returns one result per input. An error is returned only when
// the agent could not be asked at all.
func (a *API) writeMany(ctx context.Context, c store.Connection, name string, ins []writeInput) ([]writeResult, error) {
	results := make([]writeResult, len(ins))
	var batch wire.WriteBatch
	batch.Model = name
	var sent []int
	for i, in := range ins {
		results[i].Index = i
		p := a.prepare(ctx, c, name, in)
		if p.err != nil {
			results[i].Status, results[i].Error = p.err.Status, errJSON(p.err)
			continue
		}
		batch.Writes = append(batch.Writes, p.write)
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return results, nil
	}
	var answer wire.WriteResults
	if err := a.callAgentCtx(ctx, c, http.MethodPost, wire.PathWrites, batch, &answer); err != nil {
		return nil, err
	}
	if len(answer.Results) != len(sent) {
		return nil, Errorf(CodeSourceError, "the agent answered %d results for %d writes", len(answer.Results), len(sent))
	}
	var written []model.Record
	for j, res := range answer.Results {
		i := sent[j]
		if res.Error != nil {
			e := wireError(res.Error)
			results[i].Status, results[i].Error = e.Status, errJSON(e)
			continue
		}
		rec := model.Record{Model: name}
		if err := json.Unmarshal(res.Record, &rec); err != nil {
			e := Errorf(CodeSourceError, "the agent's record could not be read").WithCause(err)
			results[i].Status, results[i].Error = e.Status, errJSON(e)
			continue
		}
		written = append(written, rec)
		results[i].Status = http.StatusOK
		if batch.Writes[j].Op == string(model.OpCreate) {
			results[i].Status = http.StatusCreated
		}
	}
	if len(written) == 0 {
		return results, nil
	}
	// The written records go into the store at once, so a read right after the write
	// sees them; the next sync carries the same content and changes nothing.
	batchID := "write_" + RequestID(ctx) + "_" + randomHex(6)
	if _, err := a.store.ApplyBatch(ctx, c.ID, batchID, name, written, store.ApplyOptions{}); err != nil {
		return nil, fmt.Errorf("store written records: %w", err)
	}
	k := 0
	for _, i := range sent {
		if results[i].Error != nil {
			continue
		}
		id := written[k].ID
		if id == "" {
			id = model.RecordID(c.ID, name, written[k].RemoteID)
		}
		k++
		stored, err := a.store.GetRecord(ctx, c.ID, name, id)
		if err != nil {
			return nil, fmt.Errorf("read written record: %w", err)
		}
		var buf bytes.Buffer
		if err := recordJSON(&buf, stored, false); err != nil {
			return nil, err
		}
		results[i].Record = buf.Bytes()
	}
	return results, nil
}

func errJSON(e *Error) *errorJSON {
	return &errorJSON{Code: e.Code, Type: ErrorType(e.Code), Message: e.Message, Details: e.Details}
}

type batchRequest struct {
	Records []writeInput `json:"records"`
}

func (a *API) batchWrite(w http.ResponseWriter, r *http.Request) error {
	return a.idempotent(w, r, func(body []byte) (int, any, error) {
		c, name, err := a.writeTarget(r)
		if err != nil {
			return 0, nil, err
		}
		var req batchRequest
		if err := strictJSON(body, &req); err != nil {
			return 0, nil, err
		}
		switch n := len(req.Records); {
		case n == 0:
			return 0, nil, fieldError("/records", "must hold at least one record")
		case n > MaxBatchWrites:
			return 0, nil, fieldError("/records", fmt.Sprintf("holds %d records; a batch takes at most %d (use /async for more)", n, MaxBatchWrites))
		}
		results, err := a.writeMany(r.Context(), c, name, req.Records)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"results": results, "summary": summarize(results)}, nil
	})
}

func summarize(results []writeResult) map[string]int {
	ok := 0
	for _, r := range results {
		if r.Error == nil {
			ok++
		}
	}
	return map[string]int{"total": len(results), "succeeded": ok, "failed": len(results) - ok}
}

// strictJSON decodes body into v, refusing unknown fields.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, 0)
	}
	if dec.More() {
		return Errorf(CodeInvalidRequest, "request body must hold exactly one JSON value")
	}
	return nil
}

// idempotent runs a write under the request's Idempotency-Key, if it has one: a repeat
// of the same request gets the first answer again, the same key with another request is
// a 409, and a write that could not reach the plant is forgotten so that it can be
// retried.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, write func(body []byte) (int, any, error)) error {
	limit := a.cfg.MaxBodyBytes
	if isAsync(r) {
		limit *= 32
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		status, out, err := write(body)
		if err != nil {
			return err
		}
		WriteJSON(w, status, out)
		return nil
	}
	if len(key) > 255 {
		return Errorf(CodeInvalidRequest, "Idempotency-Key is longer than 255 characters")
	}
	acct := principal(r).Account.ID
	sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
	stored, err := a.store.ReserveIdempotencyKey(r.Context(), acct, key, hex.EncodeToString(sum[:]))
	if errors.Is(err, store.ErrConflict) {
		return Errorf(CodeConflict, "this Idempotency-Key was used with another request, or its first request is still running")
	}
	if err != nil {
		return err
	}
	if stored != nil {
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(stored.StatusCode)
		w.Write(stored.Body)
		return nil
	}
	status, out, werr := write(body)
	var e *Error
	if werr != nil && (!errors.As(werr, &e) || e.Status >= 500) {
		// Nothing was written (or we cannot tell, in which case the agent's record
		// read-back on the next sync shows it): let a retry try again.
		if err := a.store.ReleaseIdempotencyKey(context.WithoutCancel(r.Context()), acct, key); err != nil {
			a.log.Warn("release idempotency key", "request_id", RequestID(r.Context()), "err", err)
		}
		return werr
	}
	var buf []byte
	if werr != nil {
		status = e.Status
		buf, _ = json.Marshal(errorBody{Error: errorJSON{Code: e.Code, Type: ErrorType(e.Code), Message: e.Message,
			RequestID: RequestID(r.Context()), Details: e.Details}})
	} else {
		buf, _ = json.Marshal(out)
	}
	buf = append(buf, '\n')
	if err := a.store.SaveIdempotentResponse(context.WithoutCancel(r.Context()), acct, key,
		store.IdempotentResponse{StatusCode: status, Body: buf}); err != nil {
		a.log.Warn("save idempotent response", "request_id", RequestID(r.Context()), "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(status)
	w.Write(buf)
	return nil
}

// readBody reads a whole JSON body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !bytes.HasPrefix(bytes.ToLower([]byte(ct)), []byte("application/json")) {
		return nil, Errorf(CodeInvalidRequest, "Content-Type must be application/json, got %q", ct)
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, bodyError(err, limit)
	}
	if buf.Len() == 0 {
		return nil, Errorf(CodeInvalidRequest, "request body is empty; a JSON object is required")
	}
	return buf.Bytes(), nil
}

func isAsync(r *http.Request) bool {
	return r.Method == http.MethodPost && len(r.URL.Path) > 6 && r.URL.Path[len(r.URL.Path)-6:] == "/async"
}
