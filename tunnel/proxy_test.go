package tunnel

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/internal/proxytest"
)

func TestTunnelThroughRealProxy(t *testing.T) {
	leaktest.Check(t)
	proxy := proxytest.StartTinyproxy(t, "plant", "pr0xy")
	proxyAddr := proxy.Addr
	relay := startRelay(t, "127.0.0.1:0", "a", MuxConfig{}, auth)

	t.Run("with credentials", func(t *testing.T) {
		agent := startAgent(t, relay.url(), agentOpts{proxy: "http://plant:pr0xy@" + proxyAddr})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := agent.call(ctx, "/via-proxy")
		if err != nil || !strings.HasPrefix(got, "relay a") {
			t.Fatalf("call through proxy: %q, %v", got, err)
		}
		if got, err := relay.callAgent(ctx, "agent-1", "/back"); err != nil || got != "agent agent-1: /back" {
			t.Fatalf("relay→agent through proxy: %q, %v", got, err)
		}
		if log := proxy.Log(); !strings.Contains(log, "CONNECT "+relay.addr) {
			t.Errorf("proxy log does not show the CONNECT to %s:\n%s", relay.addr, log)
		}
		agent.stop()
	})

	for _, tc := range []struct{ name, proxy string }{
		{"wrong password", "http://plant:wrong@" + proxyAddr},
		{"no credentials", "http://" + proxyAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDialer(DialerConfig{RelayURL: relay.url(), Proxy: tc.proxy})
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.DialContext(context.Background(), "tcp", "")
			var pe *ProxyError
			if !errors.As(err, &pe) || (pe.StatusCode != 407 && pe.StatusCode != 401) || !strings.Contains(err.Error(), "proxy authentication") {
				t.Fatalf("dial error = %v, want a 407 (or 401) ProxyError", err)
			}
			// The client reports the same error and keeps retrying with backoff.
			c, err := NewClient(ClientConfig{Dialer: DialerConfig{RelayURL: relay.url(), Proxy: tc.proxy},
				Hello: Hello{AgentID: "agent-1", Secret: "s3cret"}, Logger: logtest.New(t)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.dial(context.Background()); !errors.As(err, &pe) {
				t.Fatalf("client dial error = %v", err)
			}
		})
	}
}
