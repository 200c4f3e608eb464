package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/tunnel"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// EnrollOptions says where to enroll and where to keep the credential.
type EnrollOptions struct {
	// RelayURL is the relay's URL, as in relay.url (wss://…).
	RelayURL string
	// Token is the one-time enrollment token the relay issued for the connection.
	Token string
	// Proxy and CAFile are relay.proxy and relay.ca_file: enrollment reaches the relay
	// the way the tunnel will.
	Proxy  string
	CAFile string
	// StateDir receives credential.json.
	StateDir string
	// Timeout bounds the exchange with the relay. Default 30 s.
	Timeout time.Duration
}

// EnrollError is the relay's refusal of an enrollment token, or an answer that did not
// come from a relay at all.
type EnrollError struct {
	URL        string
	StatusCode int
	// Code and Message are the relay's error (wire.Error); Code is empty when the answer
	// was not a Plantbridge error body.
	Code    string
	Message string
}

const newTokenHint = "create a new enrollment token for this connection (in the dashboard, or with " +
	"POST /v1/connections/{id}/enrollment-tokens) and run enroll again"

func (e *EnrollError) Error() string {
	says := ""
	if e.Message != "" {
		says = fmt.Sprintf(" (relay says: %s)", e.Message)
	}
	switch {
	case e.Code == "" && e.StatusCode == http.StatusNotFound:
		return fmt.Sprintf("no enrollment endpoint at %s (404): check the relay URL", e.URL)
	case e.Code == "":
		return fmt.Sprintf("%s answered %d %s, which is not a Plantbridge relay's answer: check the relay URL, "+
			"and whether a proxy between this machine and the relay blocks it", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	case e.StatusCode == http.StatusConflict || e.Code == "CONFLICT":
		return "the enrollment token was already used, and a token works once" + says + ": " + newTokenHint
	case e.StatusCode == http.StatusGone:
		return "the enrollment token has expired" + says + ": " + newTokenHint
	case e.StatusCode == http.StatusUnauthorized || e.Code == "AUTHENTICATION_FAILED":
		return "the relay did not accept the enrollment token" + says + ": check that the whole token was copied; " +
			"if it is unknown or expired, " + newTokenHint
	}
	return fmt.Sprintf("the relay refused enrollment with %d %s%s", e.StatusCode, e.Code, says)
}

// Enroll redeems an enrollment token at the relay (POST wire.EnrollPath on its public
// listener) and stores the credential it returns in the state dir.
func Enroll(ctx context.Context, o EnrollOptions) (Credential, error) {
	if strings.TrimSpace(o.Token) == "" {
		return Credential{}, errors.New("enrollment token is empty")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	d, err := tunnel.NewDialer(tunnel.DialerConfig{RelayURL: o.RelayURL, Proxy: o.Proxy, CAFile: o.CAFile})
	if err != nil {
		return Credential{}, err
	}
	host, _ := os.Hostname()
	body, _ := json.Marshal(wire.EnrollRequest{Token: strings.TrimSpace(o.Token), Hostname: host,
		Version: version.Version, OS: runtime.GOOS + "/" + runtime.GOARCH})
	u := d.HTTPURL(wire.EnrollPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Credential{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.HTTPClient(o.Timeout).Do(req)
	if err != nil {
		return Credential{}, fmt.Errorf("enroll at %s: %w", u, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Credential{}, fmt.Errorf("enroll at %s: read answer: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		e := &EnrollError{URL: u, StatusCode: resp.StatusCode}
		var eb wire.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		}
		return Credential{}, e
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(b, &er); err != nil || er.AgentID == "" || er.Secret == "" {
		return Credential{}, fmt.Errorf("enroll at %s: the answer holds no credential (is this the relay?)", u)
	}
	cred := Credential{AgentID: er.AgentID, ConnectionID: er.ConnectionID, Secret: er.Secret,
		RelayURL: o.RelayURL, EnrolledAt: time.Now().UTC().Truncate(time.Second)}
	if err := WriteCredential(o.StateDir, cred); err != nil {
		// The token is spent; say so, or the next attempt's "already used" is a mystery.
		return cred, fmt.Errorf("the relay enrolled agent %s, but storing its credential failed: %w; "+
			"fix that, then %s", cred.AgentID, err, newTokenHint)
	}
	return cred, nil
}

// unwrapURLError drops net/http's `Post "URL":` prefix; the caller names the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// EnrollCommand is `plantbridge-agent enroll`: it takes the relay, proxy and state dir
// from configPath when that file exists (options set by flags win), enrolls, and, when
// the file does not exist yet, writes a minimal one that runs the agent with the new
// credential. It tells out what happened and what to do next.
func EnrollCommand(ctx context.Context, configPath string, o EnrollOptions, out io.Writer) error {
	configPath, err := filepath.Abs(configPath)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(configPath)
	exists := statErr == nil
	var cfg Config
	if exists {
		if cfg, err = LoadConfigForEnroll(configPath); err != nil {
			return fmt.Errorf("%w\nfix agent.yaml first: enrollment uses its relay, proxy and state_dir settings", err)
		}
		if o.RelayURL == "" {
			o.RelayURL = cfg.Relay.URL
		} else if o.RelayURL != cfg.Relay.URL {
			fmt.Fprintf(out, "note: enrolling at %s, but %s has relay.url %s, which the agent will connect to\n",
				o.RelayURL, configPath, cfg.Relay.URL)
		}
		if o.Proxy == "" {
			o.Proxy = cfg.Relay.Proxy
		}
		if o.CAFile == "" {
			o.CAFile = cfg.Relay.CAFile
		}
		if o.StateDir == "" {
			o.StateDir = cfg.StateDir
		} else if abs, _ := filepath.Abs(o.StateDir); abs != cfg.StateDir {
			fmt.Fprintf(out, "warning: storing the credential in %s, but %s has state_dir %s: the agent will not find it "+
				"unless state_dir names the same directory\n", abs, configPath, cfg.StateDir)
		}
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return fmt.Errorf("config: %w", statErr)
	}
	if o.RelayURL == "" {
		return fmt.Errorf("%s does not exist; give the relay URL with --relay", configPath)
	}
	stateDirFlag := o.StateDir != "" && !exists
	if o.StateDir == "" {
		o.StateDir = relativeTo(configPath, DefaultStateDir)
	}
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return err
	}
	old, oldErr := ReadCredential(o.StateDir)

	cred, err := Enroll(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Enrolled: agent %s, connection %s, at %s.\n", cred.AgentID, cred.ConnectionID, o.RelayURL)
	if oldErr == nil {
		fmt.Fprintf(out, "This replaces the earlier credential of agent %s.\n", old.AgentID)
	}
	fmt.Fprintf(out, "The credential is in %s, readable by this account only.\n", filepath.Join(o.StateDir, CredentialFile))

	if !exists {
		stateDir := DefaultStateDir
		if stateDirFlag {
			stateDir = o.StateDir
		}
		if err := writeMinimalConfig(configPath, o, stateDir); err != nil {
			return fmt.Errorf("write %s: %w", configPath, err)
		}
		fmt.Fprintf(out, "Wrote %s: it runs the agent with this credential. Add the plant database to it "+
			"(the connection: section; every setting is described in configs/agent.yaml).\n", configPath)
	} else if cfg.Agent.ID != "" {
		fmt.Fprintf(out, "warning: %s sets agent.id (%s), which takes precedence over the enrolled credential; "+
			"remove agent.id and agent.secret from it so that the agent uses the new credential.\n", configPath, cfg.Agent.ID)
	}
	fmt.Fprintf(out, "\nNext:\n  plantbridge-agent diagnose --config %s\n  plantbridge-agent install --config %s && plantbridge-agent start\n"+
		"If the agent already runs as a service, restart it (plantbridge-agent stop, then start) to use the new credential.\n",
		quoteArg(configPath), quoteArg(configPath))
	return nil
}

// writeMinimalConfig writes an agent.yaml that needs nothing more to keep the tunnel up.
func writeMinimalConfig(path string, o EnrollOptions, stateDir string) error {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // JSON strings are YAML scalars
	var b strings.Builder
	fmt.Fprintf(&b, "# plantbridge-agent configuration, written by `plantbridge-agent enroll`.\n"+
		"# configs/agent.yaml describes every setting and its default. Check with:\n"+
		"#   plantbridge-agent check-config --config %s\nversion: 1\n\nrelay:\n  url: %s\n", quoteArg(path), q(o.RelayURL))
	if o.Proxy != "" {
		fmt.Fprintf(&b, "  proxy: %s\n", q(o.Proxy))
	}
	if o.CAFile != "" {
		ca, err := filepath.Abs(o.CAFile)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  ca_file: %s\n", q(ca))
	}
	fmt.Fprintf(&b, "\n# The agent's id and secret come from credential.json in the state dir.\nstate_dir: %s\n", q(stateDir))
	b.WriteString(`
# The plant database to sync. Until it is set, the agent only keeps the tunnel.
# connection:
#   system: maximo          # maximo, infor_eam, mp2, sap_pm or generic
#   driver: sqlserver       # sqlite, postgres, sqlserver or oracle
#   dsn_file: maximo.dsn    # a file holding the DSN (or dsn:, or PLANTBRIDGE_DB_DSN)
#   timezone: America/Chicago
`)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// 0600: the file may come to hold a proxy or database password.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// quoteArg quotes a path for a shell command line when it needs it.
func quoteArg(s string) string {
	if strings.ContainsAny(s, " \t'\"$&;|<>()") {
		return `"` + s + `"`
	}
	return s
}
