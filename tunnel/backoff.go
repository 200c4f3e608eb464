package tunnel

import (
	"math/rand/v2"
	"time"
)

// Backoff computes reconnect delays: exponential with full jitter, so that agents that lost
// the relay at the same moment do not all come back at the same moment.
type Backoff struct {
	// Base is the first delay's upper bound. Default 1 s.
	Base time.Duration
	// Cap bounds every delay. Default 60 s.
	Cap time.Duration
	// ResetAfter is how long a connection must stay up before the next failure starts
	// again from Base. Default 60 s.
	ResetAfter time.Duration

	attempt int
}

func (b *Backoff) defaults() {
	if b.Base <= 0 {
		b.Base = time.Second
	}
	if b.Cap <= 0 {
		b.Cap = 60 * time.Second
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = 60 * time.Second
	}
}

// Next returns the delay before the next attempt and advances the attempt count. The
// delay is uniform in [ceiling/10, ceiling] where ceiling = min(Cap, Base·2^attempt): the
// floor keeps a run of instant failures from turning into a tight loop.
func (b *Backoff) Next() time.Duration {
	b.defaults()
	ceiling := b.Cap
	if b.attempt < 30 {
		if c := b.Base << b.attempt; c > 0 && c < b.Cap {
			ceiling = c
		}
	}
	b.attempt++
	floor := ceiling / 10
	return floor + rand.N(ceiling-floor+1)
}

// Reset starts the sequence again from Base.
func (b *Backoff) Reset() { b.attempt = 0 }

// Connected tells the backoff that a connection lasted up. One that lasted ResetAfter
// resets it. A shorter one lowers the next ceiling to at most up, so that an agent
// never waits longer to reconnect than its last connection lasted: a relay restarted
// twice in a minute does not keep its agents away for a minute. A connection shorter
// than Base (accepted, then dropped) changes nothing, so a relay that drops every
// connection at once still sees the delays grow.
func (b *Backoff) Connected(up time.Duration) {
	b.defaults()
	if up >= b.ResetAfter {
		b.Reset()
		return
	}
	for k := 0; k < b.attempt; k++ {
		if b.Base<<(k+1) > up {
			if up >= b.Base {
				b.attempt = k
			}
			return
		}
	}
}
