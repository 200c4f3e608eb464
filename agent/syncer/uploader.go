package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/agent/outbox"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Relay sends requests to the relay; *tunnel.Client is one. Do may wait for a
// connection until the request's context ends.
type Relay interface {
	Do(*http.Request) (*http.Response, error)
}

// UploaderConfig configures an Uploader.
type UploaderConfig struct {
	// Outbox is the queue to drain. Required.
	Outbox *outbox.Outbox
	// Relay carries the requests. Required.
	Relay Relay
	// BaseURL is prefixed to the wire paths. Default "http://relay" (the tunnel
	// ignores the host).
	BaseURL string
	// Logger receives the uploader's logs. Required.
	Logger *slog.Logger
	// Retry paces attempts after a failure to reach the relay or a 5xx, 408 or 429.
	// Zero fields take 1 s and 60 s.
	Retry tunnel.Backoff
	// Rejected paces attempts after the relay refused an item with another 4xx. Zero
	// fields take 1 min and 30 min.
	Rejected tunnel.Backoff
	// Timeout bounds one attempt, including the wait for a tunnel. Default 2 min.
	Timeout time.Duration
	// StopGrace is how long an attempt under way may go on after Run's context ended,
	// so that an acknowledgment in flight is not wasted. Default 2 s.
	StopGrace time.Duration
}

// Uploader sends the outbox to the relay, oldest item first, one at a time so that the
// relay applies a model's batches in the order they were read. An item leaves the
// outbox only when the relay answered 2xx.
type Uploader struct {
	cfg  UploaderConfig
	log  *slog.Logger
	kick chan struct{} // buffered 1: cut the current wait short

	mu sync.Mutex // guards st
	st UploadStatus
}

// UploadStatus describes the uploader, for the agent's local status.
type UploadStatus struct {
	// Sent counts the items the relay acknowledged since the agent started, Records
	// the records in them.
	Sent    int64 `json:"sent"`
	Records int64 `json:"records"`
	// LastAckAt is when the relay last acknowledged an item.
	LastAckAt *time.Time `json:"last_ack_at,omitempty"`
	// Failures counts consecutive failed attempts; LastError says why the last failed,
	// and RetryAt when the next starts.
	Failures  int        `json:"failures,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	RetryAt   *time.Time `json:"retry_at,omitempty"`
	// Rejected is set while the relay refuses the oldest item.
	Rejected *Rejection `json:"rejected,omitempty"`
}

// Rejection is an item the relay refused with a 4xx: a bug on one side or the other,
// which retrying soon does not fix. The item stays queued (and everything behind it
// waits) until the relay takes it.
type Rejection struct {
	ItemID  string    `json:"item_id"`
	Kind    string    `json:"kind"`
	Model   string    `json:"model"`
	Status  int       `json:"status"`
	Code    string    `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// NewUploader checks cfg and returns an uploader; Run starts it.
func NewUploader(cfg UploaderConfig) (*Uploader, error) {
	if cfg.Outbox == nil || cfg.Relay == nil || cfg.Logger == nil {
		return nil, errors.New("uploader: outbox, relay and logger are required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://relay"
	}
	if cfg.Rejected.Base <= 0 {
		cfg.Rejected.Base = time.Minute
	}
	if cfg.Rejected.Cap <= 0 {
		cfg.Rejected.Cap = 30 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 2 * time.Second
	}
	return &Uploader{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}, nil
}

// Retry ends a wait between attempts now. The agent calls it when the tunnel
// (re)connects: the relay is back, or is perhaps a newer one that takes what the last
// refused, so waiting out a backoff of up to half an hour would only delay the drain.
func (u *Uploader) Retry() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Status returns the uploader's status.
func (u *Uploader) Status() UploadStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.st
	if st.Rejected != nil {
		r := *st.Rejected
		st.Rejected = &r
	}
	return st
}

// outcome is what became of one attempt.
type outcome int

const (
	acked    outcome = iota
	retry            // relay away, 5xx, 408, 429: try again soon
	rejected         // another 4xx: try again much later
)

// Run drains the outbox until ctx ends.
//
// Reading the next item and deleting acknowledged ones happen beside the upload, not
// between two uploads: the relay link is the bottleneck of a large sync and should not
// wait for the outbox file. A deletion that lags behind its acknowledgment is harmless:
// after a crash the item is sent again and the relay acknowledges it as a duplicate.
func (u *Uploader) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	acks := make(chan int64, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.deleteAcked(acks)
	}()
	defer func() {
		close(acks)
		wg.Wait()
	}()
	items := make(chan outbox.Item, 1)
	pctx, stopPrefetch := context.WithCancel(ctx)
	defer stopPrefetch()
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.prefetch(pctx, items)
	}()

	retryB, rejectB := u.cfg.Retry, u.cfg.Rejected
	for {
		var it outbox.Item
		select {
		case <-ctx.Done():
			return nil
		case next, ok := <-items:
			if !ok {
				return nil
			}
			it = next
		}
		for {
			res, wait, err := u.send(ctx, it)
			if res == acked {
				acks <- it.Seq
				u.acked(it)
				retryB.Reset()
				rejectB.Reset()
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			if res == retry {
				wait = max(wait, retryB.Next())
			} else {
				wait = rejectB.Next()
			}
			u.failed(it, err, wait)
			if !u.sleep(ctx, wait) {
				return nil
			}
		}
	}
}

// prefetch reads the queue in order into out, one item ahead of the upload.
func (u *Uploader) prefetch(ctx context.Context, out chan<- outbox.Item) {
	defer close(out)
	var last int64
	b := u.cfg.Retry
	for {
		it, err := u.cfg.Outbox.NextAfter(ctx, last)
		if ctx.Err() != nil || errors.Is(err, outbox.ErrClosed) {
			return
		}
		if err != nil {
			u.log.Error("read outbox", "err", err)
			if !u.sleep(ctx, b.Next()) {
				return
			}
			continue
		}
		b.Reset()
		select {
		case out <- it:
			last = it.Seq
		case <-ctx.Done():
			return
		}
	}
}

// deleteAcked deletes acknowledged items, as many at a time as have gathered, until
// acks is closed.
func (u *Uploader) deleteAcked(acks <-chan int64) {
	for seq := range acks {
		seqs := []int64{seq}
	gather:
		for {
			select {
			case s, ok := <-acks:
				if !ok {
					break gather
				}
				seqs = append(seqs, s)
			default:
				break gather
			}
		}
		if err := u.cfg.Outbox.Ack(seqs...); err != nil {
			// The relay has them; a re-send after this changes nothing there.
			u.log.Error("delete acknowledged items from the outbox", "items", len(seqs), "err", err)
		}
	}
}

func (u *Uploader) acked(it outbox.Item) {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.st.Sent++
	u.st.Records += int64(it.Records)
	u.st.LastAckAt = &now
	if u.st.Failures > 0 || u.st.Rejected != nil {
		u.log.Info("relay takes batches again", "after_failures", u.st.Failures)
	}
	u.st.Failures, u.st.LastError, u.st.RetryAt, u.st.Rejected = 0, "", nil, nil
}

func (u *Uploader) failed(it outbox.Item, err error, wait time.Duration) {
	retryAt := time.Now().Add(wait)
	u.mu.Lock()
	u.st.Failures++
	u.st.LastError = err.Error()
	u.st.RetryAt = &retryAt
	n := u.st.Failures
	var rej *Rejection
	if errors.As(err, &rej) {
		u.st.Rejected = rej
	}
	u.mu.Unlock()
	switch {
	case rej != nil:
		u.log.Error("relay refused an outbox item; it stays queued and everything behind it waits. This is a bug in the agent or the relay: report it with this line",
			"item_id", it.ID, "kind", it.Kind.String(), "model", it.Model, "status", rej.Status, "code", rej.Code,
			"message", rej.Message, "retry_in", wait.Round(time.Second))
	case n == 1 || n%10 == 0:
		u.log.Warn("upload to the relay failed; the outbox keeps the batches", "item_id", it.ID, "failures", n,
			"retry_in", wait.Round(time.Millisecond), "err", err)
	default:
		u.log.Debug("upload to the relay failed", "item_id", it.ID, "failures", n, "err", err)
	}
}

// send makes one attempt to deliver it. An attempt under way when ctx ends gets
// StopGrace to finish, since its acknowledgment saves a re-send.
func (u *Uploader) send(ctx context.Context, it outbox.Item) (outcome, time.Duration, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.cfg.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(u.cfg.StopGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-rctx.Done():
		}
	})
	defer stop()
	path := wire.PathBatches
	if it.Kind == outbox.KindSyncState {
		path = wire.PathSyncState
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.cfg.BaseURL+path, bytes.NewReader(it.Body))
	if err != nil {
		return rejected, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.HeaderRequestID, "up_"+it.ID)
	resp, err := u.cfg.Relay.Do(req)
	if err != nil {
		return retry, 0, fmt.Errorf("send %s %s: %w", it.Kind, it.ID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if err != nil {
			return retry, 0, fmt.Errorf("read the relay's answer to %s: %w", it.ID, err)
		}
		if it.Kind == outbox.KindBatch {
			var ack wire.BatchAck
			if err := json.Unmarshal(body, &ack); err != nil || ack.BatchID != it.ID {
				return rejected, 0, &Rejection{ItemID: it.ID, Kind: it.Kind.String(), Model: it.Model, Status: resp.StatusCode,
					Message: fmt.Sprintf("acknowledgment does not name the batch: %.200s", body), At: time.Now()}
			}
		}
		return acked, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return retry, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("relay answered %s to %s: %s", resp.Status, it.ID, errorText(body))
	default:
		var eb wire.ErrorBody
		json.Unmarshal(body, &eb)
		return rejected, 0, &Rejection{ItemID: it.ID, Kind: it.Kind.String(), Model: it.Model, Status: resp.StatusCode,
			Code: eb.Error.Code, Message: eb.Error.Message, At: time.Now()}
	}
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("relay refused %s %s with %d %s: %s", r.Kind, r.ItemID, r.Status, r.Code, r.Message)
}

// errorText is the message of an error body, or the start of the body.
func errorText(body []byte) string {
	var eb wire.ErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		return eb.Error.Code + ": " + eb.Error.Message
	}
	return fmt.Sprintf("%.200s", bytes.TrimSpace(body))
}

// retryAfter reads a Retry-After of seconds, capped at ten minutes.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, 10*time.Minute)
}

// sleep waits d, or until Retry or the end of ctx; it reports false when ctx ended.
func (u *Uploader) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-u.kick:
		return true
	case <-ctx.Done():
		return false
	}
}
