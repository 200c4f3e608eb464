// Command demo runs a relay and an agent on loopback and shows the agent online through
// the tunnel. It is what `make demo` runs, from the repository root, after `make build`.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := filepath.Abs(".demo")
	if err != nil {
		return err
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	base := "http://" + addr
	token := "demo-admin-" + randomHex(8)

	step("create a demo Maximo plant database (SQLite, 2,000 work orders)")
	plantDB := filepath.Join(dir, "maximo.db")
	if out, err := exec.Command("bin/plantbridge-agent", "demo-db", "--system", "maximo", "--driver", "sqlite",
		"--rows", "2000", "--out", plantDB).CombinedOutput(); err != nil {
		return fmt.Errorf("demo-db: %w\n%s", err, out)
	}

	step("register the agent with the relay")
	out, err := exec.Command("bin/plantbridge-relay", "agents", "add", "demo-plant", "--data-dir", filepath.Join(dir, "relay")).Output()
	if err != nil {
		return fmt.Errorf("agents add: %w", err)
	}
	secretFile := filepath.Join(dir, "agent.secret")
	if err := os.WriteFile(secretFile, out, 0o600); err != nil {
		return err
	}
	agentYAML := fmt.Sprintf("version: 1\nrelay:\n  url: ws://%s\nagent:\n  id: demo-plant\n  secret_file: agent.secret\n"+
		"state_dir: agent-state\nconnection:\n  system: maximo\n  driver: sqlite\n  dsn: maximo.db\n  timezone: America/Chicago\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(agentYAML), 0o600); err != nil {
		return err
	}

	step("start the relay on " + addr)
	relay, err := start(dir, "relay.log", []string{"PLANTBRIDGE_ADMIN_TOKEN=" + token},
		"bin/plantbridge-relay", "serve", "--data-dir", filepath.Join(dir, "relay"), "--listen", addr)
	if err != nil {
		return err
	}
	defer stop(relay)
	if err := waitFor(20*time.Second, func() bool { _, err := get(base+"/healthz", ""); return err == nil }); err != nil {
		return fmt.Errorf("relay did not come up (see %s): %w", filepath.Join(dir, "relay.log"), err)
	}

	step("start the agent (it dials out to the relay; nothing listens on the plant side)")
	agent, err := start(dir, "agent.log", nil, "bin/plantbridge-agent", "run", "--config", filepath.Join(dir, "agent.yaml"))
	if err != nil {
		return err
	}
	defer stop(agent)

	var agents struct {
		Agents []map[string]any `json:"agents"`
	}
	if err := waitFor(20*time.Second, func() bool {
		b, err := get(base+"/v1/agents", token)
		return err == nil && json.Unmarshal(b, &agents) == nil && len(agents.Agents) == 1 && agents.Agents[0]["rtt_ms"].(float64) > 0
	}); err != nil {
		return fmt.Errorf("agent did not come online (see %s): %w", filepath.Join(dir, "agent.log"), err)
	}
	step("the relay lists the agent online, with its round-trip time")
	show(base+"/v1/agents", token)
	step("the relay calls the agent through the tunnel")
	show(base+"/v1/agents/demo-plant/info", token)
	step("the agent reads Maximo work orders and maps them onto the unified model")
	show(base+"/v1/agents/demo-plant/models/work_orders/sample?limit=2", token)

	fmt.Printf("\nLogs: %s/relay.log, %s/agent.log\n", dir, dir)
	fmt.Printf("Try:  curl -H 'Authorization: Bearer %s' %s/v1/agents\n", token, base)
	if os.Getenv("CI") != "" || !isTerminal() {
		return nil
	}
	fmt.Println("\nRelay and agent are running. Press Ctrl-C to stop.")
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	<-ctx.Done()
	return nil
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func show(url, token string) {
	b, err := get(url, token)
	if err != nil {
		fmt.Println("  error:", err)
		return
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") == nil {
		b = pretty.Bytes()
	}
	fmt.Printf("$ curl -H 'Authorization: Bearer …' '%s'\n%s\n", url, strings.TrimSpace(string(b)))
}

func get(url, token string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s: %s", resp.Status, b)
	}
	return b, err
}

func start(dir, logName string, env []string, name string, args ...string) (*exec.Cmd, error) {
	logFile, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

// stop asks a process to shut down cleanly, then kills it if it does not.
func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// freeAddr prefers the documented port 8080 and falls back to any free one.
func freeAddr() (string, error) {
	for _, a := range []string{"127.0.0.1:8080", "127.0.0.1:0"} {
		ln, err := net.Listen("tcp", a)
		if err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr, nil
		}
	}
	return "", errors.New("no free port on 127.0.0.1")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// isTerminal reports whether a person is at the keyboard: stdin is a character device
// other than /dev/null.
func isTerminal() bool {
	st, err := os.Stdin.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
