package tunnel

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/yamux"
)

// Disconnect reasons, as logged and stored with connection events.
const (
	ReasonAgentClosed      = "agent_closed"
	ReasonRelayClosed      = "relay_closed"
	ReasonKeepaliveTimeout = "keepalive_timeout"
	ReasonRelayDrain       = "relay_drain"
	ReasonReplaced         = "replaced"
	ReasonRevoked          = "revoked"
	ReasonAuthFailed       = "auth_failed"
	ReasonNetwork          = "network_error"
)

// ErrSessionClosed is returned for calls on a session that has ended.
var ErrSessionClosed = errors.New("tunnel session closed")

// Session is one agent⇄relay tunnel: a websocket carrying yamux streams, each stream one
// HTTP/1.1 connection. Either side calls the other with Client and serves the other's
// calls with Serve.
type Session struct {
	// ID is the connection id assigned by the relay.
	ID string
	// Hello is what the agent said about itself.
	Hello Hello
	// Remote is the peer's address as this side sees it.
	Remote string
	// Started is when the session was established.
	Started time.Time

	ws        *wsConn // the websocket below, nil when the tunnel runs over a plain conn
	mux       *yamux.Session
	cfg       MuxConfig
	log       *slog.Logger
	transport *http.Transport
	client    *http.Client
	isAgent   bool
	onDrain   func(*Session) // the agent's reaction to a drain request; nil on the relay

	rtt      atomic.Int64 // last measured round trip, in nanoseconds
	lastSeen atomic.Int64 // unix nanoseconds of the last answered ping

	mu         sync.Mutex    // guards the fields below
	reason     string        // why this side closed the session, "" if it did not
	peerReason string        // why the peer said it was closing, "" if it did not
	peerDetail string        // the peer's words with its reason
	serveErr   error         // why serving the peer's calls stopped, if not a clean end
	draining   bool          // no new outgoing calls
	inflight   int           // outgoing calls in progress
	idle       chan struct{} // closed when draining and inflight reaches zero
}

// newWSSession runs a session over a websocket. batch is the network conn below a client
// websocket, nil on the relay.
func newWSSession(ws *websocket.Conn, batch *batchConn, local, remote net.Addr, cfg MuxConfig, isAgent bool, log *slog.Logger) (*Session, error) {
	cfg = cfg.withDefaults()
	c := newWSConn(ws, local, remote, cfg.readLimit())
	c.batch = batch
	return newSession(c, cfg, isAgent, log)
}

// newSession runs a session over conn. The product always uses a websocket; other conns
// serve to test the session over pipes, TCP and TLS.
func newSession(conn net.Conn, cfg MuxConfig, isAgent bool, log *slog.Logger) (*Session, error) {
	cfg = cfg.withDefaults()
	var (
		mux *yamux.Session
		err error
	)
	if isAgent {
		mux, err = yamux.Client(conn, cfg.yamuxConfig(log))
	} else {
		mux, err = yamux.Server(conn, cfg.yamuxConfig(log))
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	ws, _ := conn.(*wsConn)
	s := &Session{
		Remote:  conn.RemoteAddr().String(),
		ws:      ws,
		Started: time.Now(),
		mux:     mux,
		cfg:     cfg,
		log:     log,
		isAgent: isAgent,
	}
	s.lastSeen.Store(s.Started.UnixNano())
	s.transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if s.isDraining() {
				return nil, ErrSessionClosed
			}
			return s.mux.Open()
		},
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		// Compression would only cost CPU: the payloads are already small or are
		// compressed by the caller, and the link is the websocket.
		DisableCompression: true,
	}
	s.client = &http.Client{Transport: s.transport}
	return s, nil
}

// Client returns an HTTP client whose requests travel over this session to the peer's
// handler. The URL's host is ignored.
func (s *Session) Client() *http.Client { return s.client }

// Serve answers the peer's HTTP calls with h until the session ends. The tunnel's own
// calls (goodbye, drain) are answered before h sees them.
func (s *Session) Serve(h http.Handler) error {
	srv := &http.Server{
		Handler:           controlHandler(s.onDrain, h),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return withSession(context.Background(), s) },
	}
	err := srv.Serve(s.mux)
	if errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	s.mu.Lock()
	s.serveErr = err
	s.mu.Unlock()
	return err
}

// keepalive pings the peer every interval, recording the round trip, and closes the
// session when a ping goes unanswered. It returns when the session ends.
func (s *Session) keepalive(onRTT func(time.Duration)) {
	t := time.NewTimer(0) // first ping at once, so the RTT is known right after connect
	defer t.Stop()
	for {
		select {
		case <-s.Done():
			return
		case <-t.C:
		}
		rtt, err := s.mux.Ping()
		switch {
		case err == nil:
			s.rtt.Store(int64(rtt))
			s.lastSeen.Store(time.Now().UnixNano())
			if onRTT != nil {
				onRTT(rtt)
			}
		case errors.Is(err, yamux.ErrSessionShutdown):
			return
		default:
			// No answer in time, or the ping could not even be queued because writes are
			// stuck (yamux's ErrConnectionWriteTimeout): either way the path is dead.
			s.log.Warn("tunnel keepalive timeout", "conn_id", s.ID, "agent_id", s.Hello.AgentID,
				"timeout", s.cfg.KeepAliveTimeout, "err", err)
			s.closeWith(ReasonKeepaliveTimeout, "", false)
			return
		}
		t.Reset(s.cfg.KeepAliveInterval)
	}
}

// RTT returns the last measured round-trip time, or 0 before the first ping.
func (s *Session) RTT() time.Duration { return time.Duration(s.rtt.Load()) }

// LastSeen returns when the peer last answered a ping (or the session start).
func (s *Session) LastSeen() time.Time { return time.Unix(0, s.lastSeen.Load()) }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.mux.CloseChan() }

// Close ends the session from this side.
func (s *Session) Close() error {
	if s.isAgent {
		s.closeWith(ReasonAgentClosed, "", true)
	} else {
		s.closeWith(ReasonRelayClosed, "", true)
	}
	return nil
}

// byeTimeout bounds telling the peer why the session ends; a peer that does not answer
// in that time is probably gone anyway.
const byeTimeout = time.Second

// closeWith records reason as this side's reason for ending the session, tells the peer
// (unless it is known to be unresponsive), and tears the session down. Only the first
// reason counts, and none once the session has already ended.
func (s *Session) closeWith(reason, detail string, tellPeer bool) {
	s.mu.Lock()
	first := s.reason == "" && !s.mux.IsClosed()
	if first {
		s.reason = reason
	}
	s.mu.Unlock()
	if !first {
		<-s.Done()
		return
	}
	if tellPeer {
		s.sayBye(reason, detail)
	}
	s.mux.Close()
	// Pooled idle streams died with the session; dropping them frees their goroutines.
	s.transport.CloseIdleConnections()
	<-s.Done()
}

// sayBye tells the peer why this side is closing. Doing it inside the tunnel rather than
// with a websocket close frame keeps Close prompt (no closing handshake to wait for) and
// works the same over every transport.
func (s *Session) sayBye(reason, detail string) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	form := url.Values{"reason": {reason}, "detail": {detail}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://peer"+controlPrefix+"bye",
		strings.NewReader(form.Encode()))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Straight to the transport: a draining session refuses new calls through Client.
	st, err := s.mux.Open()
	if err != nil {
		return
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(byeTimeout))
	if err := req.Write(st); err != nil {
		return
	}
	if resp, err := http.ReadResponse(bufio.NewReader(st), req); err == nil {
		resp.Body.Close()
	}
}

// heardBye records the reason the peer gave for closing.
func (s *Session) heardBye(reason, detail string) {
	if !knownReasons[reason] {
		reason = ReasonNetwork
	}
	if len(detail) > 200 {
		detail = detail[:200]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peerReason == "" {
		s.peerReason, s.peerDetail = reason, detail
	}
}

var knownReasons = map[string]bool{
	ReasonAgentClosed: true, ReasonRelayClosed: true, ReasonKeepaliveTimeout: true, ReasonRelayDrain: true,
	ReasonReplaced: true, ReasonRevoked: true,
}

// Reason says why the session ended: this side's reason if it closed the session,
// otherwise the reason the peer gave, otherwise a network failure. The second result is
// a detail: the peer's words or the network error.
func (s *Session) Reason() (reason string, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.reason != "":
		return s.reason, ""
	case s.peerReason != "":
		return s.peerReason, s.peerDetail
	}
	if s.ws != nil {
		if err := s.ws.ReadErr(); err != nil && !errors.Is(err, io.EOF) {
			return ReasonNetwork, err.Error()
		}
	}
	if s.serveErr != nil {
		return ReasonNetwork, s.serveErr.Error()
	}
	return ReasonNetwork, "connection lost without a goodbye"
}

// track counts an outgoing call so that a drain can wait for it. It returns false when
// the session is draining or closed and must not take new calls. done is safe to call
// more than once.
func (s *Session) track() (done func(), ok bool) {
	select {
	case <-s.Done():
		return nil, false
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, false
	}
	s.inflight++
	var once sync.Once
	return func() { once.Do(s.untrack) }, true
}

func (s *Session) untrack() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

func (s *Session) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// startDrain stops the session from taking new outgoing calls and returns a channel that
// is closed once the calls in flight have finished.
func (s *Session) startDrain() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	ch := make(chan struct{})
	if s.inflight == 0 {
		close(ch)
	} else if s.idle != nil {
		ch = s.idle
	} else {
		s.idle = ch
	}
	return ch
}

type sessionKey struct{}

func withSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFrom returns the tunnel session that carried an incoming request, if any.
func SessionFrom(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*Session)
	return s, ok
}

// keepaliveWS is the agent's keepalive: the session ping plus a websocket ping, which
// proxies and load balancers that only look at websocket frames count as activity.
func (s *Session) keepaliveWS() {
	s.keepalive(func(time.Duration) {
		if s.ws == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.KeepAliveTimeout)
		defer cancel()
		if err := s.ws.ws.Ping(ctx); err != nil {
			s.log.Debug("websocket ping", "conn_id", s.ID, "err", err)
		}
	})
}
