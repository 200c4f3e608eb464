// Package webhooks tells API consumers about events as they happen
// (DESIGN.md §7): it queues events for the subscribed endpoints in the
// relay's store, delivers them signed per the Standard Webhooks
// specification, retries failures for about a day, logs every attempt, and
// serves the /v1/webhooks API.
//
// A Service is the one value the relay wires up: its Emit queues an event
// (the relay's event sources call it), its Run delivers what is due until
// stopped, and NewAPI serves the endpoints. Delivery is at least once: the
// webhook-id header is the event id on every attempt, so that receivers can
// drop duplicates. The queue is the store's, so events survive a restart,
// and with several relay replicas on one PostgreSQL database each due
// delivery is leased to one replica at a time.
package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
)

// Options configures a Service. The zero value delivers to public https
// URLs with the defaults of DESIGN.md §7.
type Options struct {
	// Logger receives delivery problems; discarded when nil.
	Logger *slog.Logger
	// Now is the clock for attempt times, retry times and the
	// webhook-timestamp header; time.Now when nil.
	Now func() time.Time

	// AllowHTTP accepts http:// URLs besides https://.
	AllowHTTP bool
	// AllowPrivate accepts targets in private ranges: RFC 1918, carrier-grade
	// NAT (100.64.0.0/10), IPv6 unique local.
	AllowPrivate bool
	// AllowLoopback accepts targets on 127.0.0.0/8, ::1 and localhost; for
	// the demo and tests.
	AllowLoopback bool
	// Resolver looks up host names when a URL is checked; net.DefaultResolver
	// when nil.
	Resolver Resolver

	// Timeout bounds one attempt: connecting, sending, and reading the
	// response. Default 10 s.
	Timeout time.Duration
	// Backoff is the retry schedule; DefaultBackoff when zero.
	Backoff Backoff
	// MaxConcurrent bounds the requests in flight at once. Default 128.
	MaxConcurrent int
	// MaxPerEndpoint bounds the requests in flight to one endpoint, so that
	// a slow receiver holds at most this many of the MaxConcurrent.
	// Default 4.
	MaxPerEndpoint int
	// LeaseFor is how long a claimed delivery is this relay's before
	// another replica may take it: long enough to wait for a slot of its
	// endpoint (at most Timeout), send (at most Timeout) and record the
	// attempt. Default 2×Timeout + 30 s; raised to that when lower.
	LeaseFor time.Duration
	// OnAttempt, if set, is told about every attempt: its outcome (success,
	// http_error, network_error or abandoned) and how long it took. The relay's
	// metrics count them.
	OnAttempt func(outcome string, d time.Duration)
	// PollInterval is how often the store is asked for due deliveries when
	// nothing wakes the dispatcher: retries coming due, and events queued
	// by other replicas. Default 1 s.
	PollInterval time.Duration
	// MaxResponseBody is how much of a response body is read. Default
	// 4 KiB; an excerpt of a failed response's body is logged with the
	// attempt.
	MaxResponseBody int64
	// DrainTimeout bounds how long Close waits for requests in flight
	// before abandoning them (their leases expire and they are sent
	// again). Default Timeout + 5 s.
	DrainTimeout time.Duration
	// UserAgent is sent with every request. Default "Plantbridge-Webhooks/1".
	UserAgent string
}

// Service emits and delivers webhooks. Create it with New.
type Service struct {
	st      store.Store
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	policy  targetPolicy
	client  *http.Client
	tr      *http.Transport
	wake    chan struct{} // buffered 1: a pending wake-up is enough
	stop    chan struct{} // closed by Close
	stopped sync.Once

	mu sync.Mutex // guards the fields below
	// running is set by Run and done closed when it returns.
	running bool
	done    chan struct{}
	// busy counts each endpoint's deliveries claimed and not yet recorded;
	// waiting holds those of them that wait for one of the endpoint's
	// MaxPerEndpoint slots.
	busy    map[string]int
	waiting map[string][]store.Delivery
	// inFlight counts all claimed deliveries not yet recorded.
	inFlight int
	rnd      *rand.Rand
}

// Emitter queues events; *Service is one. Event sources take an Emitter so
// that their tests can record events without a store.
type Emitter interface {
	Emit(ctx context.Context, e Event) (string, error)
}

// Event is an event to deliver.
type Event struct {
	AccountID string
	// Type is one of the Event… constants.
	Type string
	// ConnectionID is the connection the event is about; empty for events
	// about the account, which reach only endpoints subscribed to all
	// connections.
	ConnectionID string
	// Data is the event's data: the …Data struct of its type, or anything
	// that encodes to a JSON object. Nil is {}.
	Data any
}

// New returns a Service over st. It delivers nothing until Run.
func New(st store.Store, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 128
	}
	if opts.MaxPerEndpoint <= 0 {
		opts.MaxPerEndpoint = 4
	}
	opts.MaxPerEndpoint = min(opts.MaxPerEndpoint, opts.MaxConcurrent)
	opts.LeaseFor = max(opts.LeaseFor, 2*opts.Timeout+30*time.Second)
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.MaxResponseBody <= 0 {
		opts.MaxResponseBody = 4 << 10
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = opts.Timeout + 5*time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "Plantbridge-Webhooks/1"
	}
	s := &Service{
		st:      st,
		opts:    opts,
		log:     opts.Logger,
		now:     opts.Now,
		policy:  targetPolicy{allowHTTP: opts.AllowHTTP, allowPrivate: opts.AllowPrivate, allowLoopback: opts.AllowLoopback},
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		busy:    make(map[string]int),
		waiting: make(map[string][]store.Delivery),
		rnd:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	s.tr = s.transport()
	s.client = &http.Client{
		Transport: s.tr,
		Timeout:   opts.Timeout,
		// Following a redirect would send the event to a URL nobody
		// subscribed, and maybe into the relay's network; the
		// specification counts a 3xx as a failure.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// transport makes the HTTP transport of deliveries. It has no proxy: one
// from the environment would make the connections instead of the dialer
// whose Control checks each target address, and would see every event.
func (s *Service) transport() *http.Transport {
	d := &net.Dialer{Timeout: s.opts.Timeout, KeepAlive: 30 * time.Second, Control: s.policy.control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   s.opts.Timeout,
		ResponseHeaderTimeout: s.opts.Timeout,
		// Idle connections are kept per endpoint, not in a shared pool that
		// many endpoints would churn.
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: s.opts.MaxPerEndpoint,
		IdleConnTimeout:     90 * time.Second,
		// Receivers answer small bodies; asking for gzip only costs them.
		DisableCompression: true,
	}
}

// CheckURL checks a webhook URL against the options: scheme, form, and
// the addresses its host resolves to now. A refusal is a *TargetError.
func (s *Service) CheckURL(ctx context.Context, raw string) error {
	return s.policy.checkURL(ctx, s.opts.Resolver, raw)
}

// ErrUnknownEventType is returned by Emit and SendTest for a type that is
// not one of the Event… constants.
var ErrUnknownEventType = errors.New("unknown event type")

// Emit queues an event for every enabled endpoint of the account that
// subscribes to its type and connection, and wakes the dispatcher. It
// returns the event id, which is the webhook-id of its deliveries.
func (s *Service) Emit(ctx context.Context, e Event) (string, error) {
	if !KnownEventType(e.Type) {
		return "", fmt.Errorf("emit %s: %w", e.Type, ErrUnknownEventType)
	}
	data, err := encodeData(e.Data)
	if err != nil {
		return "", fmt.Errorf("emit %s: %w", e.Type, err)
	}
	ev, n, err := s.st.EnqueueDeliveries(ctx, store.NewWebhookEvent{AccountID: e.AccountID, Type: e.Type,
		ConnectionID: e.ConnectionID, Payload: data})
	if err != nil {
		return "", fmt.Errorf("emit %s: %w", e.Type, err)
	}
	if n > 0 {
		s.Wake()
	}
	return ev.ID, nil
}

// ErrEndpointDisabled is returned by SendTest for a disabled endpoint, whose
// deliveries wait until it is enabled.
var ErrEndpointDisabled = errors.New("webhook endpoint is disabled")

// SendTest queues a sample event of the given type (its example data) for
// one endpoint, whatever its subscriptions, through the same queue, signing
// and log as real events. It returns the queued event.
func (s *Service) SendTest(ctx context.Context, accountID, endpointID, eventType string) (store.WebhookEvent, error) {
	example, ok := exampleData(eventType)
	if !ok {
		return store.WebhookEvent{}, fmt.Errorf("send test %s: %w", eventType, ErrUnknownEventType)
	}
	ep, err := s.st.GetWebhookEndpoint(ctx, accountID, endpointID)
	if err != nil {
		return store.WebhookEvent{}, fmt.Errorf("send test: %w", err)
	}
	if !ep.Enabled {
		return store.WebhookEvent{}, fmt.Errorf("send test: %w", ErrEndpointDisabled)
	}
	data, err := encodeData(example)
	if err != nil {
		return store.WebhookEvent{}, fmt.Errorf("send test: %w", err)
	}
	ev, _, err := s.st.EnqueueDeliveries(ctx, store.NewWebhookEvent{AccountID: accountID, Type: eventType,
		Payload: data, EndpointID: endpointID})
	if err != nil {
		return store.WebhookEvent{}, fmt.Errorf("send test: %w", err)
	}
	s.Wake()
	return ev, nil
}

// Wake makes the dispatcher look for due deliveries now instead of at its
// next poll.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
