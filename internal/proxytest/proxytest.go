// Package proxytest runs a real HTTP CONNECT proxy for tests of proxy support: Debian's
// tinyproxy, on loopback, requiring basic auth. Without tinyproxy the test is skipped,
// or fails when CI=true (see package testbin).
package proxytest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/testbin"
)

// Proxy is a running tinyproxy.
type Proxy struct {
	// Addr is its host:port.
	Addr string
	// LogFile is its log, which names every CONNECT.
	LogFile string
}

// Log returns the proxy's log so far.
func (p *Proxy) Log() string {
	b, _ := os.ReadFile(p.LogFile)
	return string(b)
}

// StartTinyproxy starts a proxy that requires user and pass, stopped when tb ends.
func StartTinyproxy(tb testing.TB, user, pass string) *Proxy {
	tb.Helper()
	bin := testbin.Find(tb, "tinyproxy", "tinyproxy", "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy")
	dir := tb.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &Proxy{Addr: fmt.Sprintf("127.0.0.1:%d", port), LogFile: filepath.Join(dir, "tinyproxy.log")}
	conf := fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nLogLevel Connect\nLogFile %q\nBasicAuth %s %s\n",
		port, p.LogFile, user, pass)
	confFile := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", confFile)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	tb.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			tb.Fatalf("tinyproxy exited: %s", p.Log())
		default:
		}
		c, err := net.Dial("tcp", p.Addr)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			tb.Fatalf("tinyproxy does not listen on %s after 10s: %s", p.Addr, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
