package webhooks

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// fakeResolver answers from a table: a test stand-in for DNS, which this
// machine has none of.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := r[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	dns := fakeResolver{
		"hooks.example.com":     {"93.184.216.34"},
		"internal.example":      {"93.184.216.34", "10.1.2.3"},
		"metadata.example":      {"169.254.169.254"},
		"v6-private.example":    {"fd00::1"},
		"cgnat.example":         {"100.64.0.1"},
		"loopback.example":      {"127.0.0.1"},
		"nat64-private.example": {"64:ff9b::a00:1"},
	}
	strict := targetPolicy{}
	lab := targetPolicy{allowHTTP: true, allowPrivate: true, allowLoopback: true}
	for _, tc := range []struct {
		url    string
		policy targetPolicy
		ok     bool
	}{
		{"https://hooks.example.com/plantbridge", strict, true},
		{"https://hooks.example.com:8443/x?y=1", strict, true},
		{"https://unresolvable.example/x", strict, true}, // checked again when connecting
		{"https://93.184.216.34/x", strict, true},
		{"http://hooks.example.com/x", strict, false},
		{"http://hooks.example.com/x", lab, true},
		{"ftp://hooks.example.com/x", lab, false},
		{"hooks.example.com/x", strict, false},
		{"/relative", strict, false},
		{"https://", strict, false},
		{"https://user:pw@hooks.example.com/x", strict, false},
		{"https://hooks.example.com/x#frag", strict, false},
		{"https://hooks.example.com:99999/x", strict, false},
		{"https://hooks.example.com:0/x", strict, false},
		{"https://hooks.example.com/\x7f", strict, false},
		{"https://127.0.0.1/x", strict, false},
		{"https://127.0.0.1/x", lab, true},
		{"https://[::1]/x", strict, false},
		{"https://localhost/x", strict, false},
		{"https://api.localhost/x", strict, false},
		{"https://localhost/x", lab, true},
		{"https://loopback.example/x", strict, false},
		{"https://10.0.0.1/x", strict, false},
		{"https://172.16.5.4/x", strict, false},
		{"https://192.168.1.1/x", strict, false},
		{"https://192.168.1.1/x", lab, true},
		{"https://100.64.0.1/x", strict, false},
		{"https://cgnat.example/x", strict, false},
		{"https://internal.example/x", strict, false},
		{"https://v6-private.example/x", strict, false},
		{"https://[fd12::1]/x", strict, false},
		{"https://[::ffff:10.0.0.1]/x", strict, false},
		{"https://[::ffff:127.0.0.1]/x", strict, false},
		{"https://nat64-private.example/x", strict, false},
		{"https://[2002:a00:1::1]/x", strict, false},
		{"https://[2002:5db8:d822::1]/x", strict, true},
		{"https://169.254.169.254/latest/meta-data", lab, false},
		{"https://metadata.example/x", lab, false},
		{"https://[fe80::1]/x", lab, false},
		{"https://0.0.0.0/x", lab, false},
		{"https://[::]/x", lab, false},
		{"https://224.0.0.1/x", lab, false},
		{"https://255.255.255.255/x", lab, false},
	} {
		err := tc.policy.checkURL(context.Background(), dns, tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("%q (%+v): %v, want ok=%v", tc.url, tc.policy, err, tc.ok)
		}
		if _, isTarget := targetErrorFrom(err); err != nil && !isTarget {
			t.Errorf("%q: %T is not a TargetError", tc.url, err)
		}
	}
}

func TestDialControl(t *testing.T) {
	strict := targetPolicy{}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.216.34:443", true},
		{"[2606:2800:220:1::1]:443", true},
		{"127.0.0.1:8080", false},
		{"10.0.0.1:443", false},
		{"[fe80::1%eth0]:443", false},
		{"not-an-address", false},
	} {
		if err := strict.control("tcp", tc.addr, nil); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := DefaultBackoff
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second,
		12: 20480 * time.Second, 13: 6 * time.Hour, 100: 6 * time.Hour} {
		if got := b.Cap(n); got != want {
			t.Errorf("Cap(%d) = %s, want %s", n, got, want)
		}
	}
	queued := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// Full jitter: anywhere from now to the cap.
	if next, ok := b.Next(3, queued, queued.Add(time.Minute), 0); !ok || !next.Equal(queued.Add(time.Minute)) {
		t.Errorf("jitter 0: %v %v", next, ok)
	}
	if next, ok := b.Next(3, queued, queued.Add(time.Minute), 0.5); !ok || !next.Equal(queued.Add(time.Minute+20*time.Second)) {
		t.Errorf("jitter 0.5: %v %v", next, ok)
	}
	// The last attempt is at the window's end; after it, none.
	if next, ok := b.Next(20, queued, queued.Add(23*time.Hour), 0.99); !ok || !next.Equal(queued.Add(24*time.Hour)) {
		t.Errorf("near the end: %v %v", next, ok)
	}
	if _, ok := b.Next(21, queued, queued.Add(24*time.Hour), 0.5); ok {
		t.Error("retry after the window")
	}

	// The schedule in the doc comment: with average jitter a receiver that
	// is down gets about 17 to 20 attempts over the day.
	now, attempts := queued, 1
	for {
		next, ok := b.Next(attempts, queued, now, 0.5)
		if !ok {
			break
		}
		now, attempts = next, attempts+1
	}
	if attempts < 17 || attempts > 20 || !now.Equal(queued.Add(24*time.Hour)) {
		t.Errorf("average schedule: %d attempts, last at %s", attempts, now.Sub(queued))
	}
	if c := b.Cap(math.MaxInt32); c != b.Max {
		t.Errorf("Cap(huge) = %s", c)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-5":                            0,
		"999999":                        maxRetryAfter,
		"soon":                          0,
		"Sun, 01 Mar 2026 00:05:00 GMT": 5 * time.Minute,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q = %s, want %s", v, got, want)
		}
	}
}
