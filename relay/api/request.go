package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/plantbridge/plantbridge/relay/store"
)

// DefaultBodyLimit bounds request bodies unless a route says otherwise.
const DefaultBodyLimit = 1 << 20

// Principal is who made a request: an API key of an account.
type Principal struct {
	Account store.Account
	Key     store.APIKey
}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(accountKey).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, accountKey, p)
}

// DecodeJSON reads a JSON body of at most limit bytes (DefaultBodyLimit when 0) into v.
// Unknown fields, trailing data and wrong types are INVALID_REQUEST naming the field; a
// body over the limit is PAYLOAD_TOO_LARGE.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return Errorf(CodeInvalidRequest, "Content-Type must be application/json, got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, limit)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyError(err, limit)
		}
		return Errorf(CodeInvalidRequest, "request body must hold exactly one JSON value")
	}
	return nil
}

// bodyError explains a JSON decoding failure without echoing internals.
func bodyError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return Errorf(CodePayloadTooLarge, "request body is larger than %d bytes", limit).
			WithDetails(map[string]any{"limit_bytes": limit})
	case errors.Is(err, io.EOF):
		return Errorf(CodeInvalidRequest, "request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(CodeInvalidRequest, "request body ends in the middle of a JSON value")
	case errors.As(err, &se):
		return Errorf(CodeInvalidRequest, "request body is not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			return Errorf(CodeInvalidRequest, "request body must be a JSON %s", jsonKind(ute.Type.Kind().String()))
		}
		return Errorf(CodeValidationFailed, "field %q must be %s", field, jsonKind(ute.Type.Kind().String())).
			WithDetails(map[string]any{"fields": []map[string]string{{"pointer": "/" + strings.ReplaceAll(field, ".", "/"),
				"message": "must be " + jsonKind(ute.Type.Kind().String())}}})
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return Errorf(CodeInvalidRequest, "unknown field %q", name).
			WithDetails(map[string]any{"fields": []map[string]string{{"pointer": "/" + name, "message": "unknown field"}}})
	}
	return Errorf(CodeInvalidRequest, "request body could not be read").WithCause(fmt.Errorf("decode body: %w", err))
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "float64", "uint", "uint64":
		return "a number"
	}
	return "of another type"
}
