package agent

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// CredentialFile is the name, in the state dir, of the credential that enrollment stores.
const CredentialFile = "credential.json"

// Credential is the agent's identity as enrollment received it from the relay.
type Credential struct {
	AgentID      string `json:"agent_id"`
	ConnectionID string `json:"connection_id"`
	// Secret authenticates the agent's tunnel; the relay keeps only its hash.
	Secret string `json:"secret"`
	// RelayURL is the relay that issued the credential.
	RelayURL   string    `json:"relay_url,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// ReadCredential reads the enrolled credential from stateDir. A missing file is an error
// wrapping fs.ErrNotExist.
func ReadCredential(stateDir string) (Credential, error) {
	var c Credential
	path := filepath.Join(stateDir, CredentialFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.AgentID == "" || c.Secret == "" {
		return c, fmt.Errorf("%s: agent_id or secret missing; enroll the agent again", path)
	}
	return c, nil
}

// WriteCredential stores c in stateDir, creating the directory readable by this account
// only, and the file readable and writable by it only.
func WriteCredential(stateDir string, c Credential) error {
	if err := EnsureStateDir(stateDir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileDurably(filepath.Join(stateDir, CredentialFile), append(b, '\n'))
}

// EnsureStateDir creates the state directory if needed and restricts it to the account
// the agent runs as (mode 0700; on Windows an ACL for SYSTEM, Administrators and this
// account only), as it holds the agent's credential and buffered plant data.
func EnsureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make state dir: %w", err)
	}
	if err := restrictDir(dir); err != nil {
		return fmt.Errorf("restrict state dir %s: %w", dir, err)
	}
	return nil
}

// Secrets returns every secret the configuration holds (agent secret, database and proxy
// passwords), for scrubbing them from logs and reports.
func (cfg Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	add(cfg.Agent.Secret)
	for _, p := range []string{cfg.Relay.Proxy, os.Getenv("HTTPS_PROXY"), os.Getenv("https_proxy"),
		os.Getenv("HTTP_PROXY"), os.Getenv("http_proxy")} {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			pass, _ := u.User.Password()
			add(pass)
		}
	}
	if c := cfg.Connection; c != nil {
		_, secrets := maskDSN(c.DSN)
		for _, s := range secrets {
			add(s)
		}
	}
	return out
}

// MaskDSN returns dsn with its password replaced by ***, for showing which database the
// agent uses without showing how it logs in.
func MaskDSN(dsn string) string {
	m, _ := maskDSN(dsn)
	return m
}

var (
	// kvPassword finds a password in key=value DSNs: PostgreSQL's "password=x", SQL Server's
	// "password=x;" or "pwd={x}", godror's `password="x"`, and URL query parameters.
	kvPassword = regexp.MustCompile(`(?i)((?:^|[\s;&?])(?:password|pwd)\s*=\s*)("[^"]*"|'[^']*'|\{[^}]*\}|[^;&\s]*)`)
	// easyConnect finds the password of Oracle's user/password@host form.
	easyConnect = regexp.MustCompile(`^([^/@\s="]+)/([^@\s]+)@`)
)

// maskDSN replaces the passwords in a DSN of any of the agent's drivers by *** and
// returns them.
func maskDSN(dsn string) (string, []string) {
	var secrets []string
	if i := strings.Index(dsn, "://"); i >= 0 {
		// Edited as text: url.URL.String would re-escape the rest of the DSN. The userinfo
		// ends at the last @ before the query; a path rarely holds an @, a password may
		// hold an unescaped /.
		rest := dsn[i+3:]
		end := strings.IndexAny(rest, "?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				raw := rest[colon+1 : at]
				secrets = append(secrets, raw)
				if dec, err := url.PathUnescape(raw); err == nil && dec != raw {
					secrets = append(secrets, dec)
				}
				dsn = dsn[:i+3] + rest[:colon+1] + "***" + rest[at:]
			}
		}
	} else if m := easyConnect.FindStringSubmatch(dsn); m != nil {
		secrets = append(secrets, m[2])
		dsn = m[1] + "/***@" + dsn[len(m[0]):]
	}
	dsn = kvPassword.ReplaceAllStringFunc(dsn, func(s string) string {
		sub := kvPassword.FindStringSubmatch(s)
		v := sub[2]
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'' || v[0] == '{') {
			v = v[1 : len(v)-1]
		}
		if v == "" {
			return s
		}
		if dec, err := url.QueryUnescape(v); err == nil && dec != v {
			secrets = append(secrets, dec)
		}
		secrets = append(secrets, v)
		return sub[1] + "***"
	})
	return dsn, secrets
}
