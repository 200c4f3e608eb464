package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/jsonobj"
	"github.com/plantbridge/plantbridge/relay/metrics"
	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/relay/webhooks"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// maxBatchBody bounds one uploaded batch: at most 1000 records or 1 MiB of them, in
// JSON with some overhead.
const maxBatchBody = 8 << 20

// ingest serves the agents' calls through their tunnels: sync batches, sync states and
// status reports.
type ingest struct {
	store   store.Store
	dir     *directory
	log     *slog.Logger
	events  Events
	now     func() time.Time
	metrics *metrics.Metrics
}

func (in *ingest) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathBatches, in.batches)
	mux.HandleFunc("POST "+wire.PathSyncState, in.syncState)
	mux.HandleFunc("POST "+wire.PathStatus, in.status)
	return mux
}

// agentError answers an agent in the wire's error shape.
func agentError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.Error{Code: code, Message: msg}})
}

// caller resolves the connection of the agent whose tunnel carried r.
func (in *ingest) caller(w http.ResponseWriter, r *http.Request) (store.Connection, bool) {
	sess, ok := tunnel.SessionFrom(r.Context())
	if !ok {
		agentError(w, http.StatusUnauthorized, "AUTHENTICATION_FAILED", "not a tunnel call")
		return store.Connection{}, false
	}
	c, ok := in.dir.connectionOf(sess.Hello.AgentID)
	if !ok {
		agentError(w, http.StatusUnauthorized, "AUTHENTICATION_FAILED", "unknown agent")
		return store.Connection{}, false
	}
	return c, true
}

func decodeAgentJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	// The body is read whole, then decoded: a json.Decoder would grow and copy its
	// buffer several times over a batch of a megabyte.
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer bodyBuffers.Put(buf)
	buf.Reset()
	if n := r.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n))
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			agentError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", fmt.Sprintf("body over %d bytes", limit))
			return false
		}
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "read body: "+err.Error())
		return false
	}
	// Unknown fields are allowed: agents and relays are upgraded at different times.
	// Decoding copies what it keeps (json.RawMessage included), so buf can be reused.
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "body: "+err.Error())
		return false
	}
	return true
}

// bodyBuffers holds the buffers decodeAgentJSON reads bodies into.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var modelName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// batches stores one sync batch. The answer comes only once the batch is durable; a
// batch id seen before is acknowledged again and changes nothing.
func (in *ingest) batches(w http.ResponseWriter, r *http.Request) {
	c, ok := in.caller(w, r)
	if !ok {
		return
	}
	var b wire.Batch
	if !decodeAgentJSON(w, r, maxBatchBody, &b) {
		return
	}
	switch {
	case b.BatchID == "" || len(b.BatchID) > 200:
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "batch_id is required (at most 200 characters)")
		return
	case !modelName.MatchString(b.Model):
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "model is not a model name")
		return
	case len(b.Records) > 1000:
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "a batch holds at most 1000 records")
		return
	case b.FullSyncDone && b.FullSyncID == "":
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "full_sync_done needs full_sync_id")
		return
	}
	recs := make([]store.EncodedRecord, len(b.Records))
	for i, raw := range b.Records {
		rec, err := encodedRecord(raw)
		if err != nil {
			agentError(w, http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("records[%d]: %v", i, err))
			return
		}
		// Ids derive from the connection: a record id from another connection means an
		// agent configured for something else, which must not land here.
		if rec.ID != model.RecordID(c.ID, b.Model, rec.RemoteID) {
			agentError(w, http.StatusBadRequest, "INVALID_REQUEST",
				fmt.Sprintf("records[%d]: id does not belong to connection %s (is the agent enrolled for this connection?)", i, c.ID))
			return
		}
		recs[i] = rec
	}
	ctx := r.Context()
	res, err := in.store.ApplyEncodedBatch(ctx, c.ID, b.BatchID, b.Model, recs, store.ApplyOptions{FullSyncID: b.FullSyncID})
	if err != nil {
		in.log.Warn("apply batch", "connection_id", c.ID, "batch_id", b.BatchID, "model", b.Model, "err", err)
		agentError(w, http.StatusServiceUnavailable, "INTERNAL", "the relay could not store the batch; retry")
		return
	}
	in.metrics.IngestBatch(b.Model, res.Records, res.Duplicate)
	ack := wire.BatchAck{BatchID: b.BatchID, Duplicate: res.Duplicate, Records: res.Records, Changed: res.Changed}
	if b.FullSyncDone {
		// Repeating this for a re-sent final batch is harmless: records carried since the
		// re-sync started keep their mark.
		n, err := in.store.MarkMissingDeleted(ctx, c.ID, b.Model, b.FullSyncID)
		if err != nil {
			in.log.Warn("end full sync", "connection_id", c.ID, "model", b.Model, "err", err)
			agentError(w, http.StatusServiceUnavailable, "INTERNAL", "the relay could not finish the full re-sync; retry")
			return
		}
		ack.Deleted = n
	}
	in.log.Debug("batch stored", "connection_id", c.ID, "batch_id", b.BatchID, "model", b.Model,
		"records", res.Records, "changed", res.Changed, "duplicate", res.Duplicate, "deleted", ack.Deleted)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ack)
}

// syncState stores the agent's sync state of a model and announces finished runs.
func (in *ingest) syncState(w http.ResponseWriter, r *http.Request) {
	c, ok := in.caller(w, r)
	if !ok {
		return
	}
	var s wire.SyncState
	if !decodeAgentJSON(w, r, 64<<10, &s) {
		return
	}
	if !modelName.MatchString(s.Model) {
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "model is not a model name")
		return
	}
	st := store.SyncState{ConnectionID: c.ID, Model: s.Model, Status: store.SyncStatus(s.Status),
		LastSyncStart: s.LastSyncStart, LastSyncFinished: s.LastSyncFinished, LastSuccessfulSyncAt: s.LastSuccessfulSyncAt,
		NextSyncStart: s.NextSyncStart, IsInitialSync: s.IsInitialSync, RecordsSynced: s.RecordsSynced}
	if s.Error != nil {
		st.Error = &store.ErrorDetail{Code: s.Error.Code, Message: s.Error.Message}
	}
	switch st.Status {
	case store.SyncSyncing, store.SyncDone, store.SyncFailed, store.SyncPaused:
	default:
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "status must be syncing, done, failed or paused")
		return
	}
	if err := in.store.PutSyncState(r.Context(), st); err != nil {
		in.log.Warn("store sync state", "connection_id", c.ID, "model", s.Model, "err", err)
		agentError(w, http.StatusServiceUnavailable, "INTERNAL", "the relay could not store the sync state; retry")
		return
	}
	if in.events != nil && (st.Status == store.SyncDone || st.Status == store.SyncFailed) {
		ev := webhooks.Event{AccountID: c.AccountID, ConnectionID: c.ID}
		started, finished := timeOr(s.LastSyncStart, in.now()), timeOr(s.LastSyncFinished, in.now())
		if st.Status == store.SyncDone {
			ev.Type = webhooks.EventSyncCompleted
			ev.Data = webhooks.SyncCompletedData{Model: s.Model, FullSync: s.Full, IsInitialSync: s.IsInitialSync,
				RecordsSynced: s.RecordsSynced, StartedAt: started, FinishedAt: finished, NextSyncAt: s.NextSyncStart}
		} else {
			e := webhooks.ErrorData{Code: "SOURCE_ERROR", Message: "the sync failed"}
			if s.Error != nil {
				e = webhooks.ErrorData{Code: s.Error.Code, Message: s.Error.Message}
			}
			ev.Type = webhooks.EventSyncFailed
			ev.Data = webhooks.SyncFailedData{Model: s.Model, FullSync: s.Full, RecordsSynced: s.RecordsSynced, Error: e,
				StartedAt: started, FailedAt: finished, NextSyncAt: s.NextSyncStart}
		}
		if _, err := in.events.Emit(context.WithoutCancel(r.Context()), ev); err != nil {
			in.log.Warn("emit event", "type", ev.Type, "connection_id", c.ID, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func timeOr(t *time.Time, def time.Time) time.Time {
	if t == nil {
		return def.UTC()
	}
	return t.UTC()
}

// encodedRecord takes a record as the agent wrote it (model.Record's flat JSON) into
// the form the store keeps, without decoding it: the relay's own members are set to
// their empty values, and everything else is kept byte for byte.
//
// raw must be valid JSON, as every element of a decoded batch is: the decoder
// validated the whole body.
func encodedRecord(raw []byte) (store.EncodedRecord, error) {
	var rec store.EncodedRecord
	members, err := jsonobj.Members(raw)
	if err != nil {
		return rec, err
	}
	clean := true
	for _, m := range members {
		switch string(m.Key) {
		case "id":
			rec.ID, _ = jsonString(m.Val)
		case "remote_id":
			rec.RemoteID, _ = jsonString(m.Val)
		case "remote_was_deleted":
			switch string(m.Val) {
			case "true":
				rec.Deleted, clean = true, false
			case "false":
			default:
				return rec, errors.New("remote_was_deleted must be true or false")
			}
		case "created_at", "modified_at":
			clean = clean && string(m.Val) == "null"
		}
	}
	if rec.ID == "" || rec.RemoteID == "" {
		return rec, errors.New("id and remote_id are required strings")
	}
	rec.Body = raw
	if !clean {
		var buf bytes.Buffer
		buf.Grow(len(raw))
		buf.WriteByte('{')
		for i, m := range members {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteByte('"')
			buf.Write(m.Key)
			buf.WriteString(`":`)
			switch string(m.Key) {
			case "created_at", "modified_at":
				buf.WriteString("null")
			case "remote_was_deleted":
				buf.WriteString("false")
			default:
				buf.Write(m.Val)
			}
		}
		buf.WriteByte('}')
		rec.Body = buf.Bytes()
	}
	return rec, nil
}

// jsonString returns the value of a JSON string.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if !bytes.ContainsRune(v, '\\') {
		return string(v[1 : len(v)-1]), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// status takes an agent's status report.
func (in *ingest) status(w http.ResponseWriter, r *http.Request) {
	sess, ok := tunnel.SessionFrom(r.Context())
	if !ok {
		agentError(w, http.StatusUnauthorized, "AUTHENTICATION_FAILED", "not a tunnel call")
		return
	}
	var st wire.AgentStatus
	// Tolerant of fields a newer agent adds: a status report must never be refused.
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10)).Decode(&st); err != nil {
		agentError(w, http.StatusBadRequest, "INVALID_REQUEST", "status report: "+err.Error())
		return
	}
	in.dir.report(sess.Hello.AgentID, st)
	w.WriteHeader(http.StatusNoContent)
}
