package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// TargetError says why a webhook URL or the address it resolves to is
// refused. Its message is safe to show to the API client.
type TargetError struct {
	Reason string
}

func (e *TargetError) Error() string { return "webhook target refused: " + e.Reason }

func refuse(format string, args ...any) error {
	return &TargetError{Reason: fmt.Sprintf(format, args...)}
}

// Resolver looks up host names; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// targetPolicy decides which URLs and addresses deliveries may go to.
// Webhook URLs come from API clients, so without it the relay would send
// requests into its own network on their behalf (SSRF).
type targetPolicy struct {
	allowHTTP, allowPrivate, allowLoopback bool
}

// Address ranges by how they are treated. Link-local (with cloud metadata
// services at 169.254.169.254), unspecified, multicast, broadcast and
// reserved addresses are never targets.
var (
	loopbackRanges = prefixes("127.0.0.0/8", "::1/128")
	privateRanges  = prefixes(
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // RFC 1918
		"100.64.0.0/10", // carrier-grade NAT
		"192.0.0.0/24",  // IETF protocol assignments
		"198.18.0.0/15", // benchmarking
		"fc00::/7",      // unique local
		"fec0::/10",     // deprecated site-local
	)
	neverRanges = prefixes(
		"0.0.0.0/8", "::/128", // unspecified, "this network"
		"169.254.0.0/16", "fe80::/10", // link-local
		"224.0.0.0/4", "ff00::/8", // multicast
		"240.0.0.0/4", // reserved, and the broadcast address
	)
	// Ranges that embed an IPv4 address, which is checked in their stead.
	nat64Range = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func inAny(ip netip.Addr, ranges []netip.Prefix) bool {
	for _, p := range ranges {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkAddr refuses an address the policy does not allow.
func (p targetPolicy) checkAddr(ip netip.Addr) error {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && (nat64Range.Contains(ip) || sixToFour.Contains(ip)) {
		b := ip.As16()
		embedded := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if sixToFour.Contains(ip) {
			embedded = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if err := p.checkAddr(embedded); err != nil {
			return refuse("%s embeds %s: %s", ip, embedded, err.(*TargetError).Reason)
		}
		return nil
	}
	switch {
	case !ip.IsValid():
		return refuse("no address")
	case inAny(ip, neverRanges):
		return refuse("%s is a link-local, multicast, unspecified or reserved address", ip)
	case inAny(ip, loopbackRanges):
		if !p.allowLoopback {
			return refuse("%s is a loopback address", ip)
		}
	case inAny(ip, privateRanges):
		if !p.allowPrivate {
			return refuse("%s is a private address", ip)
		}
	}
	return nil
}

// parseURL checks the form of a webhook URL: absolute, https (http only
// when allowed), a host, no user info.
func (p targetPolicy) parseURL(raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, refuse("the URL is longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refuse("not a URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.allowHTTP {
			return nil, refuse("the URL must use https")
		}
	default:
		if p.allowHTTP {
			return nil, refuse("the URL must use https or http")
		}
		return nil, refuse("the URL must use https")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, refuse("the URL must name a host")
	}
	if u.User != nil {
		// Credentials in the URL would be stored and shown in plain text;
		// receivers verify the signature instead.
		return nil, refuse("the URL must not contain a user name or password")
	}
	if u.Fragment != "" {
		return nil, refuse("the URL must not contain a fragment")
	}
	if port := u.Port(); port != "" {
		if n, err := net.LookupPort("tcp", port); err != nil || n == 0 {
			return nil, refuse("the URL's port is not valid")
		}
	}
	return u, nil
}

// resolveTimeout bounds the lookup of a host name when a URL is checked.
const resolveTimeout = 3 * time.Second

// checkURL checks a URL and the addresses its host resolves to now. A name
// that does not resolve is accepted: it may be set up later, and every
// connection is checked again when it is made (control).
func (p targetPolicy) checkURL(ctx context.Context, r Resolver, raw string) error {
	u, err := p.parseURL(raw)
	if err != nil {
		return err
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.checkAddr(ip)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if !p.allowLoopback {
			return refuse("%s is a loopback address", host)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, ip := range addrs {
		if err := p.checkAddr(ip); err != nil {
			return refuse("%s resolves to %s", host, err.(*TargetError).Reason)
		}
	}
	return nil
}

// control is the net.Dialer's Control: it checks the address each
// connection is about to be made to, after name resolution, so that a
// name that resolved to a public address when the URL was checked and to
// a private one now (DNS rebinding) is refused.
func (p targetPolicy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refuse("cannot check address %q", address)
	}
	return p.checkAddr(ap.Addr())
}

// targetErrorFrom finds a TargetError in a send error.
func targetErrorFrom(err error) (*TargetError, bool) {
	var te *TargetError
	ok := errors.As(err, &te)
	return te, ok
}
