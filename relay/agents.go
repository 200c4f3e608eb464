package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/tunnel"
)

// AgentRegistry holds the agents allowed to open tunnels, with their credentials stored
// as SHA-256 hashes (the credentials are 256-bit random strings, so a plain hash is
// enough: there is nothing to brute-force). It lives in agents.json in the data dir until
// the relay store takes over with enrollment.
type AgentRegistry struct {
	path string

	mu     sync.Mutex // guards agents and the file
	agents map[string]agentEntry
}

type agentEntry struct {
	ID         string    `json:"id"`
	SecretHash string    `json:"secret_sha256"`
	CreatedAt  time.Time `json:"created_at"`
}

// OpenAgentRegistry loads dataDir/agents.json, which need not exist yet.
func OpenAgentRegistry(dataDir string) (*AgentRegistry, error) {
	r := &AgentRegistry{path: filepath.Join(dataDir, "agents.json"), agents: map[string]agentEntry{}}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read agent registry: %w", err)
	}
	var list []agentEntry
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("parse agent registry %s: %w", r.path, err)
	}
	for _, a := range list {
		r.agents[a.ID] = a
	}
	return r, nil
}

// Add registers a new agent and returns its credential, which is not stored and cannot be
// shown again.
func (r *AgentRegistry) Add(id string) (secret string, err error) {
	if _, err := tunnel.ParseHello(tunnel.Hello{AgentID: id, Secret: "x"}.Header()); err != nil {
		return "", fmt.Errorf("agent id: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	secret = "pbagent_" + base64.RawURLEncoding.EncodeToString(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.agents[id]; ok {
		return "", fmt.Errorf("agent %q already exists", id)
	}
	r.agents[id] = agentEntry{ID: id, SecretHash: hashSecret(secret), CreatedAt: time.Now().UTC()}
	if err := r.saveLocked(); err != nil {
		delete(r.agents, id)
		return "", err
	}
	return secret, nil
}

func (r *AgentRegistry) saveLocked() error {
	list := make([]agentEntry, 0, len(r.agents))
	for _, a := range r.agents {
		list = append(list, a)
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Write then rename, so a crash never leaves a half-written registry.
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write agent registry: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("write agent registry: %w", err)
	}
	return nil
}

// Has reports whether the agent is registered.
func (r *AgentRegistry) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.agents[id]
	return ok
}

// AuthenticateAgent implements tunnel.Authenticator.
func (r *AgentRegistry) AuthenticateAgent(_ context.Context, id, secret string) error {
	r.mu.Lock()
	a, ok := r.agents[id]
	r.mu.Unlock()
	want := a.SecretHash
	if !ok {
		want = hashSecret("") // compare anyway, so timing does not reveal which ids exist
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(secret)), []byte(want)) != 1 || !ok {
		return tunnel.ErrUnauthorized
	}
	return nil
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
