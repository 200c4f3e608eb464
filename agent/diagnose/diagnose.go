// Package diagnose checks, one step at a time, everything the agent needs to work, and
// reports each step in plain language with the fix when it fails: the config, the way to
// the relay (DNS, TCP, proxy, TLS, websocket upgrade, agent credential) and the plant
// database (client library, reachability, login, read permission on each mapped table).
//
// A later step that depends on a failed one is reported as skipped rather than failing
// again, so the first FAIL is the one to fix. Nothing in the report shows a secret: the
// agent secret and the database and proxy passwords are replaced by *** wherever they
// would appear.
package diagnose

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/plantbridge/plantbridge/agent"
	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/profiles"
	"github.com/plantbridge/plantbridge/internal/version"
	"github.com/plantbridge/plantbridge/tunnel"
)

// Result is the outcome of one check.
type Result string

// Results.
const (
	OK   Result = "OK"
	Fail Result = "FAIL"
	// Warn is a check that passed with something plant IT should know.
	Warn Result = "WARN"
	// Skip is a check that was not run, because it does not apply or an earlier one failed.
	Skip Result = "SKIP"
)

// Check is one line of the report.
type Check struct {
	Name   string `json:"name"`
	Result Result `json:"result"`
	Detail string `json:"detail"`
	// Fix says what to do, for FAIL and WARN.
	Fix string `json:"fix,omitempty"`
}

// Report is the outcome of every check, in order.
type Report struct {
	ConfigPath string  `json:"config"`
	Checks     []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Result == Fail {
			return true
		}
	}
	return false
}

// Find returns the check with the given name.
func (r *Report) Find(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// Write prints the report for plant IT.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "plantbridge-agent %s diagnose, config %s\n\n", version.Version, r.ConfigPath)
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	pad := strings.Repeat(" ", 6+width+2)
	failed := 0
	for _, c := range r.Checks {
		lines := strings.Split(c.Detail, "\n")
		fmt.Fprintf(w, "%-6s%-*s  %s\n", c.Result, width, c.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%s%s\n", pad, l)
		}
		if c.Fix != "" {
			fmt.Fprintf(w, "%sfix: %s\n", pad, c.Fix)
		}
		if c.Result == Fail {
			failed++
		}
	}
	fmt.Fprintln(w)
	switch failed {
	case 0:
		fmt.Fprintln(w, "No check failed.")
	case 1:
		fmt.Fprintln(w, "1 check failed.")
	default:
		fmt.Fprintf(w, "%d checks failed; fix the first one first, as later checks may depend on it.\n", failed)
	}
}

// Options configures Run.
type Options struct {
	// ConfigPath is agent.yaml.
	ConfigPath string
	// Timeout bounds each network step. Default 10 s.
	Timeout time.Duration
	// Logger receives the tunnel client's logs during the handshake check. Default: none.
	Logger *slog.Logger
}

// Run runs every check and returns the report.
func Run(ctx context.Context, o Options) *Report {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	path, err := filepath.Abs(o.ConfigPath)
	if err != nil {
		path = o.ConfigPath
	}
	d := &diagnosis{o: o, r: &Report{ConfigPath: path}}
	if !d.config(path) {
		return d.r
	}
	d.stateDir()
	d.relay(ctx)
	d.database(ctx)
	return d.r
}

// diagnosis is one run of the checks.
type diagnosis struct {
	o     Options
	r     *Report
	cfg   agent.Config
	scrub agent.Scrubber
}

// add appends a check, with every secret scrubbed from its text.
func (d *diagnosis) add(name string, res Result, detail, fix string) {
	d.r.Checks = append(d.r.Checks, Check{Name: name, Result: res, Detail: d.scrub.String(detail), Fix: d.scrub.String(fix)})
}

// config loads agent.yaml; it reports whether the other checks can run at all.
func (d *diagnosis) config(path string) bool {
	cfg, err := agent.LoadConfig(path)
	d.cfg = cfg
	// Scrub before reporting anything: even a config error may quote a secret.
	d.scrub = agent.NewScrubber(cfg.Secrets()...)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !fileExists(path) {
			d.add("config", Fail, fmt.Sprintf("%s does not exist", path),
				"give the config file with --config, or create one: plantbridge-agent enroll --relay URL --token TOKEN writes a minimal one")
			return false
		}
		d.add("config", Fail, err.Error(), "correct these settings (configs/agent.yaml describes every one), then run diagnose again")
		return true
	}
	who := "from agent.yaml"
	if cred, err := agent.ReadCredential(cfg.StateDir); err == nil && cred.AgentID == cfg.Agent.ID && cred.Secret == cfg.Agent.Secret {
		who = "enrolled"
	}
	d.add("config", OK, fmt.Sprintf("valid; agent %s (credential %s)", cfg.Agent.ID, who), "")
	return true
}

// stateDir checks that the state directory and credential are private to the agent's
// account. File modes mean nothing on Windows, where the directory gets an ACL instead.
func (d *diagnosis) stateDir() {
	dir := d.cfg.StateDir
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.add("state dir", OK, dir+" does not exist yet; the agent creates it, readable by its account only", "")
		return
	case err != nil:
		d.add("state dir", Fail, err.Error(), "make the state dir readable and writable by the agent's account")
		return
	case runtime.GOOS == "windows":
		d.add("state dir", OK, dir, "")
		return
	}
	var open []string
	if st.Mode().Perm()&0o077 != 0 {
		open = append(open, fmt.Sprintf("%s is mode %04o", dir, st.Mode().Perm()))
	}
	cred := filepath.Join(dir, agent.CredentialFile)
	if cst, err := os.Stat(cred); err == nil && cst.Mode().Perm()&0o077 != 0 {
		open = append(open, fmt.Sprintf("%s is mode %04o", cred, cst.Mode().Perm()))
	}
	if len(open) > 0 {
		d.add("state dir", Warn, strings.Join(open, "; ")+": other accounts may read the agent's credential",
			"chmod 700 "+dir+" and chmod 600 "+cred)
		return
	}
	d.add("state dir", OK, dir+" is readable by its owner only", "")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// relay checks the way to the relay, step by step.
func (d *diagnosis) relay(ctx context.Context) {
	dc := tunnel.DialerConfig{RelayURL: d.cfg.Relay.URL, Proxy: d.cfg.Relay.Proxy, CAFile: d.cfg.Relay.CAFile}
	dl, err := tunnel.NewDialer(dc)
	if err != nil {
		d.add("relay", Skip, "cannot check the relay: "+err.Error(), "")
		return
	}
	conn, ok := d.reach(ctx, dl)
	if !ok {
		for _, n := range []string{"TLS", "websocket", "credential"} {
			d.add(n, Skip, "not tried: the relay cannot be reached", "")
		}
		return
	}
	ok = d.tls(ctx, dl, conn)
	if !ok {
		for _, n := range []string{"websocket", "credential"} {
			d.add(n, Skip, "not tried: no TLS connection to the relay", "")
		}
		return
	}
	d.tunnel(ctx, dc, dl)
}

// reach checks DNS, TCP and the proxy, and returns a connection to the relay.
func (d *diagnosis) reach(ctx context.Context, dl *tunnel.Dialer) (net.Conn, bool) {
	relayHost := dl.URL.Hostname()
	first := dl.RelayAddr()
	if dl.Proxy != nil {
		first = dl.ProxyAddr()
	}
	firstHost, _, _ := net.SplitHostPort(first)

	if !d.dns(ctx, "DNS", firstHost, dl.Proxy != nil) {
		d.add("TCP", Skip, "not tried: the name does not resolve", "")
		return nil, false
	}
	if dl.Proxy != nil {
		// The proxy resolves the relay's name; this machine need not.
		if addrs, err := d.lookup(ctx, relayHost); err == nil {
			d.add("relay DNS", OK, fmt.Sprintf("%s resolves to %s (the proxy resolves it again for itself)", relayHost, strings.Join(addrs, ", ")), "")
		} else {
			d.add("relay DNS", OK, fmt.Sprintf("%s does not resolve here, which is fine behind a proxy: the proxy resolves it", relayHost), "")
		}
	}

	tctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	what := "relay " + first
	if dl.Proxy != nil {
		what = "proxy " + first
	}
	c, err := dl.Net.DialContext(tctx, "tcp", first)
	if err != nil {
		d.add("TCP", Fail, fmt.Sprintf("cannot connect to %s: %s", what, netReason(err, d.o.Timeout)), tcpFix(err, first, dl.Proxy != nil))
		if dl.Proxy != nil {
			d.add("proxy CONNECT", Skip, "not tried: the proxy cannot be reached", "")
		}
		return nil, false
	}
	d.add("TCP", OK, "connected to "+what, "")
	if dl.Proxy == nil {
		d.add("proxy", Skip, "none configured (relay.proxy, HTTPS_PROXY): connecting directly", "")
		return c, true
	}
	c.Close()
	// DialContext redoes TCP and sends the CONNECT, exactly as the tunnel does.
	c, err = dl.DialContext(tctx, "tcp", "")
	if err != nil {
		var pe *tunnel.ProxyError
		fix := "ask network IT to allow CONNECT from this machine to " + dl.RelayAddr()
		if errors.As(err, &pe) && (pe.StatusCode == 407 || pe.StatusCode == 401) {
			fix = "set the proxy user and password in relay.proxy as http://user:password@" + first +
				" (or in HTTPS_PROXY); ask network IT for an account that may use the proxy"
		}
		d.add("proxy CONNECT", Fail, err.Error(), fix)
		return nil, false
	}
	d.add("proxy CONNECT", OK, fmt.Sprintf("proxy %s opened a tunnel to %s", first, dl.RelayAddr()), "")
	return c, true
}

// dns checks that host resolves.
func (d *diagnosis) dns(ctx context.Context, name, host string, proxy bool) bool {
	if net.ParseIP(host) != nil {
		d.add(name, OK, host+" is an IP address; nothing to resolve", "")
		return true
	}
	addrs, err := d.lookup(ctx, host)
	what := "the relay's host name"
	if proxy {
		what = "the proxy's host name"
	}
	if err != nil {
		d.add(name, Fail, fmt.Sprintf("%s %s does not resolve: %v", what, host, dnsReason(err)),
			"check the name in the config and this machine's DNS servers; a plant network without outside DNS needs a proxy (relay.proxy)")
		return false
	}
	d.add(name, OK, fmt.Sprintf("%s resolves to %s", host, strings.Join(addrs, ", ")), "")
	return true
}

func (d *diagnosis) lookup(ctx context.Context, host string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	return net.DefaultResolver.LookupHost(ctx, host)
}

func dnsReason(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			return "no such host"
		case de.IsTimeout:
			return "the DNS server did not answer"
		}
		return de.Err
	}
	return err.Error()
}

func netReason(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens there"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to it from this machine"
	}
	return err.Error()
}

func tcpFix(err error, addr string, proxy bool) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		if proxy {
			return "check the proxy's address and port in relay.proxy (or HTTPS_PROXY)"
		}
		return "check that the relay is up and that the port in relay.url is right"
	}
	return "ask network IT to allow outbound TCP from this machine to " + addr
}

// tls runs the TLS handshake over conn and says who issued the relay's certificate.
func (d *diagnosis) tls(ctx context.Context, dl *tunnel.Dialer, conn net.Conn) bool {
	defer conn.Close()
	host := dl.URL.Hostname()
	if dl.URL.Scheme == "ws" {
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			d.add("TLS", Skip, "ws:// relay on this machine: no TLS, as for development", "")
		} else {
			d.add("TLS", Warn, "ws:// relay: the tunnel is not encrypted", "use wss:// in relay.url; ws:// is for loopback and development only")
		}
		return true
	}
	tctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	tc, err := dl.Handshake(tctx, conn)
	if err != nil {
		var te *tunnel.TLSError
		if errors.As(err, &te) {
			d.add("TLS", Fail, err.Error(), "ask network IT for the CA certificate (PEM) of whatever signs this certificate, "+
				"and set relay.ca_file to it")
		} else {
			d.add("TLS", Fail, "TLS handshake with "+host+" failed: "+err.Error(),
				"check that relay.url names the relay's TLS port, and whether a firewall cuts TLS connections to it")
		}
		return false
	}
	defer tc.Close()
	cs := tc.ConnectionState()
	leaf := cs.PeerCertificates[0]
	detail := fmt.Sprintf("certificate for %s issued by %s, valid until %s", host, issuerName(leaf),
		leaf.NotAfter.Format("2006-01-02"))
	if d.cfg.Relay.CAFile != "" && !systemTrusts(leaf, cs.PeerCertificates[1:], host) {
		detail += "; trusted only through relay.ca_file: a TLS-inspecting proxy or a private CA re-signs it"
	}
	d.add("TLS", OK, detail, "")
	return true
}

func issuerName(c *x509.Certificate) string {
	name := c.Issuer.CommonName
	if len(c.Issuer.Organization) > 0 {
		if name != "" {
			name += ", "
		}
		name += c.Issuer.Organization[0]
	}
	if name == "" {
		name = c.Issuer.String()
	}
	return fmt.Sprintf("%q", name)
}

// systemTrusts reports whether the system's CAs alone verify the certificate.
func systemTrusts(leaf *x509.Certificate, chain []*x509.Certificate, host string) bool {
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter})
	return err == nil
}

// tunnel opens the tunnel as the agent does: the websocket upgrade and the relay's check
// of the agent credential happen in that one handshake.
func (d *diagnosis) tunnel(ctx context.Context, dc tunnel.DialerConfig, dl *tunnel.Dialer) {
	a := d.cfg.Agent
	if a.ID == "" || a.Secret == "" {
		d.add("websocket", Skip, "not tried: the agent has no credential", "")
		d.add("credential", Fail, "the agent has no credential", "enroll the agent: plantbridge-agent enroll --relay "+
			d.cfg.Relay.URL+" --token TOKEN")
		return
	}
	// A second tunnel of the same agent would replace the running agent's; when that agent
	// reports itself connected, its word is the check.
	if st, err := agent.ReadStatusFile(d.cfg.StateDir); err == nil && st.Tunnel.Connected && st.Live(time.Now()) && st.AgentID == a.ID {
		d.add("websocket", OK, fmt.Sprintf("the running agent (pid %d) has its tunnel up since %s", st.PID,
			st.Tunnel.ConnectedSince.Format(time.RFC3339)), "")
		d.add("credential", OK, fmt.Sprintf("the relay accepts agent %s (the running agent is connected; diagnose opened no second tunnel, which would replace it)", a.ID), "")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout+5*time.Second)
	defer cancel()
	result := make(chan tunnel.Event, 1)
	host, _ := os.Hostname()
	c, err := tunnel.NewClient(tunnel.ClientConfig{
		Dialer:           dc,
		Hello:            tunnel.Hello{AgentID: a.ID, Secret: a.Secret, Version: version.Version, Hostname: host, OS: runtime.GOOS + "/" + runtime.GOARCH},
		Logger:           d.o.Logger,
		HandshakeTimeout: d.o.Timeout,
		OnEvent: func(e tunnel.Event) {
			switch e.Kind {
			case tunnel.EventConnect, tunnel.EventConnectFailed, tunnel.EventAuthFailed:
				select {
				case result <- e:
				default:
				}
				cancel()
			}
		},
	})
	if err != nil {
		d.add("websocket", Skip, "not tried: "+err.Error(), "")
		d.add("credential", Fail, err.Error(), "enroll the agent again: plantbridge-agent enroll --relay "+d.cfg.Relay.URL+" --token TOKEN")
		return
	}
	c.Run(ctx)
	var e tunnel.Event
	select {
	case e = <-result:
	default:
		d.add("websocket", Fail, fmt.Sprintf("no answer to the tunnel upgrade within %v", d.o.Timeout),
			"something between this machine and the relay holds the connection; ask network IT to allow websocket traffic to "+dl.RelayAddr())
		d.add("credential", Skip, "not tried: no tunnel", "")
		return
	}
	switch e.Kind {
	case tunnel.EventConnect:
		d.add("websocket", OK, fmt.Sprintf("%s accepted the tunnel upgrade (connection %s)", dl.URL.Redacted(), e.ConnID), "")
		d.add("credential", OK, fmt.Sprintf("the relay accepts agent %s", a.ID), "")
	case tunnel.EventAuthFailed:
		d.add("websocket", OK, "the relay's tunnel endpoint answered", "")
		fix := "enroll the agent again with a new enrollment token: plantbridge-agent enroll --relay " + d.cfg.Relay.URL +
			" --token TOKEN; then restart the service"
		if cred, err := agent.ReadCredential(d.cfg.StateDir); err != nil || cred.AgentID != a.ID {
			fix = "agent.id and the secret in agent.yaml (or PLANTBRIDGE_AGENT_SECRET) do not match what the relay knows; " +
				"correct them, or remove them and enroll: plantbridge-agent enroll --relay " + d.cfg.Relay.URL + " --token TOKEN"
		}
		d.add("credential", Fail, fmt.Sprintf("the relay refused the credential of agent %s (401): it is wrong, revoked, or was replaced by a newer enrollment", a.ID), fix)
	default:
		d.add("websocket", Fail, e.Detail, "if a proxy or firewall inspects HTTP, ask network IT to let websocket upgrades "+
			"(Connection: Upgrade) through to "+dl.RelayAddr()+"; otherwise check that relay.url is the relay's address")
		d.add("credential", Skip, "not tried: no tunnel", "")
	}
}

// database checks the plant database: client library, network, login, and read
// permission on each mapped table.
func (d *diagnosis) database(ctx context.Context) {
	c := d.cfg.Connection
	if c == nil {
		d.add("database", Skip, "no connection section: the agent only keeps the tunnel", "")
		return
	}
	if c.DSN == "" {
		d.add("database", Skip, "no DSN configured (see the config check)", "")
		return
	}
	where := fmt.Sprintf("%s %s", c.Driver, agent.MaskDSN(c.DSN))
	dia, err := dialect.ByName(c.Driver)
	if err != nil {
		d.add("database", Skip, err.Error(), "")
		return
	}
	if c.Driver == "sqlite" {
		file := strings.TrimPrefix(strings.SplitN(c.DSN, "?", 2)[0], "file:")
		if !fileExists(file) {
			// Opening it would create an empty database.
			d.add("database reachable", Fail, fmt.Sprintf("%s: the file does not exist", where), "check connection.dsn")
			d.add("database login", Skip, "not tried", "")
			return
		}
	}
	db, err := dia.Open(c.DSN)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
		err = db.PingContext(pctx)
		cancel()
		db.Close()
	}
	if c.Driver == "oracle" {
		if oracleClientMissing(err) {
			d.add("Oracle client", Fail, "the Oracle client library is not installed or not found: "+err.Error(),
				"install Oracle Instant Client (Basic or Basic Light, 64-bit) and put its directory on LD_LIBRARY_PATH (Linux) "+
					"or PATH (Windows) for the agent's service, then restart it")
			d.add("database reachable", Skip, "not tried: no Oracle client", "")
			return
		}
		d.add("Oracle client", OK, "the Oracle client library loads", "")
	}
	switch cls := connectors.Classify(err); {
	case err == nil:
		d.add("database reachable", OK, where, "")
		d.add("database login", OK, "logged in", "")
	case cls == connectors.AuthFailed:
		d.add("database reachable", OK, where+" answered", "")
		d.add("database login", Fail, "the database refused the login: "+err.Error(),
			"check the user and password in the DSN (connection.dsn_file, connection.dsn or PLANTBRIDGE_DB_DSN); "+
				"the account may also be locked or its password expired")
		return
	case cls == connectors.Unreachable:
		d.add("database reachable", Fail, where+": "+err.Error(),
			"check the host and port in the DSN, that the database server runs, and that no firewall blocks this machine")
		d.add("database login", Skip, "not tried: the database cannot be reached", "")
		return
	default:
		d.add("database reachable", Fail, fmt.Sprintf("%s: %v (%s)", where, err, cls), "check the DSN")
		d.add("database login", Skip, "not tried", "")
		return
	}
	d.tables(ctx)
}

func oracleClientMissing(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "DPI-1047") || strings.Contains(m, "Oracle Client library") || strings.Contains(m, "needs a cgo build")
}

// tables reads one record of every mapped model, which needs read permission on every
// table its mapping joins.
func (d *diagnosis) tables(ctx context.Context) {
	c := d.cfg.Connection
	octx, cancel := context.WithTimeout(ctx, 3*d.o.Timeout)
	defer cancel()
	conn, err := connectors.Open(octx, connectors.Config{ConnectionID: d.cfg.Agent.ConnectionID, System: c.System,
		Driver: c.Driver, DSN: c.DSN, Location: c.Location(), Logger: d.o.Logger})
	if err != nil {
		d.readFailed("mapping", err)
		return
	}
	defer conn.Close()
	served := conn.Models()
	prof, _ := profiles.Load(c.System)
	models := d.cfg.Sync.Models
	if len(models) == 0 {
		// Every model the connection serves, and those of the profile it cannot.
		models = slices.Clone(served)
		if prof != nil {
			models = append(models, profiles.SortedKeys(prof.Models)...)
		}
		slices.Sort(models)
		models = slices.Compact(models)
	}
	table := func(m string) string {
		if prof != nil && prof.Models[m] != nil {
			return prof.Models[m].Table
		}
		return ""
	}
	// Why a profile model is not served: the missing table, key or change column.
	unserved := conn.UnservedReasons()
	for _, m := range models {
		name := "read " + m
		if !slices.Contains(served, m) {
			why := unserved[m]
			if why == "" {
				why = fmt.Sprintf("table %s is not in the database", table(m))
			}
			d.add(name, Warn, fmt.Sprintf("not synced: %s, or this database user cannot see it", why),
				fmt.Sprintf("if it exists, grant the agent's database user SELECT on it; if this database keeps %s elsewhere, map it with a field-mapping override (models.%s.source)", m, m))
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 3*d.o.Timeout)
		err := conn.Read(rctx, connectors.ReadRequest{Model: m, Full: true, BatchSize: 1}, func(connectors.Batch) error {
			return errEnough
		})
		cancel()
		if err != nil && !errors.Is(err, errEnough) {
			d.readFailed(name, err)
			continue
		}
		detail := "can read"
		if t := table(m); t != "" {
			detail = "can read table " + t
		}
		d.add(name, OK, detail, "")
	}
}

var errEnough = errors.New("one batch is enough")

func (d *diagnosis) readFailed(name string, err error) {
	var ce *connectors.Error
	tbl := ""
	if errors.As(err, &ce) && ce.Table != "" {
		tbl = ce.Table
	}
	switch connectors.Classify(err) {
	case connectors.PermissionDenied:
		what := "a mapped table"
		if tbl != "" {
			what = "table " + tbl
		}
		d.add(name, Fail, fmt.Sprintf("permission denied on %s: %v", what, err),
			fmt.Sprintf("grant the agent's database user SELECT on %s", what))
	case connectors.BadRequest:
		d.add(name, Fail, err.Error(), "the mapping does not fit this database; check connection.system, or the mapping overrides")
	default:
		d.add(name, Fail, err.Error(), "")
	}
}
