package webhooks

import (
	"net/http"
	"strconv"
	"time"
)

// Backoff is the retry schedule of a delivery: exponential backoff with full
// jitter, bounded by a window that starts when the event was queued.
//
// After failed attempt n (from 1), the next attempt waits a uniformly random
// delay in [0, min(Base·2^(n-1), Max)). Full jitter spreads the retries of
// many deliveries that failed together (a receiver that was down) instead of
// sending them back in waves. An attempt that would fall after the window's
// end is made at the end instead; a failure at or after the end is final.
//
// DefaultBackoff (Base 10 s, Max 6 h, Window 24 h) caps the delays at
//
//	attempt  1   2    3    4     5     6     7      8      9      10     11     12     13…
//	cap      10s 20s  40s  1m20  2m40  5m20  10m40  21m20  42m40  1h25   2h51   5h41   6h
//
// so a receiver that is down gets about 17 to 20 attempts (half of each cap
// on average: 5.7 h for the first twelve, then 3 h each), the last one 24 h
// after the event.
type Backoff struct {
	// Base is the cap of the first delay.
	Base time.Duration
	// Max caps every delay.
	Max time.Duration
	// Window is how long after the event a delivery is tried.
	Window time.Duration
}

// DefaultBackoff is the schedule of DESIGN.md §7: about 24 hours.
var DefaultBackoff = Backoff{Base: 10 * time.Second, Max: 6 * time.Hour, Window: 24 * time.Hour}

// Cap returns the largest delay after failed attempt n (from 1).
func (b Backoff) Cap(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Next returns when to try again after failed attempt n (from 1) of a
// delivery queued at queued, the attempt having ended at now; jitter is a
// random number in [0, 1). ok is false when the window is over.
func (b Backoff) Next(n int, queued, now time.Time, jitter float64) (next time.Time, ok bool) {
	end := queued.Add(b.Window)
	if !now.Before(end) {
		return time.Time{}, false
	}
	next = now.Add(time.Duration(jitter * float64(b.Cap(n))))
	if next.After(end) {
		next = end
	}
	return next, true
}

// maxRetryAfter bounds how long a receiver's Retry-After may postpone a
// retry, so that a wrong header cannot park deliveries for days.
const maxRetryAfter = time.Hour

// retryAfter reads a response's Retry-After (seconds or an HTTP date); 0
// when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, maxRetryAfter))
}
