// Command demo runs a relay, an agent and a demo Maximo database on loopback, and shows
// the API working: a connection enrolled, the first sync, reads and a write. It is what `make demo` runs, from the repository root, after `make build`.
package main

import (
	"bytes"
	"context"
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
	relayData := filepath.Join(dir, "relay")

	step("create a demo Maximo plant database (SQLite, 2,000 work orders)")
	plantDB := filepath.Join(dir, "maximo.db")
	if out, err := exec.Command("bin/plantbridge-agent", "demo-db", "--system", "maximo", "--driver", "sqlite",
		"--rows", "2000", "--out", plantDB).CombinedOutput(); err != nil {
		return fmt.Errorf("demo-db: %w\n%s", err, out)
	}

	step("create an account on the relay; its API key is printed once")
	out, err := exec.Command("bin/plantbridge-relay", "accounts", "create", "demo", "--data-dir", relayData).Output()
	if err != nil {
		return fmt.Errorf("accounts create: %w", err)
	}
	key := strings.TrimSpace(string(out))

	step("start the relay on " + addr + " (SQLite store in " + relayData + ")")
	relay, err := start(dir, "relay.log", nil, "bin/plantbridge-relay", "serve", "--data-dir", relayData, "--listen", addr)
	if err != nil {
		return err
	}
	defer stop(relay)
	if err := waitFor(20*time.Second, func() bool { _, err := call("GET", base+"/healthz", "", nil); return err == nil }); err != nil {
		return fmt.Errorf("relay did not come up (see %s): %w", filepath.Join(dir, "relay.log"), err)
	}

	step("create a connection for the plant; the relay answers with a one-time enrollment token")
	var conn struct {
		ID         string `json:"id"`
		Enrollment struct {
			Token string `json:"token"`
		} `json:"enrollment"`
	}
	b, err := show("POST", base+"/v1/connections", key, map[string]any{"name": "Bedford plant (demo)", "system": "maximo"})
	if err != nil {
		return err
	}
	json.Unmarshal(b, &conn)
	connURL := base + "/v1/connections/" + conn.ID

	step("enroll the agent with the token (plant IT runs this once, inside the plant)")
	agentYAML := fmt.Sprintf("version: 1\nrelay:\n  url: ws://%s\nstate_dir: agent-state\n"+
		"connection:\n  system: maximo\n  driver: sqlite\n  dsn: maximo.db\n  timezone: America/Chicago\n"+
		"sync:\n  interval: 15s\n", addr)
	agentConfig := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(agentConfig, []byte(agentYAML), 0o600); err != nil {
		return err
	}
	enroll := exec.Command("bin/plantbridge-agent", "enroll", "--config", agentConfig, "--token", conn.Enrollment.Token)
	enroll.Stdout, enroll.Stderr = os.Stdout, os.Stderr
	if err := enroll.Run(); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}

	step("start the agent: it dials out to the relay (nothing listens in the plant) and syncs")
	agent, err := start(dir, "agent.log", nil, "bin/plantbridge-agent", "run", "--config", agentConfig)
	if err != nil {
		return err
	}
	defer stop(agent)

	fmt.Print("waiting for the first sync of work orders ")
	synced := func() bool {
		b, err := call("GET", connURL+"/sync-status", key, nil)
		var st struct {
			Results []struct {
				Model  string `json:"model"`
				Status string `json:"status"`
			} `json:"results"`
		}
		if err != nil || json.Unmarshal(b, &st) != nil {
			return false
		}
		fmt.Print(".")
		for _, r := range st.Results {
			if r.Model == "work_orders" {
				return r.Status == "done"
			}
		}
		return false
	}
	if err := waitFor(90*time.Second, synced); err != nil {
		fmt.Println()
		return fmt.Errorf("first sync did not finish (see %s and %s): %w", filepath.Join(dir, "agent.log"),
			filepath.Join(dir, "relay.log"), err)
	}
	fmt.Println(" done")

	step("connection status: the agent online, its database reachable")
	show("GET", connURL+"/status", key, nil)
	step("work orders, read from the relay (two per page; follow \"next\" for more)")
	show("GET", connURL+"/work_orders?page_size=2", key, nil)

	step("create a work order: the relay sends it through the tunnel; the agent writes it to Maximo's tables")
	siteID, err := firstSite(connURL, key)
	if err != nil {
		return err
	}
	if _, err := show("POST", connURL+"/work_orders", key, map[string]any{"number": "DEMO-1001",
		"title": "Replace worn coupling on cooling pump", "site_id": siteID, "priority": "high"}); err != nil {
		return err
	}

	fmt.Printf("\nAPI key (shown once): %s\n", key)
	fmt.Println("Try:")
	fmt.Printf("  curl -H 'Authorization: Bearer %s' '%s/work_orders?page_size=5'\n", key, connURL)
	fmt.Printf("  curl -H 'Authorization: Bearer %s' '%s/sync-status'\n", key, connURL)
	fmt.Printf("  curl -X POST -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"+
		"       -d '{\"number\":\"DEMO-1002\",\"title\":\"Inspect belt\",\"site_id\":\"%s\"}' '%s/work_orders'\n", key, siteID, connURL)
	fmt.Printf("  curl %s/openapi.json\n", base)
	fmt.Printf("Logs: %s/relay.log, %s/agent.log\n", dir, dir)
	if os.Getenv("CI") != "" || !isTerminal() {
		return nil
	}
	fmt.Println("\nRelay and agent are running. Press Ctrl-C to stop.")
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	<-ctx.Done()
	return nil
}

// firstSite returns the site of a synced work order, for the work order the demo
// creates (Maximo requires a site).
func firstSite(connURL, key string) (string, error) {
	b, err := call("GET", connURL+"/work_orders?page_size=1", key, nil)
	if err != nil {
		return "", err
	}
	var page struct {
		Results []struct {
			SiteID string `json:"site_id"`
		} `json:"results"`
	}
	json.Unmarshal(b, &page)
	if len(page.Results) == 0 || page.Results[0].SiteID == "" {
		return "", errors.New("no work order with a site was synced")
	}
	return page.Results[0].SiteID, nil
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

// show makes an API call and prints it as a curl command with the pretty JSON answer.
func show(method, url, key string, body any) ([]byte, error) {
	b, err := call(method, url, key, body)
	cmd := "curl"
	if method != "GET" {
		cmd += " -X " + method
	}
	if body != nil {
		j, _ := json.Marshal(body)
		cmd += " -H 'Content-Type: application/json' -d '" + string(j) + "'"
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") == nil {
		b = pretty.Bytes()
	}
	fmt.Printf("$ %s -H 'Authorization: Bearer …' '%s'\n%s\n", cmd, url, strings.TrimSpace(string(b)))
	return b, err
}

// call makes an API call and returns the answer, which must be a 2xx.
func call(method, url, key string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
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
