package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// muxHeaderSize is the size of a yamux frame header.
const muxHeaderSize = 12

// wsConn adapts a websocket connection to net.Conn for yamux.
//
// It differs from websocket.NetConn in three ways that matter for a tunnel:
//   - yamux writes a frame's 12-byte header and its body in two Write calls; sent as is,
//     that is two websocket messages (and two TCP segments) per frame, so a data header is
//     held back and sent together with its body as one message;
//   - Close does not wait for a closing handshake, so it always unblocks a pending Read
//     promptly, even when the peer is gone (yamux#149); why a session ends is told to the
//     peer inside the tunnel instead, before closing;
//   - the error that ended reading is kept, so the session can report it.
type wsConn struct {
	ws     *websocket.Conn
	local  net.Addr
	remote net.Addr

	// ctx is used for every websocket call. It is never canceled: a cancelable context
	// costs a context.AfterFunc per frame in the websocket library, and closing the
	// connection unblocks every call just as well.
	ctx context.Context

	rmu    sync.Mutex // serializes Read; guards reader
	reader io.Reader  // the current message, nil between messages

	wmu     sync.Mutex // serializes Write; guards pending and buf
	pending []byte     // a yamux data header waiting for its body
	buf     []byte     // reused to join header and body
	batch   *batchConn // the network conn below a client websocket, nil on the relay

	readDeadline  deadline
	writeDeadline deadline

	closeOnce sync.Once
	readErr   atomic.Pointer[error] // first error that ended reading
}

func newWSConn(ws *websocket.Conn, local, remote net.Addr, readLimit int64) *wsConn {
	ws.SetReadLimit(readLimit)
	c := &wsConn{ws: ws, local: local, remote: remote, ctx: context.Background()}
	c.readDeadline.init(c)
	c.writeDeadline.init(c)
	return c
}

// Read reads from the current binary message, moving to the next one when it ends.
func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.readDeadline.begin(); err != nil {
		return 0, err
	}
	defer c.readDeadline.end()
	for {
		if c.reader == nil {
			typ, r, err := c.ws.Reader(c.ctx)
			if err != nil {
				return 0, c.noteReadErr(err)
			}
			if typ != websocket.MessageBinary {
				err := errors.New("tunnel: peer sent a text message; only binary messages are allowed")
				c.Close() // no closing handshake: the peer is broken, do not wait for it
				return 0, c.noteReadErr(err)
			}
			c.reader = r
		}
		n, err := c.reader.Read(p)
		if err == io.EOF {
			c.reader = nil
			err = nil
		}
		if err != nil {
			return n, c.noteReadErr(err)
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
}

// noteReadErr records why reading stopped and turns an orderly close into io.EOF.
func (c *wsConn) noteReadErr(err error) error {
	if c.readDeadline.expired() {
		err = os.ErrDeadlineExceeded
	}
	c.readErr.CompareAndSwap(nil, &err)
	if s := websocket.CloseStatus(err); s == websocket.StatusNormalClosure || s == websocket.StatusGoingAway {
		return io.EOF
	}
	return err
}

// isMuxDataHeader reports whether p is exactly a yamux data-frame header announcing a body.
func isMuxDataHeader(p []byte) bool {
	return len(p) == muxHeaderSize && p[0] == 0 && p[1] == 0 && binary.BigEndian.Uint32(p[8:12]) > 0
}

// maxKeptWriteBuf bounds the join buffer kept between writes: big enough for the frames of
// a bulk transfer (HTTP bodies are written in chunks of up to a few hundred KiB), small
// enough that a burst does not pin a stream window's worth of memory per connection.
const maxKeptWriteBuf = 1 << 20

// Write sends p as one binary message, joined with a held-back yamux header if any.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.pending) == 0 && isMuxDataHeader(p) {
		c.pending = append(c.pending[:0], p...)
		return len(p), nil
	}
	msg := p
	if len(c.pending) > 0 {
		c.buf = append(append(c.buf[:0], c.pending...), p...)
		c.pending = c.pending[:0]
		msg = c.buf
	}
	if err := c.writeDeadline.begin(); err != nil {
		return 0, err
	}
	if c.batch != nil {
		c.batch.begin()
	}
	err := c.ws.Write(c.ctx, websocket.MessageBinary, msg)
	if c.batch != nil {
		if berr := c.batch.end(); err == nil {
			err = berr
		}
	}
	c.writeDeadline.end()
	if cap(c.buf) > maxKeptWriteBuf {
		c.buf = nil
	}
	if err != nil {
		if c.writeDeadline.expired() {
			err = os.ErrDeadlineExceeded
		}
		return 0, err
	}
	return len(p), nil
}

// Close closes the connection at once, without a closing handshake.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() { c.ws.CloseNow() })
	return nil
}

// ReadErr returns the error that ended reading, if any.
func (c *wsConn) ReadErr() error {
	if e := c.readErr.Load(); e != nil {
		return *e
	}
	return nil
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines. As with websocket.NetConn, a deadline that passes while
// a call is blocked closes the connection: a websocket cannot resume a half-read frame.
// One that passes between calls only makes the next call fail until it is moved.
func (c *wsConn) SetDeadline(t time.Time) error {
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets the read deadline; see SetDeadline.
func (c *wsConn) SetReadDeadline(t time.Time) error { c.readDeadline.set(t); return nil }

// SetWriteDeadline sets the write deadline; see SetDeadline.
func (c *wsConn) SetWriteDeadline(t time.Time) error { c.writeDeadline.set(t); return nil }

// deadline implements one direction's deadline for wsConn.
type deadline struct {
	conn *wsConn

	mu      sync.Mutex // guards the fields below
	timer   *time.Timer
	at      time.Time
	active  bool // a call is in progress
	passed  bool // the deadline passed
	tripped bool // the deadline passed during a call and closed the connection
}

func (d *deadline) init(c *wsConn) { d.conn = c }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.at, d.passed = t, false
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.fireLocked()
		return
	}
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.at.Equal(t) {
			d.fireLocked()
		}
	})
}

func (d *deadline) fireLocked() {
	d.passed = true
	if d.active {
		d.tripped = true
		go d.conn.Close() // not under d.mu: Close waits for the blocked call to return
	}
}

// begin marks a call as started, failing at once if the deadline already passed.
func (d *deadline) begin() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.passed {
		return fmt.Errorf("tunnel: %w", os.ErrDeadlineExceeded)
	}
	d.active = true
	return nil
}

func (d *deadline) end() {
	d.mu.Lock()
	d.active = false
	d.mu.Unlock()
}

func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tripped
}
