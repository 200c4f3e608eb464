package tunnel

import (
	"net"
	"sync"
)

// batchConn gathers the writes made while one websocket message is being written and
// sends them to the network in one go.
//
// The websocket library masks a client's payload through a 4 KiB buffer and flushes it
// every 4 KiB: without this, the agent makes one system call (and, over TLS, one record)
// per 4 KiB it uploads. Writes outside a batch (control frames the library sends on its
// own) pass straight through.
type batchConn struct {
	net.Conn

	mu       sync.Mutex // guards the fields below
	batching bool
	buf      []byte
}

// maxBatch bounds the gathered bytes; a larger message goes out in several writes.
const maxBatch = 256 << 10

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		return c.Conn.Write(p)
	}
	if len(c.buf)+len(p) > maxBatch {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= maxBatch {
			return c.Conn.Write(p)
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// begin starts gathering writes.
func (c *batchConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// end sends what was gathered and stops gathering.
func (c *batchConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	return c.flushLocked()
}

func (c *batchConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}
