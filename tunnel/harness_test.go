package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/logtest"
)

// staticAuth accepts the agents it lists.
type staticAuth map[string]string

func (a staticAuth) AuthenticateAgent(_ context.Context, id, secret string) error {
	if want, ok := a[id]; ok && want == secret {
		return nil
	}
	return ErrUnauthorized
}

// events records connection events for assertions.
type events struct {
	mu   sync.Mutex // guards list
	list []Event
}

func (r *events) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, e)
}

func (r *events) find(kind EventKind, reason string) (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.list {
		if e.Kind == kind && (reason == "" || e.Reason == reason) {
			return e, true
		}
	}
	return Event{}, false
}

func (r *events) count(kind EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.list {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testRelay is a relay tunnel endpoint on a real loopback listener.
type testRelay struct {
	ep     *Endpoint
	srv    *http.Server
	addr   string
	events *events
	done   chan struct{}
}

func (r *testRelay) url() string { return "ws://" + r.addr }

// startRelay serves an endpoint on addr ("127.0.0.1:0" for any port). The relay's own
// handler answers "relay <name>: <path>".
func startRelay(t testing.TB, addr, name string, mux MuxConfig, auth Authenticator) *testRelay {
	t.Helper()
	var ln net.Listener
	var err error
	// A restarted relay may need a moment for its old port to be free.
	waitFor(t, 5*time.Second, "listen on "+addr, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	r := &testRelay{addr: ln.Addr().String(), events: &events{}, done: make(chan struct{})}
	r.ep = NewEndpoint(EndpointConfig{
		Auth: auth,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			s, _ := SessionFrom(req.Context())
			io.Copy(io.Discard, req.Body)
			fmt.Fprintf(w, "relay %s: %s from %s", name, req.URL.Path, s.Hello.AgentID)
		}),
		Mux:          mux,
		Logger:       logtest.New(t).With("relay", name),
		OnEvent:      r.events.add,
		DrainTimeout: 5 * time.Second,
	})
	mx := http.NewServeMux()
	mx.Handle(TunnelPath, r.ep)
	r.srv = &http.Server{Handler: mx}
	go func() {
		defer close(r.done)
		r.srv.Serve(ln)
	}()
	t.Cleanup(r.stop)
	return r
}

// stop closes the relay abruptly (sessions are closed, not drained).
func (r *testRelay) stop() {
	r.srv.Close()
	r.ep.Close()
	<-r.done
}

// testAgent is a running tunnel client.
type testAgent struct {
	c      *Client
	events *events
	cancel context.CancelFunc
	done   chan struct{}
}

type agentOpts struct {
	id, secret string
	proxy      string
	caFile     string
	mux        MuxConfig
	handler    http.Handler
}

func startAgent(t testing.TB, relayURL string, o agentOpts) *testAgent {
	t.Helper()
	if o.id == "" {
		o.id = "agent-1"
	}
	if o.secret == "" {
		o.secret = "s3cret"
	}
	if o.handler == nil {
		o.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "agent %s: %s", o.id, r.URL.Path)
		})
	}
	a := &testAgent{events: &events{}, done: make(chan struct{})}
	c, err := NewClient(ClientConfig{
		Dialer:           DialerConfig{RelayURL: relayURL, Proxy: o.proxy, CAFile: o.caFile},
		Hello:            Hello{AgentID: o.id, Secret: o.secret, Version: "test", Hostname: "plant-host", OS: "linux"},
		Handler:          o.handler,
		Mux:              o.mux,
		Backoff:          Backoff{Base: 50 * time.Millisecond, Cap: 300 * time.Millisecond},
		HandshakeTimeout: 3 * time.Second,
		Logger:           logtest.New(t).With("agent", o.id),
		OnEvent:          a.events.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.c = c
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() {
		defer close(a.done)
		c.Run(ctx)
	}()
	t.Cleanup(a.stop)
	return a
}

func (a *testAgent) stop() {
	a.cancel()
	<-a.done
}

// call makes one agent→relay request and returns the body.
func (a *testAgent) call(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://relay"+path, strings.NewReader("batch"))
	if err != nil {
		return "", err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s: %s", resp.Status, b)
	}
	return string(b), nil
}

// callAgent makes one relay→agent request.
func (r *testRelay) callAgent(ctx context.Context, agentID, path string) (string, error) {
	s, err := r.ep.Session(agentID)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (r *testRelay) connected(agentID string) bool {
	_, err := r.ep.Session(agentID)
	return err == nil
}

// faultProxy is a TCP forwarder that a test can freeze (traffic stops, connections stay
// open: a half-open path, as a dead NAT entry leaves it) or point at another backend.
type faultProxy struct {
	ln     net.Listener
	target atomic.Value // string
	frozen atomic.Bool

	mu     sync.Mutex // guards conns and thaw
	conns  []net.Conn
	thaw   chan struct{} // closed when traffic may flow again
	wg     sync.WaitGroup
	closed atomic.Bool
}

func startFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, thaw: make(chan struct{})}
	close(p.thaw)
	p.target.Store(target)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) setTarget(addr string) { p.target.Store(addr) }

func (p *faultProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen.CompareAndSwap(false, true) {
		p.thaw = make(chan struct{})
	}
}

func (p *faultProxy) unfreeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen.CompareAndSwap(true, false) {
		close(p.thaw)
	}
}

// dropAll closes every forwarded connection, as a restarting firewall would.
func (p *faultProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target.Load().(string))
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *faultProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		// Hold the bytes while frozen, and the close too: a dead NAT entry passes
		// neither data nor a FIN/RST.
		p.mu.Lock()
		thaw := p.thaw
		p.mu.Unlock()
		<-thaw
		if p.closed.Load() {
			dst.Close()
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				dst.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *faultProxy) close() {
	p.closed.Store(true)
	p.ln.Close()
	p.unfreeze()
	p.dropAll()
	p.wg.Wait()
}
