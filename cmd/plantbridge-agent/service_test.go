//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/agent/service"
	"github.com/plantbridge/plantbridge/internal/logtest"
	"github.com/plantbridge/plantbridge/internal/testbin"
	"github.com/plantbridge/plantbridge/tunnel"
)

// tunnelRelay is a relay's tunnel endpoint that accepts one agent and records who
// connects and disconnects.
type tunnelRelay struct {
	url    string
	mu     sync.Mutex // guards events
	events []tunnel.Event
}

func (r *tunnelRelay) count(kind tunnel.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

type oneAgent struct{ id, secret string }

func (a oneAgent) AuthenticateAgent(_ context.Context, id, secret string) error {
	if id == a.id && secret == a.secret {
		return nil
	}
	return tunnel.ErrUnauthorized
}

func startTunnelRelay(t *testing.T, id, secret string) *tunnelRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tunnelRelay{url: "ws://" + ln.Addr().String()}
	ep := tunnel.NewEndpoint(tunnel.EndpointConfig{Auth: oneAgent{id, secret}, Logger: logtest.New(t), OnEvent: func(e tunnel.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, e)
	}})
	mux := http.NewServeMux()
	mux.Handle(tunnel.TunnelPath, ep)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		ep.Close()
	})
	return r
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServiceInstall installs the built agent as a real service on this machine (SysV or
// systemd, whichever runs), starts it, sees it connect to a relay, stops it and removes
// it. It needs root on Linux; CI runs as root, so there it fails rather than skips.
func TestServiceInstall(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		testbin.Missing(t, "installing a service needs root on Linux")
	}
	platform := service.Platform()
	if platform != "unix-systemv" && platform != "linux-systemd" {
		testbin.Missing(t, "service manager "+platform+" is not one this test knows")
	}
	bin := buildAgent(t)
	relay := startTunnelRelay(t, "agt_svc", "svc-s3cret")

	// An enrolled agent whose config names no identity, in a directory with a space, run
	// from elsewhere: the service must not depend on the working directory.
	dir := filepath.Join(t.TempDir(), "plant agent")
	if err := agent.WriteCredential(filepath.Join(dir, "state"), agent.Credential{AgentID: "agt_svc", ConnectionID: "conn_svc", Secret: "svc-s3cret"}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("version: 1\nrelay:\n  url: "+relay.url+"\nstate_dir: state\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The service manager runs the agent as root from outside the test's temp dir tree,
	// which the test framework makes 0700: that is fine for root.
	name := fmt.Sprintf("plantbridge-agent-test-%d", os.Getpid())
	agentCmd := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--name", name)...)
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		t.Logf("plantbridge-agent %s: exit %d\n%s", strings.Join(args, " "), code, out)
		return string(out), code
	}
	t.Cleanup(func() { forceRemoveService(t, name, platform) })

	if out, code := agentCmd("install", "--config", cfg); code != 0 || !strings.Contains(out, "Installed service "+name) {
		t.Fatalf("install: exit %d", code)
	}
	if _, code := agentCmd("install", "--config", cfg); code == 0 {
		t.Error("a second install succeeded")
	}
	switch platform {
	case "unix-systemv":
		script, err := os.ReadFile("/etc/init.d/" + name)
		if err != nil {
			t.Fatalf("no init script: %v", err)
		}
		if !strings.Contains(string(script), bin) || !strings.Contains(string(script), "run") || !strings.Contains(string(script), cfg) {
			t.Errorf("init script does not run the agent with its config:\n%s", script)
		}
		if _, err := os.Lstat("/etc/rc2.d/S50" + name); err != nil {
			t.Errorf("not started at boot: %v", err)
		}
	case "linux-systemd":
		if _, err := os.Stat("/etc/systemd/system/" + name + ".service"); err != nil {
			t.Fatalf("no unit file: %v", err)
		}
	}
	if out, code := agentCmd("status", "--config", cfg); code != 3 || !strings.Contains(out, "stopped") {
		t.Errorf("status of the installed service: exit %d, want 3 and stopped", code)
	}

	if _, code := agentCmd("start"); code != 0 {
		t.Fatalf("start: exit %d", code)
	}
	waitUntil(t, 60*time.Second, "the service's agent to connect to the relay", func() bool { return relay.count(tunnel.EventConnect) > 0 })
	pid := servicePID(t, name, platform)
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.Contains(string(cmdline), "run\x00--config\x00"+cfg) {
		t.Errorf("process %d is not the agent: %q, %v", pid, cmdline, err)
	}
	if platform == "unix-systemv" {
		if out, err := exec.Command("service", name, "status").Output(); err != nil || !strings.HasPrefix(string(out), "Running") {
			t.Errorf("service %s status: %q, %v", name, out, err)
		}
	}
	if out, code := agentCmd("status", "--config", cfg); code != 0 || !strings.Contains(out, "service "+name+": running") {
		t.Errorf("status of the running service: exit %d", code)
	}

	if _, code := agentCmd("stop"); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	waitUntil(t, 15*time.Second, "the agent to disconnect", func() bool { return relay.count(tunnel.EventDisconnect) > 0 })
	waitUntil(t, 15*time.Second, "the agent process to end", func() bool { return syscall.Kill(pid, 0) != nil })
	if _, code := agentCmd("status", "--config", cfg); code != 3 {
		t.Errorf("status of the stopped service: exit %d, want 3", code)
	}
	if platform == "unix-systemv" {
		logs, _ := os.ReadFile("/var/log/" + name + ".err")
		if !strings.Contains(string(logs), "agent starting") {
			t.Errorf("the service's log lacks the agent's start:\n%s", logs)
		}
		if strings.Contains(string(logs), "svc-s3cret") {
			t.Errorf("the service's log shows the agent secret:\n%s", logs)
		}
	}

	if _, code := agentCmd("uninstall"); code != 0 {
		t.Fatalf("uninstall: exit %d", code)
	}
	for _, p := range []string{"/etc/init.d/" + name, "/etc/rc2.d/S50" + name, "/etc/rc0.d/K02" + name, "/etc/systemd/system/" + name + ".service"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is left after uninstall", p)
		}
	}
	if out, code := agentCmd("status"); code != 3 || !strings.Contains(out, "not installed") {
		t.Errorf("status after uninstall: exit %d", code)
	}
}

// servicePID returns the pid of the service's main process.
func servicePID(t *testing.T, name, platform string) int {
	t.Helper()
	var pid int
	var err error
	switch platform {
	case "unix-systemv":
		var b []byte
		b, err = os.ReadFile("/var/run/" + name + ".pid")
		if err == nil {
			pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	default:
		var out []byte
		out, err = exec.Command("systemctl", "show", "--property=MainPID", "--value", name).Output()
		if err == nil {
			pid, err = strconv.Atoi(strings.TrimSpace(string(out)))
		}
	}
	if err != nil || pid <= 0 {
		t.Fatalf("pid of service %s: %d, %v", name, pid, err)
	}
	return pid
}

// forceRemoveService removes every trace of the test service, whatever state a failed
// test left it in.
func forceRemoveService(t *testing.T, name, platform string) {
	switch platform {
	case "unix-systemv":
		if b, err := os.ReadFile("/var/run/" + name + ".pid"); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), "plantbridge-agent") {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		os.Remove("/var/run/" + name + ".pid")
		os.Remove("/etc/init.d/" + name)
		for _, l := range []string{"0", "1", "6"} {
			os.Remove("/etc/rc" + l + ".d/K02" + name)
		}
		for _, l := range []string{"2", "3", "4", "5"} {
			os.Remove("/etc/rc" + l + ".d/S50" + name)
		}
		os.Remove("/var/log/" + name + ".log")
		os.Remove("/var/log/" + name + ".err")
	case "linux-systemd":
		exec.Command("systemctl", "stop", name).Run()
		exec.Command("systemctl", "disable", name).Run()
		os.Remove("/etc/systemd/system/" + name + ".service")
		exec.Command("systemctl", "daemon-reload").Run()
	}
}
