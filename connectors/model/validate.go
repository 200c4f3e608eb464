package model

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Op is the kind of write a validation is for.
type Op string

// Write operations.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpStatus Op = "status"
)

// FieldError is one problem with one field of a write request.
type FieldError struct {
	// Pointer is a JSON Pointer (RFC 6901) to the offending field, such as "/status".
	Pointer string `json:"pointer"`
	// Message says what is wrong, for the API consumer.
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Pointer + ": " + e.Message }

// Pointer escapes path segments into a JSON Pointer.
func Pointer(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		s = strings.ReplaceAll(s, "~", "~0")
		b.WriteString(strings.ReplaceAll(s, "/", "~1"))
	}
	return b.String()
}

// readOnly lists keys a write may not set: they are derived by the system.
var readOnly = map[string]bool{
	"id": true, "remote_id": true, "created_at": true, "modified_at": true,
	"remote_created_at": true, "remote_updated_at": true, "remote_was_deleted": true,
	"remote_data": true,
}

var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// Validate checks the unified fields of a write request against the model's
// definition: unknown fields, wrong types and bad enum values. Which fields
// are required depends on the source system and is checked by the connector.
// A remote_<enum> sibling is accepted as a string: it names a native code.
// "custom_fields" is accepted as an object; its keys are checked by the
// connector, which knows the connection's custom fields.
func Validate(modelName string, fields map[string]any, op Op) []FieldError {
	def := Lookup(modelName)
	if def == nil {
		return []FieldError{{Pointer: "", Message: fmt.Sprintf("unknown model %q", modelName)}}
	}
	return ValidateDef(def, fields, op)
}

// ValidateDef is Validate for a given definition, such as a custom model's.
func ValidateDef(def *Def, fields map[string]any, op Op) []FieldError {
	var errs []FieldError
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		ptr := Pointer(k)
		switch {
		case readOnly[k]:
			errs = append(errs, FieldError{ptr, "field is read-only"})
			continue
		case k == "custom_fields":
			if _, ok := v.(map[string]any); !ok && v != nil {
				errs = append(errs, FieldError{ptr, "must be an object"})
			}
			continue
		case strings.HasPrefix(k, "remote_"):
			f := def.Field(strings.TrimPrefix(k, "remote_"))
			if f == nil || f.Type != Enum {
				errs = append(errs, FieldError{ptr, "unknown field"})
				continue
			}
			if _, ok := v.(string); !ok && v != nil {
				errs = append(errs, FieldError{ptr, "must be a string (the native code)"})
			}
			continue
		}
		f := def.Field(k)
		if f == nil {
			errs = append(errs, FieldError{ptr, "unknown field"})
			continue
		}
		if op == OpStatus && k != "status" {
			errs = append(errs, FieldError{ptr, "a status change sets only status (or its remote sibling)"})
			continue
		}
		errs = append(errs, checkValue(f, v, ptr)...)
	}
	return errs
}

func checkValue(f *Field, v any, ptr string) []FieldError {
	if v == nil {
		return nil
	}
	bad := func(msg string) []FieldError { return []FieldError{{ptr, msg}} }
	switch f.Type {
	case String, Ref:
		if _, ok := v.(string); !ok {
			return bad("must be a string")
		}
	case Enum:
		s, ok := v.(string)
		if !ok {
			return bad("must be a string")
		}
		for _, e := range f.Values {
			if e == s {
				return nil
			}
		}
		return bad(fmt.Sprintf("must be one of %s", strings.Join(f.Values, ", ")))
	case Int:
		if _, ok := AsInt(v); !ok {
			return bad("must be an integer")
		}
	case Decimal:
		if _, ok := AsDecimal(v); !ok {
			return bad("must be a decimal number")
		}
	case Bool:
		if _, ok := v.(bool); !ok {
			return bad("must be a boolean")
		}
	case Time:
		if _, ok := AsTime(v); !ok {
			return bad("must be an RFC 3339 time")
		}
	case RefList, StringList:
		switch x := v.(type) {
		case []string:
		case []any:
			for i, e := range x {
				if _, ok := e.(string); !ok {
					return []FieldError{{fmt.Sprintf("%s/%d", ptr, i), "must be a string"}}
				}
			}
		default:
			return bad("must be an array of strings")
		}
	case Object:
		if _, ok := v.(map[string]any); !ok {
			return bad("must be an object")
		}
	case Lines:
		l, ok := v.([]any)
		if !ok {
			if ml, ok2 := v.([]map[string]any); ok2 {
				l = make([]any, len(ml))
				for i := range ml {
					l[i] = ml[i]
				}
			} else {
				return bad("must be an array of objects")
			}
		}
		var errs []FieldError
		for i, e := range l {
			m, ok := e.(map[string]any)
			lp := fmt.Sprintf("%s/%d", ptr, i)
			if !ok {
				errs = append(errs, FieldError{lp, "must be an object"})
				continue
			}
			for _, k := range sortedKeys(m) {
				var lf *Field
				for j := range f.Lines {
					if f.Lines[j].Name == k {
						lf = &f.Lines[j]
					}
				}
				if lf == nil {
					errs = append(errs, FieldError{lp + Pointer(k), "unknown field"})
					continue
				}
				errs = append(errs, checkValue(lf, m[k], lp+Pointer(k))...)
			}
		}
		return errs
	}
	return nil
}

// AsInt converts a decoded JSON or Go value to int64.
func AsInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// AsDecimal converts a decoded JSON or Go value to a canonical decimal string.
func AsDecimal(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, decimalRE.MatchString(x)
	case json.Number:
		s := x.String()
		return s, decimalRE.MatchString(s)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int64, int:
		return fmt.Sprint(x), true
	}
	return "", false
}

// AsTime converts an RFC 3339 string or a time.Time to a UTC time.
func AsTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t.UTC(), err == nil
	}
	return time.Time{}, false
}

func sortedKeys(m map[string]any) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	// Sorted so that error lists are stable for clients and tests.
	for i := 1; i < len(k); i++ {
		for j := i; j > 0 && k[j] < k[j-1]; j-- {
			k[j], k[j-1] = k[j-1], k[j]
		}
	}
	return k
}
