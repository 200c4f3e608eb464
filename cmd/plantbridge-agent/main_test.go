package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// builtAgent is this command, built once for the tests that run it.
var builtAgent = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "plantbridge-agent-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "plantbridge-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the agent: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := builtAgent(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func buildAgent(t *testing.T) string {
	t.Helper()
	bin, err := builtAgent()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestCommands checks what plant IT sees from the commands that need no service manager:
// their exit codes and that their messages say what to do.
func TestCommands(t *testing.T) {
	bin := buildAgent(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nrelay:\n  url: wss://relay.example.com\nsync:\n  interval: -1m\n"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, 0, "enroll --relay URL --token TOKEN"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"check-config", "--config", bad}, 1, "line 5: sync.interval: must not be negative"},
		{[]string{"diagnose", "--config", filepath.Join(dir, "none.yaml")}, 1, "FAIL  config  " + filepath.Join(dir, "none.yaml") + " does not exist"},
		{[]string{"enroll", "--relay", "ws://127.0.0.1:1"}, 1, "--token is required"},
		{[]string{"enroll", "--relay", "ws://127.0.0.1:1", "--token", "t", "--config", filepath.Join(dir, "new.yaml")}, 1, "connect to relay 127.0.0.1:1"},
		{[]string{"install", "--config", bad}, 1, "the service would not start with this config"},
		{[]string{"status", "--name", "bad name"}, 3, `service name "bad name"`},
	} {
		cmd := exec.Command(bin, tc.args...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("plantbridge-agent %s: exit %d, want %d and %q in:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.yaml")); err == nil {
		t.Error("a failed enrollment wrote a config")
	}
}
