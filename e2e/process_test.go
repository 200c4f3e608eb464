package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the relay and agent binaries built once for this package's tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plantbridge-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command(filepath.Join(goroot(), "bin", "go"), "build", "-o", dir+"/",
		"github.com/plantbridge/plantbridge/cmd/plantbridge-relay", "github.com/plantbridge/plantbridge/cmd/plantbridge-agent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goroot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "/usr/local/go"
	}
	return strings.TrimSpace(string(out))
}

// proc is a running binary whose combined output is kept for assertions.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex // guards out
	out  strings.Builder
	done chan struct{}
}

func startProc(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(filepath.Join(binDir, name), args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		p.cmd.Wait()
		w.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop sends SIGTERM and reports how long the process took to exit.
func (p *proc) stop(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("%s did not exit within %v of SIGTERM", p.cmd.Path, limit)
		return 0
	}
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agentOnline reports whether the relay at addr lists agent id as connected.
func agentOnline(addr, token, id string) bool {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/agents", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Agents []struct {
			AgentID string `json:"agent_id"`
		} `json:"agents"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	for _, a := range body.Agents {
		if a.AgentID == id {
			return true
		}
	}
	return false
}

// TestProcessesSurviveRelayKillAndDrain runs the real binaries: the relay is killed with
// SIGKILL and restarted (the agent reconnects on its own), then stopped with SIGTERM (it
// drains: the agent is told, and the relay exits promptly), then started again.
func TestProcessesSurviveRelayKillAndDrain(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "relay")
	out, err := exec.Command(filepath.Join(binDir, "plantbridge-relay"), "agents", "add", "plant-1", "--data-dir", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "agent.secret"), out, 0o600)
	addr := freePort(t)
	cfg := fmt.Sprintf("version: 1\nrelay:\n  url: ws://%s\nagent:\n  id: plant-1\n  secret_file: agent.secret\n", addr)
	os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(cfg), 0o600)
	env := []string{"PLANTBRIDGE_ADMIN_TOKEN=admin"}
	startRelay := func() *proc {
		return startProc(t, env, "plantbridge-relay", "serve", "--data-dir", data, "--listen", addr)
	}

	relay := startRelay()
	agent := startProc(t, nil, "plantbridge-agent", "run", "--config", filepath.Join(dir, "agent.yaml"))
	poll(t, 20*time.Second, "agent online", func() bool { return agentOnline(addr, "admin", "plant-1") })

	relay.kill()
	relay = startRelay()
	poll(t, 30*time.Second, "agent back after the relay was killed", func() bool { return agentOnline(addr, "admin", "plant-1") })

	took := relay.stop(t, 30*time.Second)
	t.Logf("relay drained and exited in %v", took.Round(time.Millisecond))
	if !strings.Contains(agent.output(), "relay asked the agent to reconnect (drain)") {
		t.Error("agent was not asked to reconnect on relay shutdown")
	}
	if !strings.Contains(relay.output(), `"reason":"relay_drain"`) {
		t.Error("relay did not log the drain as the disconnect reason")
	}
	startRelay()
	poll(t, 30*time.Second, "agent back after the drain", func() bool { return agentOnline(addr, "admin", "plant-1") })

	if took := agent.stop(t, 15*time.Second); took > 10*time.Second {
		t.Errorf("agent took %v to stop", took)
	}
}
