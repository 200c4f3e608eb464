// Package api is the relay's public REST API (DESIGN.md §6): authentication by API key,
// the unified records, connections, writes through the agents, and the one error shape.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
)

// Error is an API error: a public part (status, code, type, message, details) that the
// client sees, and a cause that is only logged.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
	// Cause is logged with the request id, never sent.
	Cause error
	// RetryAfter, when set, becomes the Retry-After header (seconds).
	RetryAfter int
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// Error codes, with their HTTP status and type.
const (
	CodeInvalidRequest        = "INVALID_REQUEST"
	CodeValidationFailed      = "VALIDATION_FAILED"
	CodeAuthenticationFailed  = "AUTHENTICATION_FAILED"
	CodePermissionDenied      = "PERMISSION_DENIED"
	CodeNotFound              = "NOT_FOUND"
	CodeMethodNotAllowed      = "METHOD_NOT_ALLOWED"
	CodeConflict              = "CONFLICT"
	CodePayloadTooLarge       = "PAYLOAD_TOO_LARGE"
	CodeRateLimitExceeded     = "RATE_LIMIT_EXCEEDED"
	CodeInternal              = "INTERNAL"
	CodeConnectionUnreachable = "CONNECTION_UNREACHABLE"
	CodeReauthRequired        = "REAUTH_REQUIRED"
	CodeSourceRateLimited     = "SOURCE_RATE_LIMITED"
	CodeSourceError           = "SOURCE_ERROR"
)

// codeInfo gives each code its status and type.
var codeInfo = map[string]struct {
	status int
	typ    string
}{
	CodeInvalidRequest:        {http.StatusBadRequest, "invalid_request_error"},
	CodeValidationFailed:      {http.StatusBadRequest, "invalid_request_error"},
	CodeAuthenticationFailed:  {http.StatusUnauthorized, "authentication_error"},
	CodePermissionDenied:      {http.StatusForbidden, "permission_error"},
	CodeNotFound:              {http.StatusNotFound, "invalid_request_error"},
	CodeMethodNotAllowed:      {http.StatusMethodNotAllowed, "invalid_request_error"},
	CodeConflict:              {http.StatusConflict, "invalid_request_error"},
	CodePayloadTooLarge:       {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	CodeRateLimitExceeded:     {http.StatusTooManyRequests, "rate_limit_error"},
	CodeInternal:              {http.StatusInternalServerError, "api_error"},
	CodeConnectionUnreachable: {http.StatusServiceUnavailable, "connection_error"},
	CodeReauthRequired:        {http.StatusServiceUnavailable, "connection_error"},
	CodeSourceRateLimited:     {http.StatusServiceUnavailable, "connection_error"},
	CodeSourceError:           {http.StatusBadGateway, "connection_error"},
}

// Errorf returns an Error with code's status and a formatted public message.
func Errorf(code, format string, args ...any) *Error {
	info, ok := codeInfo[code]
	if !ok {
		info = codeInfo[CodeInternal]
	}
	return &Error{Status: info.status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails adds public details.
func (e *Error) WithDetails(d map[string]any) *Error {
	e.Details = d
	return e
}

// WithCause attaches an internal cause, for the log only.
func (e *Error) WithCause(err error) *Error {
	e.Cause = err
	return e
}

// ErrorType returns the type of an error code.
func ErrorType(code string) string {
	if info, ok := codeInfo[code]; ok {
		return info.typ
	}
	return codeInfo[CodeInternal].typ
}

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Type    string `json:"type"`
	Message string `json:"message"`
	// RequestID is set on every error answer; the per-record errors of a batch or job
	// leave it out, their request's id being in X-Request-Id.
	RequestID string         `json:"request_id,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
}

// WriteError answers err in the error shape. An error that is not an *Error is an
// internal error: its text is logged, and the client gets a generic message.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = Errorf(CodeInternal, "internal error; quote the request id when asking for help").WithCause(err)
	}
	reqID := RequestID(r.Context())
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	if log != nil {
		attrs := []any{"request_id", reqID, "method", r.Method, "path", r.URL.Path, "status", e.Status, "code", e.Code}
		if e.Cause != nil {
			attrs = append(attrs, "err", e.Cause.Error())
		}
		log.Log(r.Context(), level, "api error", attrs...)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	WriteJSON(w, e.Status, errorBody{Error: errorJSON{Code: e.Code, Type: ErrorType(e.Code), Message: e.Message,
		RequestID: reqID, Details: e.Details}})
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"INTERNAL","type":"api_error","message":"response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	accountKey
)

// RequestID returns the request id of ctx, "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}
