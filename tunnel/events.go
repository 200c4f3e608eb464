package tunnel

import (
	"context"
	"log/slog"
	"time"
)

// EventKind names a connection event.
type EventKind string

// Connection event kinds.
const (
	EventConnect          EventKind = "connect"
	EventDisconnect       EventKind = "disconnect"
	EventReconnectAttempt EventKind = "reconnect_attempt"
	EventConnectFailed    EventKind = "connect_failed"
	EventAuthFailed       EventKind = "auth_failed"
)

// Event is one connection event: logged as a structured line by the side that saw it and
// handed to the OnEvent hook so the relay can store it.
type Event struct {
	Time    time.Time     `json:"time"`
	Kind    EventKind     `json:"kind"`
	AgentID string        `json:"agent_id,omitempty"`
	ConnID  string        `json:"conn_id,omitempty"`
	Remote  string        `json:"remote_addr,omitempty"`
	RTT     time.Duration `json:"rtt_ns,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	Detail  string        `json:"detail,omitempty"`
	Attempt int           `json:"attempt,omitempty"`
	// Delay is the backoff waited before a reconnect attempt.
	Delay    time.Duration `json:"delay_ns,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"` // how long a session lasted
	Version  string        `json:"version,omitempty"`
	Hostname string        `json:"hostname,omitempty"`
	OS       string        `json:"os,omitempty"`
}

func (e Event) level() slog.Level {
	switch e.Kind {
	case EventAuthFailed, EventConnectFailed:
		return slog.LevelWarn
	case EventDisconnect:
		if e.Reason == ReasonKeepaliveTimeout || e.Reason == ReasonNetwork || e.Reason == ReasonReplaced {
			return slog.LevelWarn
		}
	case EventReconnectAttempt:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// emit logs e with every non-empty field as an attribute and passes it to hook.
func emit(log *slog.Logger, hook func(Event), e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	attrs := []slog.Attr{slog.String("event", string(e.Kind))}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("agent_id", e.AgentID)
	add("conn_id", e.ConnID)
	add("remote_addr", e.Remote)
	add("reason", e.Reason)
	add("detail", e.Detail)
	add("version", e.Version)
	add("hostname", e.Hostname)
	add("os", e.OS)
	if e.RTT > 0 {
		attrs = append(attrs, slog.Float64("rtt_ms", float64(e.RTT)/float64(time.Millisecond)))
	}
	if e.Attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", e.Attempt))
	}
	if e.Delay > 0 {
		attrs = append(attrs, slog.Duration("retry_in", e.Delay))
	}
	if e.Duration > 0 {
		attrs = append(attrs, slog.Duration("connected_for", e.Duration))
	}
	log.LogAttrs(context.Background(), e.level(), "tunnel "+string(e.Kind), attrs...)
	if hook != nil {
		hook(e)
	}
}
