// Package tunnel connects a plant's agent to the relay over one outbound websocket.
//
// The agent dials wss://RELAY/v1/tunnel, through an HTTP CONNECT proxy if the plant has
// one, and authenticates with a bearer credential. Inside the websocket, yamux carries
// many streams; each stream is one HTTP/1.1 connection, in either direction: the relay
// calls the agent's handlers and the agent calls the relay's, both with plain net/http.
// The package knows nothing of records or SQL.
//
// The relay side is an Endpoint (an http.Handler) that keeps one Session per agent, a
// newer session replacing an older one. The agent side is a Client that reconnects with
// full-jitter exponential backoff and waits out relay drains without failing its callers.
// Both sides ping every few seconds, so a half-open connection is found within the
// keepalive bound, and every connect and disconnect is a structured Event with a reason.
package tunnel
