package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// maxAgentAnswer bounds what the relay reads from an agent's answer.
const maxAgentAnswer = 64 << 20

// callAgent sends one request to the connection's agent through its tunnel, with the
// API request's id, and decodes a 2xx answer into out. An offline agent, or one whose
// circuit is open, fails at once with CONNECTION_UNREACHABLE; an agent's error answer
// keeps its code.
func (a *API) callAgent(r *http.Request, c store.Connection, method, path string, body, out any) error {
	return a.callAgentCtx(r.Context(), c, method, path, body, out)
}

func (a *API) callAgentCtx(ctx context.Context, c store.Connection, method, path string, body, out any) error {
	return a.callAgentWithin(ctx, a.cfg.AgentTimeout, c, method, path, body, out)
}

// callAgentWithin is callAgentCtx with its own time limit, for calls that the caller
// bounds itself (passthrough statements).
func (a *API) callAgentWithin(ctx context.Context, timeout time.Duration, c store.Connection, method, path string, body, out any) error {
	if c.AgentID == "" || c.AgentEnrolledAt == nil {
		return Errorf(CodeConnectionUnreachable, "no agent has enrolled for this connection yet; run plantbridge-agent enroll with an enrollment token").
			WithDetails(map[string]any{"state": StatePendingEnrollment})
	}
	b := a.breakers.get(c.ID)
	if !b.allow() {
		return Errorf(CodeConnectionUnreachable, "the connection's agent failed to answer recently; the relay retries it in a few seconds").
			WithDetails(map[string]any{"circuit": "open"})
	}
	client, err := a.agents.Client(c.AgentID)
	if err != nil {
		b.result(false)
		if errors.Is(err, tunnel.ErrAgentOffline) {
			return Errorf(CodeConnectionUnreachable, "the connection's agent is offline").
				WithDetails(map[string]any{"state": StateOffline}).WithCause(err)
		}
		return err
	}
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode agent request: %w", err)
		}
		rd = bytes.NewReader(buf)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, rd)
	if err != nil {
		return fmt.Errorf("agent request: %w", err)
	}
	req.Header.Set(wire.HeaderRequestID, RequestID(ctx))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		b.result(false)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Errorf(CodeConnectionUnreachable, "the connection's agent did not answer within %s", timeout).WithCause(err)
		}
		return Errorf(CodeConnectionUnreachable, "the connection's agent could not be reached").WithCause(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAgentAnswer))
	if err != nil {
		b.result(false)
		return Errorf(CodeConnectionUnreachable, "the agent's answer was cut off").WithCause(err)
	}
	b.result(true)
	if resp.StatusCode/100 != 2 {
		var eb wire.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return Errorf(CodeSourceError, "the agent answered with status %d", resp.StatusCode).
				WithCause(fmt.Errorf("agent %s %s: %d %.200s", method, path, resp.StatusCode, data))
		}
		return wireError(&eb.Error)
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return Errorf(CodeSourceError, "the agent's answer could not be read").WithCause(err)
	}
	return nil
}

// breakers hold one circuit breaker per connection for calls to its agent: after
// breakerFailures failures in a row the circuit opens and calls fail at once for
// breakerCooldown; then one call is let through (half open), and its outcome closes or
// reopens the circuit.
type breakers struct {
	now func() time.Time

	mu sync.Mutex // guards m
	m  map[string]*breaker
}

const (
	breakerFailures = 3
	breakerCooldown = 5 * time.Second
)

func newBreakers(now func() time.Time) *breakers {
	return &breakers{now: now, m: map[string]*breaker{}}
}

func (bs *breakers) get(id string) *breaker {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b, ok := bs.m[id]
	if !ok {
		b = &breaker{now: bs.now}
		bs.m[id] = b
	}
	return b
}

// state reports closed, open or half_open.
func (bs *breakers) state(id string) string {
	bs.mu.Lock()
	b, ok := bs.m[id]
	bs.mu.Unlock()
	if !ok {
		return "closed"
	}
	return b.state()
}

type breaker struct {
	now func() time.Time

	mu        sync.Mutex // guards the fields below
	failures  int
	openUntil time.Time
	probing   bool
}

func (b *breaker) stateLocked() string {
	switch {
	case b.failures < breakerFailures:
		return "closed"
	case b.now().Before(b.openUntil):
		return "open"
	}
	return "half_open"
}

func (b *breaker) state() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateLocked()
}

// allow says whether a call may go out now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.stateLocked() {
	case "closed":
		return true
	case "open":
		return false
	}
	if b.probing {
		return false
	}
	b.probing = true
	return true
}

// result records a call's outcome: true when the agent answered (whatever it said).
func (b *breaker) result(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if ok {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= breakerFailures {
		b.openUntil = b.now().Add(breakerCooldown)
	}
}
