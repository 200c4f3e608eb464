package tunnel

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hashicorp/yamux"
)

// MuxConfig tunes the stream multiplexer and the session keepalive. The zero value of
// every field means its default, stated on the field.
type MuxConfig struct {
	// StreamWindow is the most a stream may have in flight unacknowledged, and so the most
	// one slow reader can make the other side buffer. Default 4 MiB: a 100 Mbit/s link with
	// 100 ms round trips needs 1.25 MB to stay full; yamux's own default of 256 KiB caps such
	// a link at about 20 Mbit/s.
	StreamWindow uint32
	// KeepAliveInterval is how often each side pings the other. Default 10 s.
	KeepAliveInterval time.Duration
	// KeepAliveTimeout is how long a ping may go unanswered before the session is declared
	// dead, and how long one frame may wait to be written. Default 10 s, so a half-open
	// connection is found within 20 s.
	KeepAliveTimeout time.Duration
	// StreamCloseTimeout bounds how long a half-closed stream waits for the peer. Default 30 s.
	StreamCloseTimeout time.Duration
}

// DefaultMuxConfig returns the configuration used when none is given.
func DefaultMuxConfig() MuxConfig { return MuxConfig{}.withDefaults() }

func (c MuxConfig) withDefaults() MuxConfig {
	if c.StreamWindow == 0 {
		c.StreamWindow = 4 << 20
	}
	if c.KeepAliveInterval == 0 {
		c.KeepAliveInterval = 10 * time.Second
	}
	if c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = 10 * time.Second
	}
	if c.StreamCloseTimeout == 0 {
		c.StreamCloseTimeout = 30 * time.Second
	}
	return c
}

// readLimit is the largest websocket message a peer may send: one yamux frame, whose body
// is bounded by the stream window.
func (c MuxConfig) readLimit() int64 {
	return int64(c.StreamWindow) + muxHeaderSize + 64<<10
}

// yamuxConfig builds the explicit yamux configuration. yamux's own keepalive is off: the
// session runs its own ping loop, which also measures the round-trip time and records
// that a timeout, not the network, ended the session.
func (c MuxConfig) yamuxConfig(log *slog.Logger) *yamux.Config {
	return &yamux.Config{
		AcceptBacklog:          256,
		EnableKeepAlive:        false,
		KeepAliveInterval:      c.KeepAliveInterval,
		ConnectionWriteTimeout: c.KeepAliveTimeout,
		MaxStreamWindowSize:    c.StreamWindow,
		StreamOpenTimeout:      2 * c.KeepAliveTimeout,
		StreamCloseTimeout:     c.StreamCloseTimeout,
		Logger:                 slogPrintf{log},
		LogOutput:              nil,
	}
}

// slogPrintf routes yamux's printf-style log lines into structured logging.
type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Print(v ...any) { l.log.Debug("yamux", "msg", fmt.Sprint(v...)) }
func (l slogPrintf) Printf(format string, v ...any) {
	l.log.Debug("yamux", "msg", fmt.Sprintf(format, v...))
}
func (l slogPrintf) Println(v ...any) { l.log.Debug("yamux", "msg", fmt.Sprint(v...)) }

var _ io.Closer = (*yamux.Session)(nil)
