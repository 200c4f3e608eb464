package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// TunnelPath is where the relay accepts agent tunnels.
const TunnelPath = "/v1/tunnel"

// Dialer opens the agent's outbound connection to the relay: directly or through an HTTP
// CONNECT proxy, with the system's CAs plus an optional extra CA for TLS-inspecting
// proxies. Its steps are exported so that diagnose can run and report them one by one.
type Dialer struct {
	// URL is the tunnel URL (ws:// or wss://).
	URL *url.URL
	// Proxy is the HTTP proxy to go through, nil for a direct connection.
	Proxy *url.URL
	// TLS is the client TLS configuration for wss:// relays.
	TLS *tls.Config
	// Net dials TCP connections (to the relay or to the proxy).
	Net net.Dialer
}

// DialerConfig is what NewDialer needs.
type DialerConfig struct {
	// RelayURL is the relay's base URL: wss://host[:port] (ws:// for loopback and dev;
	// http(s):// is accepted as a synonym). The tunnel path is added when absent.
	RelayURL string
	// Proxy is an explicit proxy URL (http://[user:pass@]host:port). When empty, the
	// HTTPS_PROXY, HTTP_PROXY and NO_PROXY environment variables decide; as in every Go
	// program, they never apply to a loopback relay.
	Proxy string
	// CAFile is a PEM file of extra CAs to trust, for proxies that re-sign TLS.
	CAFile string
}

// NewDialer validates cfg and prepares a Dialer.
func NewDialer(cfg DialerConfig) (*Dialer, error) {
	u, err := TunnelURL(cfg.RelayURL)
	if err != nil {
		return nil, err
	}
	d := &Dialer{URL: u, Net: net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}}
	d.Proxy, err = proxyFor(u, cfg.Proxy)
	if err != nil {
		return nil, err
	}
	d.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if cfg.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read relay CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("relay CA file %s holds no PEM certificate", cfg.CAFile)
		}
		d.TLS.RootCAs = pool
	}
	return d, nil
}

// TunnelURL turns a relay base URL into its tunnel URL.
func TunnelURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("relay URL is empty")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("relay URL: %w", err)
	}
	switch u.Scheme {
	case "wss", "https":
		u.Scheme = "wss"
	case "ws", "http":
		u.Scheme = "ws"
	default:
		return nil, fmt.Errorf("relay URL %q: scheme must be wss:// (or ws:// for loopback and development)", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("relay URL %q has no host", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = TunnelPath
	}
	return u, nil
}

// proxyFor picks the proxy for the tunnel URL: the explicit one, else the environment's.
func proxyFor(u *url.URL, explicit string) (*url.URL, error) {
	if explicit != "" {
		p, err := url.Parse(explicit)
		if err != nil {
			return nil, fmt.Errorf("proxy URL: %w", err)
		}
		if p.Scheme != "http" || p.Host == "" {
			return nil, fmt.Errorf("proxy URL %q: must be http://[user:password@]host:port", redactURL(p))
		}
		return p, nil
	}
	// The environment's rules are written for http(s) URLs. Read afresh each time (unlike
	// http.ProxyFromEnvironment, which reads once per process) so a service restart is not
	// needed after plant IT fixes the variables.
	probe := *u
	probe.Scheme = map[string]string{"wss": "https", "ws": "http"}[u.Scheme]
	p, err := httpproxy.FromEnvironment().ProxyFunc()(&probe)
	if err != nil {
		return nil, fmt.Errorf("proxy from environment: %w", err)
	}
	return p, nil
}

// RelayAddr returns the relay's host:port, with the scheme's default port.
func (d *Dialer) RelayAddr() string {
	if d.URL.Port() != "" {
		return d.URL.Host
	}
	if d.URL.Scheme == "wss" {
		return net.JoinHostPort(d.URL.Hostname(), "443")
	}
	return net.JoinHostPort(d.URL.Hostname(), "80")
}

// DialContext opens a TCP connection to the relay, through the proxy if there is one.
// The network and address arguments are ignored: the dialer only ever reaches the relay.
func (d *Dialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	target := d.RelayAddr()
	if d.Proxy == nil {
		c, err := d.Net.DialContext(ctx, "tcp", target)
		if err != nil {
			return nil, &DialError{Step: "connect to relay " + target, Err: err}
		}
		return c, nil
	}
	return d.connectVia(ctx, target)
}

// Handshake runs the TLS handshake with the relay over conn (from DialContext). A
// certificate that does not verify comes back as a *TLSError that says what to do. conn
// is closed when the handshake fails.
func (d *Dialer) Handshake(ctx context.Context, conn net.Conn) (*tls.Conn, error) {
	tc := tls.Client(conn, d.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, explainTLS(d.URL.Hostname(), err)
	}
	return tc, nil
}

// HTTPURL returns the URL of path on the relay's public HTTP listener: https:// for a
// wss:// relay, http:// for ws://, under the same path prefix as the tunnel.
func (d *Dialer) HTTPURL(path string) string {
	u := *d.URL
	u.Scheme = map[string]string{"wss": "https", "ws": "http"}[u.Scheme]
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), TunnelPath) + path
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String()
}

// HTTPClient returns a client for the relay's public HTTP endpoints (enrollment) that
// reaches the relay exactly as the tunnel does: through the same proxy, trusting the same
// CAs, with the same explanations when that fails. It only ever connects to the relay,
// whatever the request's URL says, so it must not be given other URLs.
func (d *Dialer) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: d.DialContext,
			DialTLSContext: func(ctx context.Context, network, address string) (net.Conn, error) {
				conn, err := d.DialContext(ctx, network, address)
				if err != nil {
					return nil, err
				}
				return d.Handshake(ctx, conn)
			},
			// The relay is reached once per command; nothing to keep idle.
			DisableKeepAlives: true,
		},
		// A redirect could point anywhere, but the dialer only reaches the relay.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ProxyError is a refusal from the HTTP proxy.
type ProxyError struct {
	Proxy      string // proxy host:port
	StatusCode int
	Status     string
}

func (e *ProxyError) Error() string {
	switch e.StatusCode {
	case http.StatusProxyAuthRequired, http.StatusUnauthorized: // some proxies answer 401
		return fmt.Sprintf("proxy %s refused the tunnel: proxy authentication required or wrong (%d); set user and password in relay.proxy as http://user:password@host:port", e.Proxy, e.StatusCode)
	case http.StatusForbidden:
		return fmt.Sprintf("proxy %s forbids CONNECT to the relay (403); ask for the relay host and port to be allowed", e.Proxy)
	}
	return fmt.Sprintf("proxy %s refused CONNECT: %s", e.Proxy, e.Status)
}

// DialError says which step of reaching the relay failed.
type DialError struct {
	Step string
	Err  error
}

func (e *DialError) Error() string { return e.Step + ": " + explainNetErr(e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

func explainNetErr(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot resolve %s (%v); check DNS or the host name", dns.Name, dns.Err)
	}
	return err.Error()
}

// ProxyAddr returns the proxy's host:port (port 8080 if the proxy URL names none), or ""
// for a direct connection.
func (d *Dialer) ProxyAddr() string {
	if d.Proxy == nil {
		return ""
	}
	if d.Proxy.Port() == "" {
		return net.JoinHostPort(d.Proxy.Hostname(), "8080")
	}
	return d.Proxy.Host
}

// connectVia opens a tunnel to target through the HTTP proxy with CONNECT. It is done by
// hand rather than through http.Transport.Proxy so that a plain ws:// relay also goes
// through CONNECT (proxies mangle forwarded upgrade requests) and so that a refusal can
// be explained.
func (d *Dialer) connectVia(ctx context.Context, target string) (net.Conn, error) {
	proxyAddr := d.ProxyAddr()
	c, err := d.Net.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, &DialError{Step: "connect to proxy " + proxyAddr, Err: err}
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: target},
		Host:   target,
		Header: http.Header{},
	}
	if u := d.Proxy.User; u != nil {
		pass, _ := u.Password()
		cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pass))
		req.Header.Set("Proxy-Authorization", "Basic "+cred)
	}
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, &DialError{Step: "send CONNECT to proxy " + proxyAddr, Err: err}
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, &DialError{Step: "read CONNECT answer from proxy " + proxyAddr, Err: err}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, &ProxyError{Proxy: proxyAddr, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		// The proxy sent bytes past its answer; they belong to the relay.
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TLSError explains a relay certificate that did not verify.
type TLSError struct {
	Host   string
	Issuer string
	Err    error
}

func (e *TLSError) Error() string {
	msg := fmt.Sprintf("relay certificate for %s did not verify (%v)", e.Host, e.Err)
	if e.Issuer != "" {
		msg += fmt.Sprintf("; it was issued by %q", e.Issuer)
	}
	return msg + ": something between this agent and the relay re-signs TLS (a TLS-inspecting proxy or firewall). " +
		"Ask network IT for that CA and set relay.ca_file to it, or have the relay host exempted from inspection"
}

func (e *TLSError) Unwrap() error { return e.Err }

// explainTLS wraps certificate verification failures in a TLSError.
func explainTLS(host string, err error) error {
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		te := &TLSError{Host: host, Err: verr.Err}
		if len(verr.UnverifiedCertificates) > 0 {
			te.Issuer = verr.UnverifiedCertificates[0].Issuer.String()
		}
		return te
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		te := &TLSError{Host: host, Err: ua}
		if ua.Cert != nil {
			te.Issuer = ua.Cert.Issuer.String()
		}
		return te
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return &TLSError{Host: host, Err: he}
	}
	return err
}

func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User(u.User.Username())
	return c.String()
}
