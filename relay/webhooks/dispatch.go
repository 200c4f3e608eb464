package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plantbridge/plantbridge/relay/store"
)

// recordTimeout bounds recording attempts; it runs on a context of its own
// so that an attempt made while the relay stops is still logged.
const recordTimeout = 10 * time.Second

// Run delivers due deliveries until ctx is done or Close is called, then
// waits up to DrainTimeout for the deliveries it claimed. It returns nil
// when stopped that way; calling it twice is an error.
//
// Each round claims as many due deliveries as there are free slots
// (MaxConcurrent), at most MaxPerEndpoint per endpoint and none of the
// endpoints that already have that many in flight, so that one slow
// receiver cannot take the slots of the others. Emit and SendTest wake it;
// otherwise it polls every PollInterval.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("webhooks: Run called twice")
	}
	s.running = true
	s.done = make(chan struct{})
	s.mu.Unlock()
	defer close(s.done)

	// Sends outlive ctx by up to DrainTimeout, so that a stopping relay
	// records what its receivers answered.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	freed := make(chan struct{}, 1)
	records := make(chan recordReq, s.opts.MaxConcurrent)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		s.recorder(records)
	}()
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	var retryAt time.Time // after a store error, no claims before this
	for {
		select {
		case <-ctx.Done():
		case <-s.stop:
		case <-s.wake:
		case <-freed:
			// Claims are write transactions: one per finished delivery
			// would take the store's time from recording attempts. Slots
			// are taken in batches, unless the queue is drained.
			s.mu.Lock()
			free, busy := s.opts.MaxConcurrent-s.inFlight, s.inFlight
			s.mu.Unlock()
			if free < s.opts.MaxConcurrent/4 && busy > 0 {
				continue
			}
		case <-timer.C:
			timer.Reset(s.opts.PollInterval)
		}
		if ctx.Err() != nil || s.isStopped() {
			break
		}
		if time.Now().Before(retryAt) {
			continue
		}
		if err := s.claim(ctx, sendCtx, records, freed, &wg); err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.Warn("webhooks: claim due deliveries", "err", err)
			retryAt = time.Now().Add(s.opts.PollInterval)
		}
	}
	s.drain(&wg, cancelSends)
	close(records)
	<-recorded
	s.tr.CloseIdleConnections()
	return nil
}

func (s *Service) isStopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// drain waits for the claimed deliveries, then cancels the sends still
// running after DrainTimeout and waits for them to record their attempt.
func (s *Service) drain(wg *sync.WaitGroup, cancelSends context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(s.opts.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	s.mu.Lock()
	n := s.inFlight
	s.mu.Unlock()
	s.log.Warn("webhooks: deliveries still running at stop; abandoning them", "deliveries", n)
	cancelSends()
	<-done
}

// Close stops Run and waits for it to return (at most DrainTimeout plus the
// time to record the abandoned attempts). It is safe to call more than
// once, and before or without Run.
func (s *Service) Close() error {
	s.stopped.Do(func() { close(s.stop) })
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.tr.CloseIdleConnections()
	return nil
}

// claim claims due deliveries while there are free slots and the store has
// some, and starts them.
func (s *Service) claim(ctx, sendCtx context.Context, records chan<- recordReq, freed chan<- struct{}, wg *sync.WaitGroup) error {
	k := s.opts.MaxPerEndpoint
	for {
		s.mu.Lock()
		free := s.opts.MaxConcurrent - s.inFlight
		var skip []string
		for ep, n := range s.busy {
			if n >= k {
				skip = append(skip, ep)
			}
		}
		s.mu.Unlock()
		if free <= 0 {
			return nil
		}
		list, err := s.st.ClaimDeliveries(ctx, store.DeliveryClaim{Now: s.now(), Limit: min(free, store.MaxPageSize),
			LeaseFor: s.opts.LeaseFor, PerEndpoint: k, SkipEndpoints: skip})
		if err != nil || len(list) == 0 {
			return err
		}
		s.mu.Lock()
		for _, d := range list {
			s.inFlight++
			n := s.busy[d.EndpointID]
			s.busy[d.EndpointID] = n + 1
			if n >= k {
				// All of the endpoint's slots are taken, so this waits
				// for one: less than one Timeout, as every claim takes at
				// most k of an endpoint that has fewer than k.
				s.waiting[d.EndpointID] = append(s.waiting[d.EndpointID], d)
				continue
			}
			wg.Go(func() { s.work(sendCtx, records, freed, d) })
		}
		s.mu.Unlock()
	}
}

// work delivers d, then the deliveries of its endpoint that wait for a
// slot. Once Run stops claiming, waiting deliveries are still sent within
// the drain time: they are few, and sending them spares their receivers a
// wait for the lease to expire.
func (s *Service) work(ctx context.Context, records chan<- recordReq, freed chan<- struct{}, d store.Delivery) {
	for {
		s.deliver(ctx, records, d)
		s.mu.Lock()
		s.inFlight--
		ep := d.EndpointID
		if s.busy[ep]--; s.busy[ep] == 0 {
			delete(s.busy, ep)
		}
		q := s.waiting[ep]
		if len(q) == 0 {
			s.mu.Unlock()
			select {
			case freed <- struct{}{}:
			default:
			}
			return
		}
		d = q[0]
		if len(q) == 1 {
			delete(s.waiting, ep)
		} else {
			s.waiting[ep] = q[1:]
		}
		s.mu.Unlock()
		select {
		case freed <- struct{}{}:
		default:
		}
	}
}

// deliver makes one attempt and records it.
func (s *Service) deliver(ctx context.Context, records chan<- recordReq, d store.Delivery) {
	at := s.now()
	start := time.Now()
	res := s.send(ctx, d, at)
	a := store.Attempt{At: at, StatusCode: res.status, Duration: time.Since(start), Error: res.err}
	success := res.err == "" && res.status >= 200 && res.status < 300
	if !success {
		end := s.now()
		if ctx.Err() != nil {
			// Cut short by a stopping relay: due again at once, for the
			// next relay to send.
			a.Error = "abandoned: the relay stopped during the attempt"
			a.NextRetry = &end
		} else if next, ok := s.opts.Backoff.Next(d.Attempts+1, d.CreatedAt, end, s.jitter()); ok {
			// A receiver's Retry-After postpones the retry, within the
			// window.
			if ra := retryAfter(res.header, end); ra > 0 && end.Add(ra).After(next) {
				next = end.Add(ra)
				if windowEnd := d.CreatedAt.Add(s.opts.Backoff.Window); next.After(windowEnd) {
					next = windowEnd
				}
			}
			a.NextRetry = &next
		}
	}
	if s.opts.OnAttempt != nil {
		outcome := "success"
		switch {
		case success:
		case ctx.Err() != nil:
			outcome = "abandoned"
		case res.status != 0:
			outcome = "http_error"
		default:
			outcome = "network_error"
		}
		s.opts.OnAttempt(outcome, a.Duration)
	}
	recorded := make(chan recordRes, 1)
	records <- recordReq{deliveryID: d.ID, attempt: a, res: recorded}
	r := <-recorded
	rec, err := r.attempt, r.err
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		// The lease ran out and another replica finished the delivery, or
		// the endpoint was deleted meanwhile.
		s.log.Info("webhooks: attempt not recorded", "delivery", d.ID, "event", d.Event.ID, "err", err)
		return
	case err != nil:
		// The lease will expire and the delivery be sent again with the
		// same webhook-id.
		s.log.Warn("webhooks: record attempt", "delivery", d.ID, "event", d.Event.ID, "err", err)
		return
	}
	if !success {
		s.log.Debug("webhooks: attempt failed", "endpoint", d.EndpointID, "event", d.Event.ID, "attempt", rec.Number,
			"status", a.StatusCode, "err", a.Error, "next_retry", a.NextRetry)
	}
	if !success && a.NextRetry == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
		s.disableIfFailing(rctx, d, a)
	}
}

// maxRecordBatch bounds the attempts recorded in one transaction.
const maxRecordBatch = 256

type recordReq struct {
	deliveryID int64
	attempt    store.Attempt
	res        chan<- recordRes // buffered
}

type recordRes struct {
	attempt store.Attempt
	err     error
}

// recorder records attempts until reqs is closed. It takes every attempt
// that is waiting into one transaction (group commit): on SQLite each
// commit waits for the disk, and one per attempt would bound delivery at
// a few hundred per second.
func (s *Service) recorder(reqs <-chan recordReq) {
	for first := range reqs {
		batch := []recordReq{first}
	more:
		for len(batch) < maxRecordBatch {
			select {
			case r, ok := <-reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		recs := make([]store.AttemptRecord, len(batch))
		for i, r := range batch {
			recs[i] = store.AttemptRecord{DeliveryID: r.deliveryID, Attempt: r.attempt}
		}
		var (
			list []store.Attempt
			errs []error
			err  error
		)
		// A failed batch is tried again: an attempt left unrecorded keeps
		// its lease until it expires and is then sent again. PostgreSQL
		// may also abort a transaction that conflicts with another
		// replica's.
		for try := range 3 {
			if try > 0 {
				s.log.Info("webhooks: record attempts again", "attempts", len(recs), "err", err)
				time.Sleep(time.Duration(try) * 100 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
			list, errs, err = s.st.RecordAttempts(ctx, recs)
			cancel()
			if err == nil {
				break
			}
		}
		for i, r := range batch {
			if err != nil {
				r.res <- recordRes{err: err}
				continue
			}
			r.res <- recordRes{attempt: list[i], err: errs[i]}
		}
	}
}

// disableIfFailing disables the endpoint of a delivery that ran out of
// retries if the endpoint failed all along, and tells the account with a
// system.error event (which the disabled endpoint no longer receives).
func (s *Service) disableIfFailing(ctx context.Context, d store.Delivery, last store.Attempt) {
	window := s.opts.Backoff.Window
	reason := fmt.Sprintf("every delivery failed for %s", window)
	ep, disabled, err := s.st.DisableFailingWebhookEndpoint(ctx, d.ID, reason)
	if err != nil {
		s.log.Warn("webhooks: disable failing endpoint", "endpoint", d.EndpointID, "err", err)
		return
	}
	if !disabled {
		return
	}
	s.log.Warn("webhooks: endpoint disabled", "endpoint", ep.ID, "account", ep.AccountID, "reason", reason)
	details := map[string]any{"url": ep.URL, "last_error": last.Error}
	if ep.Health.FailingSince != nil {
		details["failing_since"] = ep.Health.FailingSince
	}
	if _, err := s.Emit(ctx, Event{AccountID: ep.AccountID, Type: EventSystemError, Data: SystemErrorData{
		Code: SystemErrorEndpointDisabled, EndpointID: ep.ID, Message: "webhook endpoint disabled: " + reason,
		Details: details}}); err != nil {
		s.log.Warn("webhooks: emit endpoint disabled", "endpoint", ep.ID, "err", err)
	}
}

func (s *Service) jitter() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.Float64()
}

// sendResult is what one request came to.
type sendResult struct {
	status int
	header http.Header
	// err says why the attempt failed; empty on a 2xx.
	err string
}

// excerptLen bounds the part of a failed response's body kept in the log.
const excerptLen = 256

// send makes one signed request for d.
func (s *Service) send(ctx context.Context, d store.Delivery, at time.Time) sendResult {
	if _, err := s.policy.parseURL(d.URL); err != nil {
		return sendResult{err: err.Error()}
	}
	body, err := messageBody(d.Event)
	if err != nil {
		return sendResult{err: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return sendResult{err: "build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.opts.UserAgent)
	if err := setSignedHeaders(req.Header, d.Event.ID, at, body, d.Secrets); err != nil {
		return sendResult{err: err.Error()}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return sendResult{err: s.describe(err)}
	}
	defer resp.Body.Close()
	// Only a bounded part is read: the body is ignored on success and
	// quoted on failure, and a receiver could send gigabytes.
	got, _ := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxResponseBody))
	res := sendResult{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res
	}
	res.err = "HTTP " + resp.Status
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		res.err += ": redirects are not followed; set the webhook URL to the final address"
		if loc := resp.Header.Get("Location"); loc != "" {
			res.err += " (Location: " + excerpt([]byte(loc)) + ")"
		}
	} else if e := excerpt(got); e != "" {
		res.err += ": " + e
	}
	return res
}

// describe turns a request error into the attempt's error text, without
// the URL (it is the endpoint's) and without the Go error chain's noise.
func (s *Service) describe(err error) string {
	if te, ok := targetErrorFrom(err); ok {
		return te.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("timeout: no complete answer within %s", s.opts.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return excerpt([]byte(err.Error()))
}

// excerpt makes a short, printable, valid UTF-8 excerpt of b.
func excerpt(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 && sb.Len() < excerptLen {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			sb.WriteRune('\uFFFD')
		case unicode.IsSpace(r):
			sb.WriteByte(' ')
		case !unicode.IsPrint(r):
			sb.WriteRune('\uFFFD')
		default:
			sb.WriteRune(r)
		}
	}
	out := strings.Join(strings.Fields(sb.String()), " ")
	if len(b) > 0 {
		out += "…"
	}
	return out
}
