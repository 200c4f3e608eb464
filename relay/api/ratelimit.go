package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter is a token bucket per API key: rate tokens a second up to burst.
type limiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take spends one token of key. It returns whether the request may go ahead, the
// tokens left, and how long until the bucket is full again (RateLimit-Reset) or, when
// refused, until one token is back (Retry-After).
func (l *limiter) take(key string) (ok bool, remaining int, wait time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[key]
	if !found {
		if len(l.buckets) > 100000 {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false, 0, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, int(b.tokens), time.Duration((l.burst - b.tokens) / l.rate * float64(time.Second))
}

// sweepLocked forgets full buckets, which behave like new ones.
func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// rateLimit applies the caller's key's bucket and sets the RateLimit-* headers
// (draft-ietf-httpapi-ratelimit-headers) on every answer.
func (a *API) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		ok, remaining, wait := a.limiter.take(p.Key.ID)
		secs := int(math.Ceil(wait.Seconds()))
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(int(a.limiter.burst)))
		h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("RateLimit-Reset", strconv.Itoa(secs))
		h.Set("RateLimit-Policy", strconv.Itoa(int(a.limiter.burst))+";w="+strconv.Itoa(int(math.Ceil(a.limiter.burst/a.limiter.rate))))
		if !ok {
			e := Errorf(CodeRateLimitExceeded, "too many requests for this API key; retry after %d s", max(secs, 1))
			e.RetryAfter = max(secs, 1)
			e.Details = map[string]any{"limit_per_second": a.limiter.rate, "burst": int(a.limiter.burst)}
			WriteError(w, r, a.log, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}
