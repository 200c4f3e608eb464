package tunnel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Authenticator checks an agent's credential when it opens a tunnel.
type Authenticator interface {
	// AuthenticateAgent returns nil if secret is agentID's credential, ErrUnauthorized if
	// it is not, and any other error if it could not tell (the agent is asked to retry).
	AuthenticateAgent(ctx context.Context, agentID, secret string) error
}

// ErrUnauthorized means the relay did not accept the agent's credential.
var ErrUnauthorized = errors.New("agent credential not accepted")

// ErrAgentOffline means no tunnel from the agent is connected.
var ErrAgentOffline = errors.New("agent is not connected")

// controlPrefix is the path prefix of the tunnel's own calls (drain), answered by the
// tunnel before the application handler sees the request.
const controlPrefix = "/_tunnel/"

// EndpointConfig configures the relay's tunnel endpoint.
type EndpointConfig struct {
	// Auth checks agent credentials. Required.
	Auth Authenticator
	// Handler serves the agents' calls to the relay (sync uploads, status reports). The
	// calling session is available through SessionFrom(r.Context()).
	Handler http.Handler
	// Mux tunes the multiplexer; zero fields take their defaults.
	Mux MuxConfig
	// Logger receives structured logs; required.
	Logger *slog.Logger
	// OnEvent, if set, receives every connection event (after it is logged).
	OnEvent func(Event)
	// OnRTT, if set, receives the round trip of every keepalive ping of every agent.
	OnRTT func(agentID string, rtt time.Duration)
	// DrainTimeout bounds Drain when its context has no earlier deadline. Default 15 s.
	DrainTimeout time.Duration
}

// Endpoint is the relay side of the tunnel: an http.Handler for /v1/tunnel that
// authenticates agents, keeps one session per agent, and lets the relay call them.
type Endpoint struct {
	cfg EndpointConfig
	log *slog.Logger

	mu       sync.Mutex          // guards the fields below
	sessions map[string]*Session // by agent id
	draining bool

	wg sync.WaitGroup // one per session being served
}

// NewEndpoint returns an endpoint; serve it on the tunnel path.
func NewEndpoint(cfg EndpointConfig) *Endpoint {
	if cfg.Handler == nil {
		cfg.Handler = http.NotFoundHandler()
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 15 * time.Second
	}
	return &Endpoint{cfg: cfg, log: cfg.Logger, sessions: make(map[string]*Session)}
}

// ServeHTTP accepts one agent tunnel and serves it until it ends.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	remote := r.RemoteAddr
	hello, err := ParseHello(r.Header)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrNoCredential) {
			status = http.StatusUnauthorized
		}
		emit(e.log, e.cfg.OnEvent, Event{Kind: EventAuthFailed, AgentID: safeID(hello.AgentID), Remote: remote,
			Reason: ReasonAuthFailed, Detail: err.Error()})
		http.Error(w, "tunnel refused: "+err.Error(), status)
		return
	}
	if e.isDraining() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "relay is draining; reconnect", http.StatusServiceUnavailable)
		return
	}
	if err := e.cfg.Auth.AuthenticateAgent(r.Context(), hello.AgentID, hello.Secret); err != nil {
		if errors.Is(err, ErrUnauthorized) {
			emit(e.log, e.cfg.OnEvent, Event{Kind: EventAuthFailed, AgentID: hello.AgentID, Remote: remote,
				Reason: ReasonAuthFailed, Detail: "credential not accepted", Version: hello.Version, Hostname: hello.Hostname})
			http.Error(w, "tunnel refused: agent credential not accepted", http.StatusUnauthorized)
			return
		}
		e.log.Error("tunnel auth check", "agent_id", hello.AgentID, "remote_addr", remote, "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "relay cannot check credentials right now; retry", http.StatusServiceUnavailable)
		return
	}

	connID := newConnID()
	w.Header().Set(HeaderConnectionID, connID)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		e.log.Warn("tunnel upgrade", "agent_id", hello.AgentID, "remote_addr", remote, "err", err)
		return
	}
	log := e.log.With("agent_id", hello.AgentID, "conn_id", connID)
	s, err := newWSSession(ws, nil, localAddr(r), addr(remote), e.cfg.Mux, false, log)
	if err != nil {
		log.Error("tunnel session", "err", err)
		ws.CloseNow()
		return
	}
	s.ID, s.Hello = connID, hello

	old, ok := e.register(s)
	if !ok {
		s.closeWith(ReasonRelayDrain, "", true)
		return
	}
	e.wg.Add(1)
	defer e.wg.Done()
	emit(e.log, e.cfg.OnEvent, Event{Kind: EventConnect, AgentID: hello.AgentID, ConnID: connID, Remote: remote,
		Version: hello.Version, Hostname: hello.Hostname, OS: hello.OS})
	if old != nil {
		log.Warn("tunnel replaces older session of the same agent", "old_conn_id", old.ID,
			"old_remote_addr", old.Remote, "new_remote_addr", remote)
		go old.closeWith(ReasonReplaced, "replaced by connection "+connID, true)
	}

	var onRTT func(time.Duration)
	if e.cfg.OnRTT != nil {
		onRTT = func(rtt time.Duration) { e.cfg.OnRTT(hello.AgentID, rtt) }
	}
	go s.keepalive(onRTT)
	if err := s.Serve(e.cfg.Handler); err != nil {
		log.Warn("tunnel serve", "err", err)
	}
	<-s.Done()
	s.transport.CloseIdleConnections()
	e.unregister(s)
	reason, detail := s.Reason()
	emit(e.log, e.cfg.OnEvent, Event{Kind: EventDisconnect, AgentID: hello.AgentID, ConnID: connID, Remote: remote,
		Reason: reason, Detail: detail, RTT: s.RTT(), Duration: time.Since(s.Started)})
}

// register makes s the agent's current session and returns the one it replaces. It
// refuses while draining.
func (e *Endpoint) register(s *Session) (old *Session, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.draining {
		return nil, false
	}
	old = e.sessions[s.Hello.AgentID]
	e.sessions[s.Hello.AgentID] = s
	return old, true
}

func (e *Endpoint) unregister(s *Session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sessions[s.Hello.AgentID] == s {
		delete(e.sessions, s.Hello.AgentID)
	}
}

func (e *Endpoint) isDraining() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.draining
}

// Session returns the agent's current session.
func (e *Endpoint) Session(agentID string) (*Session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.sessions[agentID]; ok {
		return s, nil
	}
	return nil, ErrAgentOffline
}

// SessionInfo describes one connected agent.
type SessionInfo struct {
	AgentID        string    `json:"agent_id"`
	ConnID         string    `json:"conn_id"`
	Version        string    `json:"version"`
	Hostname       string    `json:"hostname"`
	OS             string    `json:"os"`
	RemoteAddr     string    `json:"remote_addr"`
	ConnectedSince time.Time `json:"connected_since"`
	LastSeenAt     time.Time `json:"last_seen_at"`
	RTTMillis      float64   `json:"rtt_ms"`
}

// Info describes the session.
func (s *Session) Info() SessionInfo {
	return SessionInfo{
		AgentID: s.Hello.AgentID, ConnID: s.ID, Version: s.Hello.Version, Hostname: s.Hello.Hostname,
		OS: s.Hello.OS, RemoteAddr: s.Remote, ConnectedSince: s.Started.UTC(), LastSeenAt: s.LastSeen().UTC(),
		RTTMillis: float64(s.RTT().Microseconds()) / 1000,
	}
}

// Sessions lists the connected agents, ordered by agent id.
func (e *Endpoint) Sessions() []SessionInfo {
	e.mu.Lock()
	list := make([]SessionInfo, 0, len(e.sessions))
	for _, s := range e.sessions {
		list = append(list, s.Info())
	}
	e.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].AgentID < list[j].AgentID })
	return list
}

// Disconnect closes the agent's session, for example because its credential was revoked.
func (e *Endpoint) Disconnect(agentID, reason string) {
	s, err := e.Session(agentID)
	if err != nil {
		return
	}
	s.closeWith(reason, "", true)
}

// Drain prepares the relay for shutdown: it refuses new tunnels, asks every agent to
// reconnect (to another replica, or to this relay once it is back), waits until the
// agents have left or the drain times out, and closes whatever remains. Agents finish
// their calls in flight before they leave, so nothing they send is lost.
func (e *Endpoint) Drain(ctx context.Context) {
	e.mu.Lock()
	e.draining = true
	sessions := make([]*Session, 0, len(e.sessions))
	for _, s := range e.sessions {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, e.cfg.DrainTimeout)
	defer cancel()
	e.log.Info("tunnel drain", "agents", len(sessions))
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := askToDrain(ctx, s); err != nil {
				e.log.Warn("tunnel drain request", "agent_id", s.Hello.AgentID, "conn_id", s.ID, "err", err)
			}
			select {
			case <-s.Done():
			case <-ctx.Done():
				s.closeWith(ReasonRelayDrain, "relay shutting down", true)
			}
		}()
	}
	wg.Wait()
	e.wg.Wait()
}

// Close ends every session at once and refuses new ones.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	e.draining = true
	sessions := make([]*Session, 0, len(e.sessions))
	for _, s := range e.sessions {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func() { defer wg.Done(); s.Close() }()
	}
	wg.Wait()
	e.wg.Wait()
	return nil
}

func askToDrain(ctx context.Context, s *Session) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+controlPrefix+"drain", nil)
	if err != nil {
		return err
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return errors.New("agent answered drain with " + resp.Status)
	}
	return nil
}

// controlHandler answers the tunnel's own calls and passes everything else to h. onDrain
// is nil on the relay, which never receives a drain.
func controlHandler(onDrain func(*Session), h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, controlPrefix) {
			h.ServeHTTP(w, r)
			return
		}
		s, ok := SessionFrom(r.Context())
		switch {
		case !ok || r.Method != http.MethodPost:
			http.NotFound(w, r)
		case r.URL.Path == controlPrefix+"bye":
			r.Body = http.MaxBytesReader(w, r.Body, 4096)
			s.heardBye(r.PostFormValue("reason"), r.PostFormValue("detail"))
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == controlPrefix+"drain" && onDrain != nil:
			w.WriteHeader(http.StatusNoContent)
			go onDrain(s)
		default:
			http.NotFound(w, r)
		}
	})
}

func newConnID() string {
	var b [8]byte
	rand.Read(b[:])
	return "conn_" + hex.EncodeToString(b[:])
}

// safeID returns id if it is fit for logs, or a placeholder.
func safeID(id string) string {
	if checkAgentID(id) != nil {
		return ""
	}
	return id
}

type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }

func localAddr(r *http.Request) net.Addr {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a
	}
	return addr("")
}
