package tunnel

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Headers of the tunnel upgrade request and response.
const (
	HeaderAgentID      = "X-Plantbridge-Agent-Id"
	HeaderAgentVersion = "X-Plantbridge-Agent-Version"
	HeaderHostname     = "X-Plantbridge-Hostname"
	HeaderOS           = "X-Plantbridge-Os"
	// HeaderConnectionID is set by the relay on the upgrade response so that both sides
	// log the same connection id.
	HeaderConnectionID = "X-Plantbridge-Connection-Id"
)

// Hello is what an agent says about itself when it opens a tunnel.
type Hello struct {
	AgentID  string `json:"agent_id"`
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	// Secret is the agent's credential, sent as a bearer token; never logged.
	Secret string `json:"-"`
}

// Limits on hello fields; anything longer is refused rather than stored or logged.
const (
	maxAgentIDLen = 128
	maxFieldLen   = 255
	maxSecretLen  = 512
)

// ErrNoCredential means the upgrade request carried no bearer credential.
var ErrNoCredential = errors.New("missing agent credential (Authorization: Bearer)")

// Header returns the upgrade request headers that carry h.
func (h Hello) Header() http.Header {
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+h.Secret)
	hdr.Set(HeaderAgentID, h.AgentID)
	hdr.Set(HeaderAgentVersion, h.Version)
	hdr.Set(HeaderHostname, h.Hostname)
	hdr.Set(HeaderOS, h.OS)
	return hdr
}

// ParseHello reads and validates the hello from upgrade request headers. The agent id
// must be present and made of letters, digits and ._:- only, because it appears in logs,
// URLs and metrics labels; other fields must be printable ASCII.
func ParseHello(hdr http.Header) (Hello, error) {
	h := Hello{
		AgentID:  hdr.Get(HeaderAgentID),
		Version:  hdr.Get(HeaderAgentVersion),
		Hostname: hdr.Get(HeaderHostname),
		OS:       hdr.Get(HeaderOS),
	}
	auth := hdr.Get("Authorization")
	scheme, secret, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return h, ErrNoCredential
	}
	h.Secret = strings.TrimSpace(secret)
	if len(h.Secret) > maxSecretLen {
		return h, fmt.Errorf("agent credential longer than %d bytes", maxSecretLen)
	}
	if err := checkAgentID(h.AgentID); err != nil {
		return h, err
	}
	for _, f := range []struct{ name, v string }{
		{HeaderAgentVersion, h.Version}, {HeaderHostname, h.Hostname}, {HeaderOS, h.OS},
	} {
		if len(f.v) > maxFieldLen {
			return h, fmt.Errorf("%s longer than %d bytes", f.name, maxFieldLen)
		}
		if !printable(f.v) {
			return h, fmt.Errorf("%s contains non-printable characters", f.name)
		}
	}
	return h, nil
}

func checkAgentID(id string) error {
	if id == "" {
		return fmt.Errorf("missing %s", HeaderAgentID)
	}
	if len(id) > maxAgentIDLen {
		return fmt.Errorf("%s longer than %d bytes", HeaderAgentID, maxAgentIDLen)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == ':', r == '-':
		default:
			return fmt.Errorf("%s may contain only letters, digits and . _ : -", HeaderAgentID)
		}
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
