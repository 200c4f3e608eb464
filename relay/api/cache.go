package api

import (
	"sync"
	"time"
)

// cacheTTL bounds how long an API key or connection read from the store answers
// requests without asking it again. A key revoked or a connection changed through
// another relay replica or the command line takes effect within this time; changes
// made through this relay's API take effect at once.
const cacheTTL = 2 * time.Second

// ttlCache is a small map whose entries expire, so that every API request does not
// cost the store three queries for the same key and connection.
type ttlCache[V any] struct {
	now func() time.Time

	mu sync.Mutex // guards m
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](now func() time.Time) *ttlCache[V] {
	return &ttlCache[V]{now: now, m: map[string]ttlEntry[V]{}}
}

func (c *ttlCache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || c.now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k string, v V) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 10000 {
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
	}
	c.m[k] = ttlEntry[V]{v: v, expires: now.Add(cacheTTL)}
}

func (c *ttlCache[V]) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
