package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/internal/testbin"
)

// startTinyproxy runs a real HTTP CONNECT proxy (Debian's tinyproxy) on loopback that
// requires basic auth, and returns its address and log file.
func startTinyproxy(t *testing.T, user, pass string) (addr, logFile string) {
	t.Helper()
	bin := testbin.Find(t, "tinyproxy", "tinyproxy", "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy")
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logFile = filepath.Join(dir, "tinyproxy.log")
	conf := fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nLogLevel Connect\nLogFile %q\nBasicAuth %s %s\n",
		port, logFile, user, pass)
	confFile := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", confFile)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, 10*time.Second, "tinyproxy to listen", func() bool {
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("tinyproxy exited: %s", log)
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr, logFile
}

func TestTunnelThroughRealProxy(t *testing.T) {
	leaktest.Check(t)
	proxyAddr, proxyLog := startTinyproxy(t, "plant", "pr0xy")
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
		log, _ := os.ReadFile(proxyLog)
		if !strings.Contains(string(log), "CONNECT "+relay.addr) {
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
