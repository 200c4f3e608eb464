package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// Agents reaches the agents of connections through their tunnels. The relay implements
// it over the tunnel endpoint.
type Agents interface {
	// Client returns an HTTP client whose requests reach the agent, or an error
	// wrapping tunnel.ErrAgentOffline when the agent has no tunnel.
	Client(agentID string) (*http.Client, error)
	// Status describes the connection's agent, database and buffer. Circuit is
	// filled in by the API.
	Status(c store.Connection) ConnectionStatus
	// Disconnect closes the tunnel of a revoked agent.
	Disconnect(agentID string)
}

// Events receives what the API does that webhooks announce (job.completed).
type Events interface {
	Emit(ctx context.Context, accountID, eventType, connectionID string, data any) error
}

// Config configures the API.
type Config struct {
	Store  store.Store
	Agents Agents
	// Events, if set, is told about finished jobs.
	Events Events
	Logger *slog.Logger
	// CursorKey signs list cursors; at least 32 bytes.
	CursorKey []byte
	// EnrollmentTTL is how long an enrollment token stays valid. Default 24 h.
	EnrollmentTTL time.Duration
	// RateLimit is requests per second per API key (default 50), RateBurst the burst
	// (default 100).
	RateLimit float64
	RateBurst int
	// MaxBodyBytes bounds request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// AgentTimeout bounds each call through a tunnel. Default 30 s.
	AgentTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Extra registers more routes behind the same authentication and middleware
	// (webhooks, operations).
	Extra []func(*http.ServeMux)
	// Observe, if set, is told about every request once it is answered: the ServeMux
	// pattern of its route ("" when none matched), its status, and how long it took.
	Observe func(route string, status int, d time.Duration)
}

// API serves the public REST API.
type API struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	agents   Agents
	cursors  cursorCodec
	limiter  *limiter
	breakers *breakers
	handler  http.Handler
	keys     *ttlCache[Principal]        // by SHA-256 of the plain key
	conns    *ttlCache[store.Connection] // by account id and connection id
}

// New returns the API.
func New(cfg Config) (*API, error) {
	if len(cfg.CursorKey) < 32 {
		return nil, errors.New("api: cursor key must be at least 32 bytes")
	}
	if cfg.EnrollmentTTL <= 0 {
		cfg.EnrollmentTTL = 24 * time.Hour
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = 50
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = 100
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultBodyLimit
	}
	if cfg.AgentTimeout <= 0 {
		cfg.AgentTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, log: cfg.Logger, store: cfg.Store, agents: cfg.Agents,
		cursors:  cursorCodec{key: cfg.CursorKey},
		limiter:  newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.Now),
		breakers: newBreakers(cfg.Now),
		keys:     newTTLCache[Principal](cfg.Now),
		conns:    newTTLCache[store.Connection](cfg.Now),
	}
	a.handler = a.routes()
	return a, nil
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// EnrollHandler serves wire.EnrollPath: it needs no API key, only the token.
func (a *API) EnrollHandler() http.Handler {
	return a.base(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw, ok := w.(*statusWriter); ok {
			sw.route = wire.EnrollPath
		}
		a.enroll(w, r)
	}))
}

// routes builds the authenticated API.
func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				WriteError(w, r, a.log, err)
			}
		})
	}
	h("POST /v1/connections", a.createConnection)
	h("GET /v1/connections", a.listConnections)
	h("GET /v1/connections/{id}", a.getConnection)
	h("PATCH /v1/connections/{id}", a.updateConnection)
	h("DELETE /v1/connections/{id}", a.deleteConnection)
	h("POST /v1/connections/{id}/enrollment-tokens", a.createEnrollmentToken)
	h("GET /v1/connections/{id}/status", a.connectionStatus)
	h("GET /v1/connections/{id}/events", a.connectionEvents)
	h("GET /v1/connections/{id}/sync-status", a.syncStatus)
	h("POST /v1/connections/{id}/syncs", a.triggerSync)
	h("GET /v1/connections/{id}/remote-schema", a.remoteSchema)
	h("POST /v1/connections/{id}/passthrough", a.passthrough)
	h("GET /v1/connections/{id}/field-mappings", a.getMappings)
	h("PUT /v1/connections/{id}/field-mappings", a.putMappings)
	h("GET /v1/connections/{id}/field-mappings/{model}", a.getModelMapping)
	h("PUT /v1/connections/{id}/field-mappings/{model}", a.putModelMapping)
	h("PUT /v1/connections/{id}/custom-models/{name}", a.putCustomModel)
	h("DELETE /v1/connections/{id}/custom-models/{name}", a.deleteCustomModel)
	h("GET /v1/connections/{id}/custom/{name}", a.listCustom)
	h("GET /v1/connections/{id}/custom/{name}/{record_id}", a.getCustom)
	h("GET /v1/connections/{id}/{model}", a.listRecords)
	h("GET /v1/connections/{id}/{model}/{record_id}", a.getRecord)
	h("POST /v1/connections/{id}/{model}", a.createRecord)
	h("PATCH /v1/connections/{id}/{model}/{record_id}", a.updateRecord)
	h("POST /v1/connections/{id}/{model}/batch", a.batchWrite)
	h("POST /v1/connections/{id}/{model}/async", a.asyncWrite)
	h("GET /v1/jobs/{job_id}", a.getJob)
	for _, extra := range a.cfg.Extra {
		extra(mux)
	}
	// Anything else under /v1/ is a 404 or 405 in the API's error shape, not the mux's
	// text answers.
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, a.log, Errorf(CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return a.base(routeOf(mux, a.authenticate(a.rateLimit(methodErrors(mux)))))
}

// routeOf notes the pattern of the route a request matches for base, before anything
// can refuse the request, so that refusals count under their route too. The mux sets
// r.Pattern only on the request it serves, a copy that base never sees.
func routeOf(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sw, ok := w.(*statusWriter); ok {
			if _, p := mux.Handler(r); p != "/v1/" { // the fallback: no route of its own
				sw.route = p
			}
		}
		next.ServeHTTP(w, r)
	})
}

// base gives every request an id, recovers panics, and logs one line per request.
func (a *API) base(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		r = r.WithContext(WithRequestID(r.Context(), id))
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("api panic", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !sw.wrote {
					WriteError(sw, r, nil, Errorf(CodeInternal, "internal error; quote the request id when asking for help"))
				}
			}
			d := time.Since(start)
			a.log.Info("api request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "duration_ms", float64(d.Microseconds())/1000,
				"account_id", sw.accountID)
			if a.cfg.Observe != nil {
				a.cfg.Observe(sw.route, sw.status, d)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status    int
	wrote     bool
	accountID string
	route     string
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// methodErrors turns the mux's plain-text 405 into the API's error shape.
func methodErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// routeOf has matched the request already; only a request without a route of
		// its own needs the probe below.
		var pattern string
		if sw, ok := w.(*statusWriter); ok {
			pattern = sw.route
		} else {
			_, pattern = mux.Handler(r)
		}
		if pattern == "" || pattern == "/v1/" {
			// Only the fallback matched: a 405 if another method has a route for the
			// path, else the fallback's 404.
			if allow := allowedMethods(mux, r); allow != "" {
				w.Header().Set("Allow", allow)
				WriteError(w, r, nil, Errorf(CodeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow))
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// allowedMethods lists the methods that have a route for r's path.
func allowedMethods(mux *http.ServeMux, r *http.Request) string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); p != "" && !strings.HasSuffix(p, " /v1/") && p != "/v1/" {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}

// authenticate resolves the API key of every request.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || key == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="plantbridge"`)
			WriteError(w, r, a.log, Errorf(CodeAuthenticationFailed, "missing API key: send Authorization: Bearer <api key>"))
			return
		}
		key = strings.TrimSpace(key)
		sum := sha256.Sum256([]byte(key))
		p, ok := a.keys.get(string(sum[:]))
		if ok {
			if sw, ok := w.(*statusWriter); ok {
				sw.accountID = p.Account.ID
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
			return
		}
		k, acct, err := a.store.AuthenticateAPIKey(r.Context(), key)
		if errors.Is(err, store.ErrUnauthorized) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="plantbridge", error="invalid_token"`)
			WriteError(w, r, a.log, Errorf(CodeAuthenticationFailed, "the API key is unknown or revoked"))
			return
		}
		if err != nil {
			WriteError(w, r, a.log, err)
			return
		}
		if sw, ok := w.(*statusWriter); ok {
			sw.accountID = acct.ID
		}
		p = Principal{Account: acct, Key: k}
		a.keys.put(string(sum[:]), p)
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// principal returns the caller; the authenticate middleware guarantees one.
func principal(r *http.Request) Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}

// connection loads the caller's connection named in the path; another account's
// connection is NOT_FOUND like a missing one.
func (a *API) connection(r *http.Request) (store.Connection, error) {
	acct, id := principal(r).Account.ID, r.PathValue("id")
	if c, ok := a.conns.get(acct + "/" + id); ok {
		return c, nil
	}
	c, err := a.store.GetConnection(r.Context(), acct, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, Errorf(CodeNotFound, "no connection %q", id)
	}
	if err == nil {
		a.conns.put(acct+"/"+id, c)
	}
	return c, err
}

// forgetConnection drops a changed connection from the cache.
func (a *API) forgetConnection(c store.Connection) { a.conns.drop(c.AccountID + "/" + c.ID) }

// wireError turns an agent's error answer into an API error with the same code.
func wireError(e *wire.Error) *Error {
	out := Errorf(e.Code, "%s", e.Message)
	if len(e.Fields) > 0 {
		out.Details = map[string]any{"fields": e.Fields}
	}
	return out
}
