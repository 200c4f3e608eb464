package tunnel

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
)

var auth = staticAuth{"agent-1": "s3cret", "agent-2": "other"}

func TestTunnelEndToEnd(t *testing.T) {
	leaktest.Check(t)
	relay := startRelay(t, "127.0.0.1:0", "a", MuxConfig{}, auth)
	agent := startAgent(t, relay.url(), agentOpts{})
	ctx := context.Background()

	got, err := agent.call(ctx, "/v1/batches")
	if err != nil || got != "relay a: /v1/batches from agent-1" {
		t.Fatalf("agent→relay = %q, %v", got, err)
	}
	got, err = relay.callAgent(ctx, "agent-1", "/v1/sync")
	if err != nil || got != "agent agent-1: /v1/sync" {
		t.Fatalf("relay→agent = %q, %v", got, err)
	}
	waitFor(t, 5*time.Second, "an RTT measurement", func() bool {
		l := relay.ep.Sessions()
		return len(l) == 1 && l[0].RTTMillis > 0
	})
	info := relay.ep.Sessions()[0]
	if info.AgentID != "agent-1" || info.Version != "test" || info.Hostname != "plant-host" || info.OS != "linux" {
		t.Errorf("session info = %+v", info)
	}
	st := agent.c.Status()
	if !st.Connected || st.ConnID != info.ConnID || !strings.HasPrefix(st.ConnID, "conn_") {
		t.Errorf("agent status %+v, relay conn id %s", st, info.ConnID)
	}
	if _, ok := relay.events.find(EventConnect, ""); !ok {
		t.Error("no connect event on the relay")
	}

	agent.stop()
	waitFor(t, 5*time.Second, "relay to see the agent leave", func() bool { return !relay.connected("agent-1") })
	if _, ok := relay.events.find(EventDisconnect, ReasonAgentClosed); !ok {
		t.Errorf("relay events %+v lack disconnect/agent_closed", relay.events.list)
	}
}

func TestTunnelAuth(t *testing.T) {
	leaktest.Check(t)
	relay := startRelay(t, "127.0.0.1:0", "a", MuxConfig{}, auth)

	t.Run("wrong secret", func(t *testing.T) {
		agent := startAgent(t, relay.url(), agentOpts{secret: "wrong"})
		waitFor(t, 5*time.Second, "auth_failed on both sides", func() bool {
			_, a := agent.events.find(EventAuthFailed, "")
			_, r := relay.events.find(EventAuthFailed, ReasonAuthFailed)
			return a && r
		})
		if relay.connected("agent-1") {
			t.Error("a session exists for a refused agent")
		}
		if st := agent.c.Status(); st.Connected || !strings.Contains(st.LastError, "credential") {
			t.Errorf("agent status %+v", st)
		}
	})

	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"missing credential", http.Header{HeaderAgentID: {"agent-1"}}, http.StatusUnauthorized},
		{"unknown agent", Hello{AgentID: "nobody", Secret: "x"}.Header(), http.StatusUnauthorized},
		{"bad agent id", Hello{AgentID: "a b/c", Secret: "x"}.Header(), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := websocket.Dial(context.Background(), relay.url()+TunnelPath,
				&websocket.DialOptions{HTTPHeader: tc.header})
			if err == nil {
				t.Fatal("upgrade succeeded")
			}
			if resp == nil || resp.StatusCode != tc.want {
				t.Fatalf("response %v, want status %d", resp, tc.want)
			}
		})
	}
}

func TestTunnelRelayRestart(t *testing.T) {
	leaktest.Check(t)
	relay := startRelay(t, "127.0.0.1:0", "a", MuxConfig{}, auth)
	addr := relay.addr
	agent := startAgent(t, relay.url(), agentOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := agent.call(ctx, "/x"); err != nil {
		t.Fatal(err)
	}

	relay.stop()
	waitFor(t, 5*time.Second, "agent to notice", func() bool { return !agent.c.Status().Connected })
	// A call made while the relay is away waits for it instead of failing.
	result := make(chan error, 1)
	go func() {
		_, err := agent.call(ctx, "/during-outage")
		result <- err
	}()
	waitFor(t, 5*time.Second, "reconnect attempts", func() bool { return agent.events.count(EventConnectFailed) >= 2 })

	relay2 := startRelay(t, addr, "b", MuxConfig{}, auth)
	if err := <-result; err != nil {
		t.Fatalf("call during outage: %v", err)
	}
	waitFor(t, 5*time.Second, "agent back", func() bool { return relay2.connected("agent-1") })
	if e, ok := agent.events.find(EventDisconnect, ""); !ok || e.Reason != ReasonRelayClosed {
		t.Errorf("agent disconnect event = %+v", e)
	}
}

// TestTunnelDrain drains relay A while an agent keeps calling the relay; behind the
// "load balancer" the agent lands on relay B, and no call fails.
func TestTunnelDrain(t *testing.T) {
	leaktest.Check(t)
	a := startRelay(t, "127.0.0.1:0", "a", MuxConfig{}, auth)
	b := startRelay(t, "127.0.0.1:0", "b", MuxConfig{}, auth)
	lb := startFaultProxy(t, a.addr)
	agent := startAgent(t, "ws://"+lb.addr(), agentOpts{})
	waitFor(t, 5*time.Second, "agent on A", func() bool { return a.connected("agent-1") })

	ctx, cancel := context.WithCancel(context.Background())
	var calls, failures atomic.Int64
	var servedByB atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				got, err := agent.call(cctx, "/upload")
				ccancel()
				if ctx.Err() != nil {
					return
				}
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("call during drain: %v", err)
				}
				if strings.HasPrefix(got, "relay b") {
					servedByB.Store(true)
				}
			}
		}()
	}
	waitFor(t, 5*time.Second, "calls flowing", func() bool { return calls.Load() > 20 })
	lb.setTarget(b.addr)
	a.ep.Drain(context.Background())
	waitFor(t, 10*time.Second, "calls served by B", servedByB.Load)
	cancel()
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed during the drain", failures.Load(), calls.Load())
	}
	if !b.connected("agent-1") || a.connected("agent-1") {
		t.Error("agent should be on B only")
	}
	if _, ok := a.events.find(EventDisconnect, ReasonRelayDrain); !ok {
		t.Errorf("relay A events lack disconnect/relay_drain: %+v", a.events.list)
	}
	t.Logf("%d calls, none failed", calls.Load())
}

// TestTunnelHalfOpen freezes the path between agent and relay without closing it. Both
// sides must notice within the keepalive bound, and the agent must come back once the
// path works again.
func TestTunnelHalfOpen(t *testing.T) {
	leaktest.Check(t)
	mux := MuxConfig{KeepAliveInterval: 200 * time.Millisecond, KeepAliveTimeout: 500 * time.Millisecond}
	relay := startRelay(t, "127.0.0.1:0", "a", mux, auth)
	fp := startFaultProxy(t, relay.addr)
	agent := startAgent(t, "ws://"+fp.addr(), agentOpts{mux: mux})
	// Both sides: the relay registers the session before its handshake answer reaches
	// the agent, and a freeze in between would leave the agent merely failing to dial.
	waitFor(t, 5*time.Second, "connected", func() bool {
		return relay.connected("agent-1") && agent.c.Status().Connected
	})

	fp.freeze()
	frozenAt := time.Now()
	// Bound: one interval plus one timeout, with slack for a loaded machine.
	bound := 10 * (mux.KeepAliveInterval + mux.KeepAliveTimeout)
	waitFor(t, bound, "both sides to detect the dead path", func() bool {
		_, r := relay.events.find(EventDisconnect, ReasonKeepaliveTimeout)
		_, a := agent.events.find(EventDisconnect, ReasonKeepaliveTimeout)
		return r && a
	})
	t.Logf("dead path detected after %v", time.Since(frozenAt).Round(time.Millisecond))
	fp.unfreeze()
	fp.dropAll()
	waitFor(t, 10*time.Second, "agent back", func() bool { return relay.connected("agent-1") })
	if _, err := agent.call(context.Background(), "/after"); err != nil {
		t.Fatal(err)
	}
}

func TestTunnelReplace(t *testing.T) {
	leaktest.Check(t)
	relay := startRelay(t, "127.0.0.1:0", "a", MuxConfig{}, auth)
	first := startAgent(t, relay.url(), agentOpts{})
	waitFor(t, 5*time.Second, "first connected", func() bool { return first.c.Status().Connected })
	firstConn := first.c.Status().ConnID

	second := startAgent(t, relay.url(), agentOpts{})
	waitFor(t, 5*time.Second, "first told it was replaced", func() bool {
		_, ok := first.events.find(EventDisconnect, ReasonReplaced)
		return ok
	})
	first.stop() // or the two would keep replacing each other
	waitFor(t, 5*time.Second, "second connected", func() bool { return second.c.Status().Connected })
	e, ok := relay.events.find(EventDisconnect, ReasonReplaced)
	if !ok || e.ConnID != firstConn {
		t.Errorf("relay disconnect event %+v, want conn %s replaced", e, firstConn)
	}
	if s, _ := relay.ep.Session("agent-1"); s == nil || s.ID != second.c.Status().ConnID {
		t.Error("relay does not hold the newer session")
	}
}

// TestTunnelBadFrames sends what a broken or hostile peer might: text messages, garbage
// bytes, an oversized message. Each ends that session only.
func TestTunnelBadFrames(t *testing.T) {
	leaktest.Check(t)
	relay := startRelay(t, "127.0.0.1:0", "a", MuxConfig{StreamWindow: 1 << 20}, auth)
	startAgent(t, relay.url(), agentOpts{id: "agent-2", secret: "other"})
	waitFor(t, 5*time.Second, "good agent", func() bool { return relay.connected("agent-2") })

	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  []byte
	}{
		{"text message", websocket.MessageText, []byte("hello")},
		{"garbage", websocket.MessageBinary, []byte("\xff\xfe not a yamux frame at all")},
		{"oversized", websocket.MessageBinary, make([]byte, 3<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, relay.url()+TunnelPath,
				&websocket.DialOptions{HTTPHeader: Hello{AgentID: "agent-1", Secret: "s3cret"}.Header()})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			waitFor(t, 5*time.Second, "session", func() bool { return relay.connected("agent-1") })
			ws.Write(ctx, tc.typ, tc.msg)
			waitFor(t, 5*time.Second, "relay to drop the session", func() bool { return !relay.connected("agent-1") })
		})
	}
	if _, err := relay.callAgent(context.Background(), "agent-2", "/still-fine"); err != nil {
		t.Fatalf("good agent affected: %v", err)
	}
}

// TestTunnelTLSInterception connects to a relay whose certificate comes from a CA the
// agent does not know, as behind a TLS-inspecting proxy.
func TestTunnelTLSInterception(t *testing.T) {
	leaktest.Check(t)
	ep := NewEndpoint(EndpointConfig{Auth: auth, Logger: logtest.New(t)})
	srv := httptest.NewUnstartedServer(ep)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); ep.Close() })
	url := "wss://" + srv.Listener.Addr().String()

	c, err := NewClient(ClientConfig{Dialer: DialerConfig{RelayURL: url}, Hello: Hello{AgentID: "agent-1", Secret: "s3cret"},
		Logger: logtest.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.dial(context.Background())
	var te *TLSError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "re-signs TLS") || !strings.Contains(err.Error(), "relay.ca_file") {
		t.Fatalf("dial error = %v, want a TLSError explaining interception", err)
	}

	// With the CA added, the same relay is trusted.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	// httptest's certificate is for example.com and 127.0.0.1.
	agent := startAgent(t, url, agentOpts{caFile: caFile})
	waitFor(t, 5*time.Second, "TLS tunnel", func() bool { return agent.c.Status().Connected })
	agent.stop()
}

func TestDialerConfig(t *testing.T) {
	for _, tc := range []struct {
		relay, proxy string
		wantURL      string
		wantErr      string
	}{
		{"wss://relay.example.com", "", "wss://relay.example.com/v1/tunnel", ""},
		{"https://relay.example.com:8443/", "", "wss://relay.example.com:8443/v1/tunnel", ""},
		{"ws://127.0.0.1:8080", "", "ws://127.0.0.1:8080/v1/tunnel", ""},
		{"ftp://relay", "", "", "scheme must be wss://"},
		{"", "", "", "empty"},
		{"wss://relay.example.com", "socks5://p:1080", "", "must be http://"},
	} {
		d, err := NewDialer(DialerConfig{RelayURL: tc.relay, Proxy: tc.proxy})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q/%q: err %v, want %q", tc.relay, tc.proxy, err, tc.wantErr)
			}
			continue
		}
		if err != nil || d.URL.String() != tc.wantURL {
			t.Errorf("%q: %v %v", tc.relay, d, err)
		}
	}
	// The environment's proxy applies unless NO_PROXY excludes the relay.
	t.Setenv("HTTPS_PROXY", "http://user:pw@proxy.plant.local:3128")
	t.Setenv("NO_PROXY", "internal.example.com")
	for relayURL, want := range map[string]string{
		"wss://relay.example.com":    "proxy.plant.local:3128",
		"wss://internal.example.com": "",
	} {
		p, err := proxyFor(mustURL(t, relayURL), "")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if p != nil {
			got = p.Host
		}
		if got != want {
			t.Errorf("proxy for %s = %q, want %q", relayURL, got, want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	b := Backoff{}
	prevCeiling := time.Duration(0)
	for i := range 12 {
		d := b.Next()
		ceiling := min(time.Second<<i, 60*time.Second)
		if d < ceiling/10 || d > ceiling {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, ceiling/10, ceiling)
		}
		if ceiling < prevCeiling {
			t.Fatal("ceiling shrank")
		}
		prevCeiling = ceiling
	}
	// A 10 s connection: the next ceiling is 8 s, the largest within 10 s.
	b.Connected(10 * time.Second)
	if b.attempt != 3 {
		t.Errorf("after a 10 s connection: attempt %d, want 3 (ceiling 8 s)", b.attempt)
	}
	if d := b.Next(); d < 800*time.Millisecond || d > 8*time.Second {
		t.Errorf("after a 10 s connection: delay %v outside [0.8 s, 8 s]", d)
	}
	// A connection dropped at once changes nothing: the delays keep growing.
	before := b.attempt
	b.Connected(100 * time.Millisecond)
	if b.attempt != before {
		t.Errorf("an instant drop moved the backoff from attempt %d to %d", before, b.attempt)
	}
	// A connection never raises the backoff.
	b.Reset()
	b.Next()
	b.Connected(30 * time.Second)
	if b.attempt != 1 {
		t.Errorf("a 30 s connection after one failure: attempt %d, want 1", b.attempt)
	}
	b.Connected(2 * time.Minute)
	if d := b.Next(); d > time.Second {
		t.Errorf("a stable connection did not reset the backoff: %v", d)
	}
}

func FuzzParseHello(f *testing.F) {
	f.Add("Bearer abc", "agent-1", "1.0.0", "host", "linux")
	f.Add("bearer  x ", "a:b.c_d-e", "", "", "")
	f.Add("Basic abc", "agent", "v", "h", "o")
	f.Add("Bearer x", "../etc", "v\x00", "h", "o")
	f.Fuzz(func(t *testing.T, auth, id, version, host, os string) {
		hdr := http.Header{}
		hdr.Set("Authorization", auth)
		hdr.Set(HeaderAgentID, id)
		hdr.Set(HeaderAgentVersion, version)
		hdr.Set(HeaderHostname, host)
		hdr.Set(HeaderOS, os)
		h, err := ParseHello(hdr)
		if err != nil {
			return
		}
		if h.Secret == "" || checkAgentID(h.AgentID) != nil || !printable(h.Version+h.Hostname+h.OS) {
			t.Fatalf("accepted invalid hello %+v", h)
		}
		// What was accepted survives a round trip.
		h2, err := ParseHello(h.Header())
		if err != nil || h2 != h {
			t.Fatalf("round trip: %+v %v, want %+v", h2, err, h)
		}
	})
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
