package agent

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/plantbridge/plantbridge/internal/proxytest"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// enrollRelay stands in for the relay's enrollment endpoint: it answers wire.EnrollPath
// as the relay's contract says, for tokens it knows.
type enrollRelay struct {
	mu       sync.Mutex // guards the fields below
	tokens   map[string]string
	requests []wire.EnrollRequest
}

func newEnrollRelay() *enrollRelay {
	return &enrollRelay{tokens: map[string]string{"tok-good": "unused", "tok-used": "used", "tok-expired": "expired", "tok-expired-401": "expired-401"}}
}

func (r *enrollRelay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != wire.EnrollPath || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	var er wire.EnrollRequest
	if err := json.NewDecoder(req.Body).Decode(&er); err != nil {
		writeEnrollError(w, 400, "INVALID_REQUEST", "bad body")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, er)
	switch r.tokens[er.Token] {
	case "unused":
		r.tokens[er.Token] = "used"
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(wire.EnrollResponse{AgentID: "agt_7", ConnectionID: "conn_7", Secret: "pbagent_s3cret"})
	case "used":
		writeEnrollError(w, http.StatusConflict, "CONFLICT", "this enrollment token was already used")
	case "expired":
		writeEnrollError(w, http.StatusGone, "TOKEN_EXPIRED", "this enrollment token has expired")
	case "expired-401":
		writeEnrollError(w, http.StatusUnauthorized, "AUTHENTICATION_FAILED", "this enrollment token has expired")
	default:
		writeEnrollError(w, http.StatusUnauthorized, "AUTHENTICATION_FAILED", "unknown enrollment token")
	}
}

func writeEnrollError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(wire.ErrorBody{Error: wire.Error{Code: code, Message: msg}})
}

func wsURL(httpURL string) string {
	return "ws" + strings.TrimPrefix(httpURL, "http")
}

func TestEnroll(t *testing.T) {
	relay := newEnrollRelay()
	srv := httptest.NewServer(relay)
	defer srv.Close()
	state := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()

	cred, err := Enroll(ctx, EnrollOptions{RelayURL: wsURL(srv.URL), Token: " tok-good\n", StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if cred.AgentID != "agt_7" || cred.ConnectionID != "conn_7" || cred.Secret != "pbagent_s3cret" || cred.RelayURL != wsURL(srv.URL) {
		t.Errorf("credential %+v", cred)
	}
	if got, err := ReadCredential(state); err != nil || got != cred {
		t.Errorf("stored %+v, %v", got, err)
	}
	checkPrivate(t, state, filepath.Join(state, CredentialFile))
	if r := relay.requests[0]; r.Token != "tok-good" || r.Hostname == "" || r.OS == "" || r.Version == "" {
		t.Errorf("request %+v", r)
	}

	for _, tc := range []struct {
		name, token string
		status      int
		want        []string
	}{
		{"used token", "tok-good", 409, []string{"already used", "a token works once", "create a new enrollment token"}},
		{"used before", "tok-used", 409, []string{"already used"}},
		{"expired", "tok-expired", 410, []string{"has expired", "create a new enrollment token"}},
		{"expired as the relay says it", "tok-expired-401", 401, []string{"did not accept", "relay says: this enrollment token has expired", "create a new"}},
		{"unknown", "tok-nope", 401, []string{"did not accept", "unknown enrollment token", "whole token was copied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := filepath.Join(t.TempDir(), "state")
			_, err := Enroll(ctx, EnrollOptions{RelayURL: srv.URL, Token: tc.token, StateDir: other})
			var ee *EnrollError
			if !errors.As(err, &ee) || ee.StatusCode != tc.status {
				t.Fatalf("error %v, want an EnrollError with %d", err, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if _, err := os.Stat(filepath.Join(other, CredentialFile)); err == nil {
				t.Error("a refused enrollment stored a credential")
			}
		})
	}

	t.Run("not a relay", func(t *testing.T) {
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>proxy error</html>", http.StatusBadGateway)
		}))
		defer other.Close()
		_, err := Enroll(ctx, EnrollOptions{RelayURL: other.URL, Token: "t", StateDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "not a Plantbridge relay's answer") {
			t.Errorf("error %v", err)
		}
		_, err = Enroll(ctx, EnrollOptions{RelayURL: "ws://127.0.0.1:1", Token: "t", StateDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "connect to relay 127.0.0.1:1") {
			t.Errorf("relay down: %v", err)
		}
	})
}

// Enrollment reaches the relay the way the tunnel does: over TLS with relay.ca_file, and
// through an authenticating proxy.
func TestEnrollTLSAndProxy(t *testing.T) {
	srv := httptest.NewTLSServer(newEnrollRelay())
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	relayURL := "wss://" + strings.TrimPrefix(srv.URL, "https://")

	_, err := Enroll(context.Background(), EnrollOptions{RelayURL: relayURL, Token: "tok-good", StateDir: t.TempDir()})
	var te *tunnel.TLSError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "relay.ca_file") {
		t.Fatalf("unknown CA: %v, want a TLSError", err)
	}

	proxy := proxytest.StartTinyproxy(t, "plant", "pr0xy")
	_, err = Enroll(context.Background(), EnrollOptions{RelayURL: relayURL, Token: "tok-good", CAFile: ca,
		Proxy: "http://plant:wrong@" + proxy.Addr, StateDir: t.TempDir()})
	var pe *tunnel.ProxyError
	if !errors.As(err, &pe) {
		t.Fatalf("wrong proxy password: %v, want a ProxyError", err)
	}

	cred, err := Enroll(context.Background(), EnrollOptions{RelayURL: relayURL, Token: "tok-good", CAFile: ca,
		Proxy: "http://plant:pr0xy@" + proxy.Addr, StateDir: t.TempDir()})
	if err != nil || cred.AgentID != "agt_7" {
		t.Fatalf("through proxy with CA file: %+v, %v", cred, err)
	}
	if !strings.Contains(proxy.Log(), "CONNECT "+strings.TrimPrefix(srv.URL, "https://")) {
		t.Errorf("the proxy saw no CONNECT to the relay:\n%s", proxy.Log())
	}
}

func TestEnrollCommand(t *testing.T) {
	srv := httptest.NewServer(newEnrollRelay())
	defer srv.Close()
	ctx := context.Background()

	t.Run("writes a minimal config", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "etc", "agent.yaml")
		var out strings.Builder
		if err := EnrollCommand(ctx, path, EnrollOptions{RelayURL: wsURL(srv.URL), Token: "tok-good"}, &out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Enrolled: agent agt_7, connection conn_7", "Wrote " + path, "plantbridge-agent install --config " + path} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("config %v, %v", st, err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			t.Fatalf("the written config does not load: %v", err)
		}
		if cfg.Agent.ID != "agt_7" || cfg.Agent.Secret != "pbagent_s3cret" || cfg.Agent.ConnectionID != "conn_7" ||
			cfg.Relay.URL != wsURL(srv.URL) || cfg.StateDir != filepath.Join(dir, "etc", DefaultStateDir) {
			t.Errorf("config after enroll: %+v", cfg)
		}
		checkPrivate(t, cfg.StateDir, filepath.Join(cfg.StateDir, CredentialFile))
	})

	t.Run("state dir flag", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "agent.yaml")
		state := filepath.Join(dir, "var", "state")
		var out strings.Builder
		if err := EnrollCommand(ctx, path, EnrollOptions{RelayURL: srv.URL, Token: "tok-good", StateDir: state}, &out); err == nil {
			t.Fatal("second use of the token accepted")
		}
		relay := httptest.NewServer(newEnrollRelay())
		defer relay.Close()
		if err := EnrollCommand(ctx, path, EnrollOptions{RelayURL: relay.URL, Token: "tok-good", StateDir: state}, &out); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("no config written: %v", err)
		}
		if cfg, err := LoadConfig(path); err != nil || cfg.StateDir != state || cfg.Agent.ID != "agt_7" {
			t.Errorf("config: %+v, %v", cfg, err)
		}
	})

	t.Run("existing config", func(t *testing.T) {
		dir := t.TempDir()
		relay := httptest.NewServer(newEnrollRelay())
		defer relay.Close()
		path := writeFile(t, dir, "agent.yaml", "version: 1\nrelay:\n  url: "+wsURL(relay.URL)+"\nagent:\n  id: hand-made\n  secret: s\nstate_dir: st\n")
		var out strings.Builder
		if err := EnrollCommand(ctx, path, EnrollOptions{Token: "tok-good"}, &out); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadCredential(filepath.Join(dir, "st")); err != nil {
			t.Errorf("credential not in the config's state dir: %v", err)
		}
		if !strings.Contains(out.String(), "warning: "+path+" sets agent.id (hand-made)") {
			t.Errorf("no warning about agent.id:\n%s", out.String())
		}
		// A state dir flag that the config does not name leaves the agent without its
		// credential; enroll says so.
		out.Reset()
		relay.Config.Handler = newEnrollRelay()
		elsewhere := filepath.Join(dir, "elsewhere")
		if err := EnrollCommand(ctx, path, EnrollOptions{Token: "tok-good", StateDir: elsewhere}, &out); err != nil ||
			!strings.Contains(out.String(), "warning: storing the credential in "+elsewhere) {
			t.Errorf("state dir flag: %v\n%s", err, out.String())
		}
		// Enrolling again replaces the credential, and says so.
		out.Reset()
		relay.Config.Handler = newEnrollRelay()
		if err := EnrollCommand(ctx, path, EnrollOptions{Token: "tok-good"}, &out); err != nil || !strings.Contains(out.String(), "replaces the earlier credential of agent agt_7") {
			t.Errorf("re-enroll: %v\n%s", err, out.String())
		}
	})

	t.Run("no relay", func(t *testing.T) {
		err := EnrollCommand(ctx, filepath.Join(t.TempDir(), "agent.yaml"), EnrollOptions{Token: "t"}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), "--relay") {
			t.Errorf("error %v", err)
		}
	})
}
