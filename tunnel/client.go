package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// ClientConfig configures the agent side of the tunnel.
type ClientConfig struct {
	Dialer DialerConfig
	// Hello identifies the agent; its Secret is the agent credential.
	Hello Hello
	// Handler serves the relay's calls to the agent.
	Handler http.Handler
	// Mux tunes the multiplexer; zero fields take their defaults.
	Mux MuxConfig
	// Backoff paces reconnects; zero fields take their defaults (1 s, 60 s, 60 s).
	Backoff Backoff
	// HandshakeTimeout bounds one connect attempt (TCP, proxy, TLS, upgrade). Default 30 s.
	HandshakeTimeout time.Duration
	// Logger receives structured logs; required.
	Logger *slog.Logger
	// OnEvent, if set, receives every connection event (after it is logged).
	OnEvent func(Event)
}

// Client keeps the agent connected to the relay: it dials, serves the relay's calls,
// carries the agent's calls, and reconnects with backoff whenever the tunnel ends.
type Client struct {
	cfg    ClientConfig
	dialer *Dialer
	log    *slog.Logger
	// connect opens one session; tests replace it.
	connect func(ctx context.Context) (*Session, error)

	mu       sync.Mutex    // guards the fields below
	current  *Session      // the session new calls use, nil while disconnected
	changed  chan struct{} // closed and replaced whenever current changes
	lastErr  error         // why the last attempt failed
	attempts int           // consecutive failed attempts

	drains chan *Session // sessions the relay asked to leave
	wg     sync.WaitGroup
}

// NewClient validates cfg and returns a client; call Run to connect.
func NewClient(cfg ClientConfig) (*Client, error) {
	d, err := NewDialer(cfg.Dialer)
	if err != nil {
		return nil, err
	}
	if err := checkAgentID(cfg.Hello.AgentID); err != nil {
		return nil, fmt.Errorf("agent id: %w", err)
	}
	if cfg.Hello.Secret == "" {
		return nil, errors.New("agent credential is empty")
	}
	if cfg.Handler == nil {
		cfg.Handler = http.NotFoundHandler()
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 30 * time.Second
	}
	c := &Client{cfg: cfg, dialer: d, log: cfg.Logger, changed: make(chan struct{}), drains: make(chan *Session, 1)}
	c.connect = c.dial
	return c, nil
}

// Run connects and stays connected until ctx is canceled, then closes the tunnel and
// returns once everything it started has stopped.
func (c *Client) Run(ctx context.Context) error {
	defer c.wg.Wait()
	b := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		emit(c.log, c.cfg.OnEvent, Event{Kind: EventReconnectAttempt, AgentID: c.cfg.Hello.AgentID, Attempt: attempt,
			Remote: c.dialer.URL.Host})
		s, err := c.connect(ctx)
		if ctx.Err() != nil {
			if s != nil {
				s.Close()
			}
			return nil
		}
		if err != nil {
			delay := b.Next()
			c.setFailure(err)
			kind := EventConnectFailed
			if errors.Is(err, ErrUnauthorized) {
				kind = EventAuthFailed
			}
			emit(c.log, c.cfg.OnEvent, Event{Kind: kind, AgentID: c.cfg.Hello.AgentID, Remote: c.dialer.URL.Host,
				Detail: err.Error(), Attempt: attempt, Delay: delay})
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		}
		attempt = 0
		c.start(s)
		if !c.wait(ctx, s, &b) {
			return nil
		}
	}
}

// wait returns when session s has ended (after the backoff delay) or the relay asked it
// to leave; it returns false when ctx ended.
func (c *Client) wait(ctx context.Context, s *Session, b *Backoff) bool {
	for {
		select {
		case <-ctx.Done():
			c.publish(nil, s)
			s.Close()
			return false
		case <-s.Done():
			b.Connected(time.Since(s.Started))
			return sleep(ctx, b.Next())
		case old := <-c.drains:
			if old != s {
				continue // a drain of an older session, already gone
			}
			// Reconnect at once; the old session leaves after its calls in flight finish.
			b.Connected(time.Since(old.Started))
			return true
		}
	}
}

// start publishes s and runs its goroutines: the relay's calls, keepalive, and the
// teardown that logs the disconnect.
func (c *Client) start(s *Session) {
	c.publish(s, nil)
	emit(c.log, c.cfg.OnEvent, Event{Kind: EventConnect, AgentID: c.cfg.Hello.AgentID, ConnID: s.ID, Remote: s.Remote})
	c.wg.Add(3)
	go func() {
		defer c.wg.Done()
		if err := s.Serve(c.cfg.Handler); err != nil {
			c.log.Warn("tunnel serve", "conn_id", s.ID, "err", err)
		}
	}()
	go func() {
		defer c.wg.Done()
		s.keepaliveWS()
	}()
	go func() {
		defer c.wg.Done()
		<-s.Done()
		s.transport.CloseIdleConnections()
		c.publish(nil, s)
		reason, detail := s.Reason()
		emit(c.log, c.cfg.OnEvent, Event{Kind: EventDisconnect, AgentID: c.cfg.Hello.AgentID, ConnID: s.ID,
			Remote: s.Remote, Reason: reason, Detail: detail, RTT: s.RTT(), Duration: time.Since(s.Started)})
	}()
}

// onDrain handles the relay's request to leave: no new calls on s, reconnect now, and
// close s once its calls in flight are done (bounded, as the relay will not wait forever).
func (c *Client) onDrain(s *Session) {
	c.log.Info("relay asked the agent to reconnect (drain)", "conn_id", s.ID)
	idle := s.startDrain()
	c.publish(nil, s)
	select {
	case c.drains <- s:
	default:
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	case <-s.Done():
	}
	s.closeWith(ReasonRelayDrain, "", true)
}

// publish makes s the current session (or clears it, if s is nil and old is current) and
// wakes callers waiting for a session.
func (c *Client) publish(s, old *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == nil && c.current != old {
		return
	}
	c.current = s
	if s != nil {
		c.lastErr, c.attempts = nil, 0
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) setFailure(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	c.attempts++
}

// Status describes the client's connection.
type Status struct {
	Connected      bool      `json:"connected"`
	ConnID         string    `json:"conn_id,omitempty"`
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	RTTMillis      float64   `json:"rtt_ms,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	FailedAttempts int       `json:"failed_attempts,omitempty"`
}

// Status reports whether the tunnel is up and, if not, why the last attempt failed.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{FailedAttempts: c.attempts}
	if c.lastErr != nil {
		st.LastError = c.lastErr.Error()
	}
	if s := c.current; s != nil {
		st.Connected, st.ConnID, st.ConnectedSince = true, s.ID, s.Started.UTC()
		st.RTTMillis = float64(s.RTT().Microseconds()) / 1000
	}
	return st
}

// Do sends an HTTP request to the relay over the tunnel. While the tunnel is down or
// being replaced after a drain, it waits for the next session until the request's
// context ends, so a relay restart is a delay for callers, not an error.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for {
		c.mu.Lock()
		s, changed := c.current, c.changed
		c.mu.Unlock()
		if s != nil {
			if done, ok := s.track(); ok {
				resp, err := s.Client().Do(req)
				if err != nil {
					done()
					return nil, err
				}
				resp.Body = &trackedBody{ReadCloser: resp.Body, done: done}
				return resp, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("relay not connected: %w", context.Cause(ctx))
		}
	}
}

type trackedBody struct {
	io.ReadCloser
	done func()
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

// dial opens one session to the relay.
func (c *Client) dial(ctx context.Context) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	var batch *batchConn
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			conn, err := c.dialer.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			batch = &batchConn{Conn: conn}
			return batch, nil
		},
		// TLS is set up here rather than by the transport so that batching sits above it:
		// the relay then gets full-size TLS records instead of one per 4 KiB.
		DialTLSContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			conn, err := c.dialer.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(conn, c.dialer.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			batch = &batchConn{Conn: tc}
			return batch, nil
		},
	}
	defer transport.CloseIdleConnections()
	ws, resp, err := websocket.Dial(ctx, c.dialer.URL.String(), &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: transport},
		HTTPHeader:      c.cfg.Hello.Header(),
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, c.explainDialErr(err, resp)
	}
	s, err := newWSSession(ws, batch, batch.LocalAddr(), batch.RemoteAddr(), c.cfg.Mux, true, c.log)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	s.ID, s.Hello, s.onDrain = resp.Header.Get(HeaderConnectionID), c.cfg.Hello, c.onDrain
	s.log = c.log.With("conn_id", s.ID)
	return s, nil
}

// explainDialErr turns a failed upgrade into an error that says what to do.
func (c *Client) explainDialErr(err error, resp *http.Response) error {
	if resp != nil {
		body := ""
		if resp.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			body = strings.TrimSpace(string(b))
			resp.Body.Close()
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("relay refused the agent credential (401): re-enroll the agent or check its credential: %w", ErrUnauthorized)
		case http.StatusServiceUnavailable:
			return fmt.Errorf("relay unavailable (503): %s", body)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("relay answered the tunnel upgrade with %s: %s (is %s the relay, and does anything between rewrite websocket upgrades?)",
				resp.Status, body, c.dialer.URL.Redacted())
		}
	}
	return explainTLS(c.dialer.URL.Hostname(), err)
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
