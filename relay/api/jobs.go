package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
)

// Job processing: an async write job is stored with all its inputs, then a worker
// claims it (one worker per job, also across replicas), sends its inputs to the agent
// in batches of MaxBatchWrites with a pause between them so that the plant database is
// not flooded, stores the results as it goes, and finishes the job. An offline agent
// makes the job wait, not fail.
const (
	jobLease      = time.Minute
	jobPace       = 50 * time.Millisecond
	jobPollIdle   = time.Second
	jobRetryDelay = 5 * time.Second
)

// JobJSON is an async job as the API shows it.
type JobJSON struct {
	ID           string         `json:"id"`
	Object       string         `json:"object"`
	ConnectionID string         `json:"connection_id"`
	Model        string         `json:"model"`
	Status       string         `json:"status"`
	Total        int            `json:"total"`
	Processed    int            `json:"processed"`
	Succeeded    int            `json:"succeeded"`
	Failed       int            `json:"failed"`
	Error        *SyncErrorJSON `json:"error"`
	CreatedAt    time.Time      `json:"created_at"`
	StartedAt    *time.Time     `json:"started_at"`
	FinishedAt   *time.Time     `json:"finished_at"`
}

func jobJSON(j store.Job) JobJSON {
	out := JobJSON{ID: j.ID, Object: "job", ConnectionID: j.ConnectionID, Model: j.Model, Status: string(j.Status),
		Total: j.Total, Processed: j.Processed, Succeeded: j.Succeeded, Failed: j.Failed,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt}
	if j.Error != nil {
		out.Error = &SyncErrorJSON{Code: j.Error.Code, Message: j.Error.Message}
	}
	return out
}

func (a *API) asyncWrite(w http.ResponseWriter, r *http.Request) error {
	return a.idempotent(w, r, func(body []byte) (int, any, error) {
		c, name, err := a.writeTarget(r)
		if err != nil {
			return 0, nil, err
		}
		var req struct {
			Records []json.RawMessage `json:"records"`
		}
		if err := strictJSON(body, &req); err != nil {
			return 0, nil, err
		}
		if len(req.Records) == 0 {
			return 0, nil, fieldError("/records", "must hold at least one record")
		}
		// Each input is checked for shape now, so that a malformed one fails the request
		// instead of a record in the middle of the job.
		for i, raw := range req.Records {
			var in writeInput
			if err := strictJSON(raw, &in); err != nil {
				var e *Error
				if errors.As(err, &e) {
					e.Message = fmt.Sprintf("records[%d]: %s", i, e.Message)
				}
				return 0, nil, err
			}
		}
		j, err := a.store.CreateJob(r.Context(), store.NewJob{AccountID: c.AccountID, ConnectionID: c.ID, Model: name,
			Op: "write", Inputs: req.Records})
		if err != nil {
			return 0, nil, err
		}
		a.log.Info("job queued", "request_id", RequestID(r.Context()), "job_id", j.ID, "connection_id", c.ID,
			"model", name, "total", j.Total)
		return http.StatusAccepted, jobJSON(j), nil
	})
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) error {
	acct := principal(r).Account.ID
	j, err := a.store.GetJob(r.Context(), acct, r.PathValue("job_id"))
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(CodeNotFound, "no job %q", r.PathValue("job_id"))
	}
	if err != nil {
		return err
	}
	p, err := a.storePage(r, "job_results", j.ID)
	if err != nil {
		return err
	}
	results, next, err := a.store.ListJobResults(r.Context(), acct, j.ID, p)
	if err != nil {
		return err
	}
	out := make([]writeResult, len(results))
	for i, res := range results {
		out[i] = writeResult{Index: res.Index, Status: res.StatusCode, Record: res.Record}
		if res.Error != nil {
			out[i].Error = &errorJSON{Code: res.Error.Code, Type: ErrorType(res.Error.Code), Message: res.Error.Message}
		}
	}
	WriteJSON(w, http.StatusOK, struct {
		JobJSON
		Results listJSON[writeResult] `json:"results"`
	}{jobJSON(j), listJSON[writeResult]{Next: a.wrapNext("job_results", j.ID, next), Results: out}})
	return nil
}

// RunJobs processes async jobs until ctx is canceled.
func (a *API) RunJobs(ctx context.Context) {
	host, _ := os.Hostname()
	worker := host + "-" + randomHex(4)
	for ctx.Err() == nil {
		j, err := a.store.ClaimJob(ctx, worker, jobLease)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("claim job", "err", err)
			}
			sleep(ctx, jobPollIdle)
			continue
		}
		if j == nil {
			sleep(ctx, jobPollIdle)
			continue
		}
		a.runJob(ctx, worker, *j)
	}
}

func (a *API) runJob(ctx context.Context, worker string, j store.Job) {
	log := a.log.With("job_id", j.ID, "connection_id", j.ConnectionID)
	log.Info("job started", "total", j.Total, "processed", j.Processed, "attempt", j.Attempts)
	// The job runs with the id of a request of its own, so its agent calls can be found
	// in the agent's log.
	ctx = WithRequestID(ctx, "req_job_"+j.ID)
	for next := j.Processed; next < j.Total; {
		if ctx.Err() != nil {
			return // the lease runs out and another worker (or this one, restarted) goes on
		}
		c, err := a.store.GetConnection(ctx, j.AccountID, j.ConnectionID)
		if errors.Is(err, store.ErrNotFound) {
			a.finishJob(ctx, worker, j, store.JobFailed, &store.ErrorDetail{Code: CodeNotFound, Message: "the connection was deleted"})
			return
		}
		inputs, err := a.store.JobInputs(ctx, j.ID, next, MaxBatchWrites)
		if err == nil && len(inputs) == 0 {
			err = fmt.Errorf("job %s: no inputs from %d of %d", j.ID, next, j.Total)
		}
		if err != nil {
			log.Warn("job inputs", "err", err)
			sleep(ctx, jobRetryDelay)
			continue
		}
		ins := make([]writeInput, len(inputs))
		for i, in := range inputs {
			json.Unmarshal(in.Body, &ins[i]) // checked when the job was created
		}
		results, err := a.writeMany(ctx, c, j.Model, ins)
		if err != nil {
			// The agent is away: wait for it, holding the job.
			log.Info("job waiting for the agent", "err", err)
			if err := a.store.RenewJobLease(ctx, j.ID, worker, jobLease); err != nil {
				log.Warn("job lease lost", "err", err)
				return
			}
			sleep(ctx, jobRetryDelay)
			continue
		}
		stored := make([]store.JobResult, len(results))
		for i, res := range results {
			stored[i] = store.JobResult{Index: inputs[i].Index, StatusCode: res.Status, Record: res.Record}
			if res.Error != nil {
				stored[i].Error = &store.ErrorDetail{Code: res.Error.Code, Message: res.Error.Message}
			} else {
				var rec struct {
					ID string `json:"id"`
				}
				json.Unmarshal(res.Record, &rec)
				stored[i].RecordID = rec.ID
			}
		}
		if err := a.store.AppendJobResults(ctx, j.ID, worker, stored); err != nil {
			log.Warn("job results", "err", err)
			return
		}
		next += len(inputs)
		if err := a.store.RenewJobLease(ctx, j.ID, worker, jobLease); err != nil {
			log.Warn("job lease lost", "err", err)
			return
		}
		sleep(ctx, jobPace)
	}
	a.finishJob(ctx, worker, j, store.JobCompleted, nil)
}

func (a *API) finishJob(ctx context.Context, worker string, j store.Job, status store.JobStatus, jobErr *store.ErrorDetail) {
	if err := a.store.FinishJob(ctx, j.ID, worker, status, jobErr); err != nil {
		a.log.Warn("finish job", "job_id", j.ID, "err", err)
		return
	}
	done, err := a.store.GetJob(ctx, j.AccountID, j.ID)
	if err != nil {
		return
	}
	a.log.Info("job finished", "job_id", j.ID, "status", done.Status, "succeeded", done.Succeeded, "failed", done.Failed)
	if a.cfg.Events != nil {
		// The data of a job.completed event (webhooks.JobCompletedData).
		data := map[string]any{"job_id": done.ID, "model": done.Model, "operation": done.Op, "status": string(done.Status),
			"total": done.Total, "succeeded": done.Succeeded, "failed": done.Failed, "finished_at": done.FinishedAt}
		if done.Error != nil {
			data["error"] = map[string]string{"code": done.Error.Code, "message": done.Error.Message}
		}
		if err := a.cfg.Events.Emit(ctx, j.AccountID, "job.completed", j.ConnectionID, data); err != nil {
			a.log.Warn("job.completed event", "job_id", j.ID, "err", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
