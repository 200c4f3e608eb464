package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// JobStatus is the state of an async job.
type JobStatus string

// Job statuses.
const (
	JobQueued    JobStatus = "queued"
	JobRunning   JobStatus = "running"
	JobCompleted JobStatus = "completed"
	JobFailed    JobStatus = "failed"
)

// Job is an async bulk write: a list of inputs processed in chunks by one
// worker at a time, with one result per input.
type Job struct {
	ID           string
	AccountID    string
	ConnectionID string
	Model        string
	// Op is the write operation, such as "create" or "update".
	Op     string
	Status JobStatus
	// Total is the number of inputs; Processed, Succeeded and Failed count
	// the results stored so far.
	Total, Processed, Succeeded, Failed int
	// Error says why a failed job failed as a whole.
	Error *ErrorDetail
	// Worker holds the job while running, until LeaseUntil.
	Worker     string
	LeaseUntil *time.Time
	// Attempts counts claims; more than one means a worker lost the job.
	Attempts   int
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// NewJob holds a job to create.
type NewJob struct {
	AccountID    string
	ConnectionID string
	Model        string
	Op           string
	// Inputs are the records to write, one JSON document each. When nil,
	// Total says how many inputs the caller tracks elsewhere.
	Inputs []json.RawMessage
	Total  int
}

// JobInput is one input of a job.
type JobInput struct {
	Index int
	Body  json.RawMessage
}

// JobResult is the result of one input of a job.
type JobResult struct {
	// Index is the input's position in the job.
	Index int
	// StatusCode is the HTTP status the write would have had on its own;
	// 2xx counts as success.
	StatusCode int
	RecordID   string
	Error      *ErrorDetail
	// Record is the written record, if any.
	Record    json.RawMessage
	CreatedAt time.Time
}

const jobColumns = `id, account_id, connection_id, model, op, status, total, processed, succeeded, failed,
	error_code, error_message, worker, lease_until, attempts, created_at, updated_at, started_at, finished_at`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var (
		j                 Job
		status            string
		code, msg, worker *string
	)
	err := row.Scan(&j.ID, &j.AccountID, &j.ConnectionID, &j.Model, &j.Op, &status, &j.Total, &j.Processed,
		&j.Succeeded, &j.Failed, &code, &msg, &worker, scanNullTime{&j.LeaseUntil}, &j.Attempts,
		scanTime{&j.CreatedAt}, scanTime{&j.UpdatedAt}, scanNullTime{&j.StartedAt}, scanNullTime{&j.FinishedAt})
	j.Status = JobStatus(status)
	j.Error = errorDetail(code, msg)
	if worker != nil {
		j.Worker = *worker
	}
	return j, err
}

// jobInputChunk keeps a multi-row insert of inputs (3 columns) well inside
// the parameter limits.
const jobInputChunk = 500

// CreateJob implements Store.
func (s *sqlStore) CreateJob(ctx context.Context, nj NewJob) (Job, error) {
	if err := validName("model", nj.Model); err != nil {
		return Job{}, fmt.Errorf("create job: %w", err)
	}
	if err := validName("op", nj.Op); err != nil {
		return Job{}, fmt.Errorf("create job: %w", err)
	}
	if nj.Inputs != nil {
		nj.Total = len(nj.Inputs)
	}
	if nj.Total < 0 {
		return Job{}, fmt.Errorf("create job: %w: total %d", ErrInvalid, nj.Total)
	}
	now := s.clock()
	var j Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		j, err = scanJob(s.queryRow(ctx, tx, `INSERT INTO jobs (id, account_id, connection_id, model, op, status, total, created_at, updated_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (
				SELECT 1 FROM connections WHERE id = ? AND account_id = ? AND deleted_at IS NULL)
			RETURNING `+jobColumns,
			s.newID("job"), nj.AccountID, nj.ConnectionID, nj.Model, nj.Op, string(JobQueued), nj.Total, s.t(now), s.t(now),
			nj.ConnectionID, nj.AccountID))
		if err != nil {
			return fmt.Errorf("connection: %w", notFound(err))
		}
		for start := 0; start < len(nj.Inputs); start += jobInputChunk {
			chunk := nj.Inputs[start:min(start+jobInputChunk, len(nj.Inputs))]
			args := make([]any, 0, 3*len(chunk))
			for i, in := range chunk {
				if !json.Valid(in) {
					return fmt.Errorf("%w: input %d is not JSON", ErrInvalid, start+i)
				}
				args = append(args, j.ID, start+i, string(in))
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO job_inputs (job_id, idx, body) VALUES `+valuesRows(len(chunk), 3), args...); err != nil {
				return fmt.Errorf("store inputs: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Job{}, fmt.Errorf("create job: %w", err)
	}
	return j, nil
}

// GetJob implements Store.
func (s *sqlStore) GetJob(ctx context.Context, accountID, jobID string) (Job, error) {
	j, err := scanJob(s.queryRow(ctx, s.r, `SELECT `+jobColumns+` FROM jobs WHERE id = ? AND account_id = ?`, jobID, accountID))
	if err != nil {
		return Job{}, fmt.Errorf("get job: %w", notFound(err))
	}
	return j, nil
}

// ListJobResults implements Store.
func (s *sqlStore) ListJobResults(ctx context.Context, accountID, jobID string, p Page) ([]JobResult, string, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list job results: %w", err)
	}
	after := -1
	if p.After != "" {
		if after, err = strconv.Atoi(p.After); err != nil || after < 0 {
			return nil, "", fmt.Errorf("list job results: %w: cursor %q", ErrInvalid, p.After)
		}
	}
	if _, err := s.GetJob(ctx, accountID, jobID); err != nil {
		return nil, "", fmt.Errorf("list job results: %w", err)
	}
	rows, err := s.query(ctx, s.r, `SELECT idx, status_code, record_id, error_code, error_message, record, created_at
		FROM job_results WHERE job_id = ? AND idx > ? ORDER BY idx LIMIT ?`, jobID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list job results: %w", err)
	}
	defer rows.Close()
	var list []JobResult
	for rows.Next() {
		var (
			r         JobResult
			code, msg *string
			record    []byte
		)
		if err := rows.Scan(&r.Index, &r.StatusCode, &r.RecordID, &code, &msg, &record, scanTime{&r.CreatedAt}); err != nil {
			return nil, "", fmt.Errorf("list job results: %w", err)
		}
		r.Error = errorDetail(code, msg)
		if record != nil {
			r.Record = record
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list job results: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = strconv.Itoa(list[limit-1].Index)
	}
	return list, next, nil
}

// JobInputs implements Store.
func (s *sqlStore) JobInputs(ctx context.Context, jobID string, from, limit int) ([]JobInput, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("job inputs: %w", err)
	}
	rows, err := s.query(ctx, s.r, `SELECT idx, body FROM job_inputs WHERE job_id = ? AND idx >= ? ORDER BY idx LIMIT ?`,
		jobID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("job inputs: %w", err)
	}
	defer rows.Close()
	var list []JobInput
	for rows.Next() {
		var (
			in   JobInput
			body []byte
		)
		if err := rows.Scan(&in.Index, &body); err != nil {
			return nil, fmt.Errorf("job inputs: %w", err)
		}
		in.Body = body
		list = append(list, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("job inputs: %w", err)
	}
	return list, nil
}

// ClaimJob implements Store.
//
// The candidate is chosen and updated in one statement. On PostgreSQL the
// CTE locks its row with SKIP LOCKED, so concurrent claimers pass over a row
// that another claimer is taking instead of waiting for it and then taking
// it again; after that claimer commits, the lease it set excludes the row.
// On SQLite the statement runs in the single write transaction.
func (s *sqlStore) ClaimJob(ctx context.Context, worker string, leaseFor time.Duration) (*Job, error) {
	if worker == "" || leaseFor <= 0 {
		return nil, fmt.Errorf("claim job: %w: worker and lease are required", ErrInvalid)
	}
	now := s.clock()
	j, err := scanJob(s.queryRow(ctx, s.w, `WITH due AS MATERIALIZED (
			SELECT id FROM jobs
			WHERE status = 'queued' OR (status = 'running' AND lease_until <= ?)
			ORDER BY created_at, id LIMIT 1`+s.d.skipLocked+`)
		UPDATE jobs SET status = 'running', worker = ?, lease_until = ?, attempts = attempts + 1,
			started_at = COALESCE(started_at, ?), updated_at = ?
		WHERE id IN (SELECT id FROM due)
		RETURNING `+jobColumns,
		s.t(now), worker, s.t(now.Add(leaseFor)), s.t(now), s.t(now)))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return &j, nil
}

// RenewJobLease implements Store.
func (s *sqlStore) RenewJobLease(ctx context.Context, jobID, worker string, leaseFor time.Duration) error {
	now := s.clock()
	n, err := s.exec(ctx, s.w, `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND worker = ? AND status = 'running'`,
		s.t(now.Add(leaseFor)), s.t(now), jobID, worker)
	if err != nil {
		return fmt.Errorf("renew job lease: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("renew job lease: %w: job %s is not held by %s", ErrConflict, jobID, worker)
	}
	return nil
}

// jobResultChunk keeps a multi-row insert of results (8 columns) well inside
// the parameter limits.
const jobResultChunk = 500

// AppendJobResults implements Store.
func (s *sqlStore) AppendJobResults(ctx context.Context, jobID, worker string, results []JobResult) error {
	now := s.clock()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var holder *string
		var total int
		err := s.queryRow(ctx, tx, `SELECT worker, total FROM jobs WHERE id = ? AND status = 'running'`+s.d.forUpdate, jobID).
			Scan(&holder, &total)
		if err != nil {
			return fmt.Errorf("job %s: %w", jobID, notFound(err))
		}
		if holder == nil || *holder != worker {
			return fmt.Errorf("%w: job %s is not held by %s", ErrConflict, jobID, worker)
		}
		var ok, failed int
		for start := 0; start < len(results); start += jobResultChunk {
			chunk := results[start:min(start+jobResultChunk, len(results))]
			args := make([]any, 0, 8*len(chunk))
			for _, r := range chunk {
				if r.Index < 0 || r.Index >= total {
					return fmt.Errorf("%w: result index %d outside 0..%d", ErrInvalid, r.Index, total-1)
				}
				var code, msg, record any
				if r.Error != nil {
					code, msg = r.Error.Code, r.Error.Message
				}
				if r.Record != nil {
					record = string(r.Record)
				}
				args = append(args, jobID, r.Index, r.StatusCode, r.RecordID, code, msg, record, s.t(now))
			}
			// Only rows actually inserted come back, so a retried chunk is
			// not counted twice.
			rows, err := s.query(ctx, tx, `INSERT INTO job_results (job_id, idx, status_code, record_id, error_code, error_message, record, created_at)
				VALUES `+valuesRows(len(chunk), 8)+` ON CONFLICT (job_id, idx) DO NOTHING RETURNING status_code`, args...)
			if err != nil {
				return fmt.Errorf("store results: %w", err)
			}
			for rows.Next() {
				var code int
				if err := rows.Scan(&code); err != nil {
					rows.Close()
					return fmt.Errorf("store results: %w", err)
				}
				if code >= 200 && code < 300 {
					ok++
				} else {
					failed++
				}
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("store results: %w", err)
			}
			rows.Close()
		}
		_, err = s.exec(ctx, tx, `UPDATE jobs SET processed = processed + ?, succeeded = succeeded + ?, failed = failed + ?, updated_at = ?
			WHERE id = ?`, ok+failed, ok, failed, s.t(now), jobID)
		return err
	})
	if err != nil {
		return fmt.Errorf("append job results: %w", err)
	}
	return nil
}

// FinishJob implements Store.
func (s *sqlStore) FinishJob(ctx context.Context, jobID, worker string, status JobStatus, jobErr *ErrorDetail) error {
	if status != JobCompleted && status != JobFailed {
		return fmt.Errorf("finish job: %w: status %q", ErrInvalid, status)
	}
	var code, msg any
	if jobErr != nil {
		code, msg = jobErr.Code, jobErr.Message
	}
	now := s.t(s.clock())
	n, err := s.exec(ctx, s.w, `UPDATE jobs SET status = ?, error_code = ?, error_message = ?, lease_until = NULL,
			finished_at = ?, updated_at = ?
		WHERE id = ? AND worker = ? AND status = 'running'`, string(status), code, msg, now, now, jobID, worker)
	if err != nil {
		return fmt.Errorf("finish job: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("finish job: %w: job %s is not held by %s", ErrConflict, jobID, worker)
	}
	return nil
}
