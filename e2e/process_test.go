package e2e

import (
	"bufio"
	"bytes"
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
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		io.Copy(io.Discard, r) // past a line too long to keep, so the process never blocks
	}()
	go func() {
		p.cmd.Wait()
		w.Close()
		// done means the output is complete too: what the process said last is kept.
		<-read
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

// api calls the relay's API at addr with key and decodes the JSON answer.
func api(t *testing.T, addr, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// connectionState returns the state of a connection, "" when the relay does not answer.
func connectionState(t *testing.T, addr, key, id string) string {
	_, m := api(t, addr, key, "GET", "/v1/connections/"+id+"/status", nil)
	s, _ := m["state"].(string)
	return s
}

// enrolledAgent creates an account and a connection on the relay, enrolls an agent for
// it, and writes agent.yaml into dir. It returns the API key and connection id.
func enrolledAgent(t *testing.T, dir, dataDir, addr, extraYAML string) (key, connID string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "plantbridge-relay"), "accounts", "create", "acme", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	key = strings.TrimSpace(string(out))
	relay := startProc(t, nil, "plantbridge-relay", "serve", "--data-dir", dataDir, "--listen", addr)
	poll(t, 20*time.Second, "relay up", func() bool { code, _ := api(t, addr, "", "GET", "/healthz", nil); return code == 200 })
	code, conn := api(t, addr, key, "POST", "/v1/connections", map[string]any{"name": "Bedford", "system": "maximo"})
	if code != http.StatusCreated {
		t.Fatalf("create connection: %d %v", code, conn)
	}
	connID = conn["id"].(string)
	token := conn["enrollment"].(map[string]any)["token"].(string)
	code, cred := api(t, addr, "", "POST", "/v1/agents/enroll", map[string]any{"token": token})
	if code != http.StatusOK {
		t.Fatalf("enroll: %d %v", code, cred)
	}
	os.WriteFile(filepath.Join(dir, "agent.secret"), []byte(cred["secret"].(string)), 0o600)
	cfg := fmt.Sprintf("version: 1\nrelay:\n  url: ws://%s\nagent:\n  id: %s\n  secret_file: agent.secret\n%s", addr, cred["agent_id"], extraYAML)
	os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(cfg), 0o600)
	relay.stop(t, 30*time.Second)
	return key, connID
}

// TestProcessesSurviveRelayKillAndDrain runs the real binaries: the relay is killed with
// SIGKILL and restarted (the agent reconnects on its own), then stopped with SIGTERM (it
// drains: the agent is told, and the relay exits promptly), then started again.
func TestProcessesSurviveRelayKillAndDrain(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "relay")
	addr := freePort(t)
	key, connID := enrolledAgent(t, dir, data, addr, "")
	online := func() bool { return connectionState(t, addr, key, connID) == "online" }
	startRelay := func() *proc {
		return startProc(t, nil, "plantbridge-relay", "serve", "--data-dir", data, "--listen", addr)
	}

	relay := startRelay()
	agent := startProc(t, nil, "plantbridge-agent", "run", "--config", filepath.Join(dir, "agent.yaml"))
	poll(t, 20*time.Second, "agent online", online)

	relay.kill()
	relay = startRelay()
	poll(t, 30*time.Second, "agent back after the relay was killed", online)

	took := relay.stop(t, 30*time.Second)
	t.Logf("relay drained and exited in %v", took.Round(time.Millisecond))
	if !strings.Contains(agent.output(), "relay asked the agent to reconnect (drain)") {
		t.Error("agent was not asked to reconnect on relay shutdown")
	}
	if !strings.Contains(relay.output(), `"reason":"relay_drain"`) {
		t.Error("relay did not log the drain as the disconnect reason")
	}
	startRelay()
	poll(t, 30*time.Second, "agent back after the drain", online)

	if took := agent.stop(t, 15*time.Second); took > 10*time.Second {
		t.Errorf("agent took %v to stop", took)
	}
}
