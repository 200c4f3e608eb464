package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Record is one row of any model in unified form.
type Record struct {
	// ID is the stable unified id, see RecordID.
	ID string
	// RemoteID is the native key; composite keys are joined with "/".
	RemoteID string
	// Model is the model's URL name. It is not part of the JSON form.
	Model string
	// CreatedAt and ModifiedAt are relay times; zero on the agent side.
	CreatedAt, ModifiedAt time.Time
	// RemoteCreatedAt and RemoteUpdatedAt are source times in UTC.
	RemoteCreatedAt, RemoteUpdatedAt *time.Time
	// RemoteWasDeleted marks a record that no longer exists in the source.
	RemoteWasDeleted bool
	// Fields holds unified field values, including remote_<enum> siblings.
	// Values are string, int64, decimal strings, bool, time.Time (UTC),
	// []string for ref lists, []map[string]any for lines, or nil.
	Fields map[string]any
	// CustomFields holds values of per-connection custom fields.
	CustomFields map[string]any
	// RemoteData is the raw source row, column name to value.
	RemoteData map[string]any
}

// common keys of the JSON form; a unified field with one of these names
// would be ambiguous, so definitions avoid them.
var commonKeys = map[string]bool{
	"id": true, "remote_id": true, "created_at": true, "modified_at": true,
	"remote_created_at": true, "remote_updated_at": true, "remote_was_deleted": true,
	"custom_fields": true, "remote_data": true,
}

// MarshalJSON encodes the record as one flat snake_case object: the common
// fields, then the unified fields in sorted order, then custom_fields and
// remote_data when they are non-nil. Times are RFC 3339 in UTC.
func (r Record) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	put := func(k string, v any) error {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		vb, err := json.Marshal(jsonValue(v))
		if err != nil {
			return fmt.Errorf("encode %s: %w", k, err)
		}
		buf.Write(vb)
		return nil
	}
	put("id", r.ID)
	put("remote_id", r.RemoteID)
	put("created_at", timeOrNil(r.CreatedAt))
	put("modified_at", timeOrNil(r.ModifiedAt))
	put("remote_created_at", ptrTime(r.RemoteCreatedAt))
	put("remote_updated_at", ptrTime(r.RemoteUpdatedAt))
	put("remote_was_deleted", r.RemoteWasDeleted)
	keys := make([]string, 0, len(r.Fields))
	for k := range r.Fields {
		if !commonKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := put(k, r.Fields[k]); err != nil {
			return nil, err
		}
	}
	if r.CustomFields != nil {
		if err := put("custom_fields", r.CustomFields); err != nil {
			return nil, err
		}
	}
	if r.RemoteData != nil {
		if err := put("remote_data", r.RemoteData); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func ptrTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// jsonValue converts engine values to their JSON form: times to RFC 3339
// UTC strings, recursively through maps and slices.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *time.Time:
		if x == nil {
			return nil
		}
		return x.UTC().Format(time.RFC3339Nano)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonValue(e)
		}
		return m
	case []map[string]any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = jsonValue(e)
		}
		return l
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = jsonValue(e)
		}
		return l
	}
	return v
}

// UnmarshalJSON decodes the flat form written by MarshalJSON. When r.Model
// names a known model before decoding, unified fields are converted to their
// engine types (times to time.Time, ints to int64, decimals to strings);
// otherwise they keep their JSON types with numbers as json.Number.
func (r *Record) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	out := Record{Model: r.Model}
	str := func(k string) (string, error) {
		v, ok := raw[k]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s: want string", k)
		}
		return s, nil
	}
	tim := func(k string) (*time.Time, error) {
		s, err := str(k)
		if err != nil || s == "" {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		t = t.UTC()
		return &t, nil
	}
	var err error
	if out.ID, err = str("id"); err != nil {
		return err
	}
	if out.RemoteID, err = str("remote_id"); err != nil {
		return err
	}
	for _, p := range []struct {
		k   string
		dst *time.Time
	}{{"created_at", &out.CreatedAt}, {"modified_at", &out.ModifiedAt}} {
		t, err := tim(p.k)
		if err != nil {
			return err
		}
		if t != nil {
			*p.dst = *t
		}
	}
	if out.RemoteCreatedAt, err = tim("remote_created_at"); err != nil {
		return err
	}
	if out.RemoteUpdatedAt, err = tim("remote_updated_at"); err != nil {
		return err
	}
	if v, ok := raw["remote_was_deleted"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("remote_was_deleted: want bool")
		}
		out.RemoteWasDeleted = b
	}
	if v, ok := raw["custom_fields"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("custom_fields: want object")
		}
		out.CustomFields = m
	}
	if v, ok := raw["remote_data"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("remote_data: want object")
		}
		out.RemoteData = m
	}
	def := Lookup(out.Model)
	for k, v := range raw {
		if commonKeys[k] {
			continue
		}
		if out.Fields == nil {
			out.Fields = make(map[string]any)
		}
		if f := def.Field(k); f != nil && v != nil {
			cv, err := fromJSON(f, v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			v = cv
		}
		out.Fields[k] = v
	}
	*r = out
	return nil
}

// fromJSON converts a decoded JSON value to the engine type of field f.
func fromJSON(f *Field, v any) (any, error) {
	switch f.Type {
	case Time:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want RFC 3339 string")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, err
		}
		return t.UTC(), nil
	case Int:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want integer")
		}
		return n.Int64()
	case Decimal:
		switch x := v.(type) {
		case json.Number:
			return x.String(), nil
		case string:
			return x, nil
		}
		return nil, fmt.Errorf("want decimal")
	case RefList, StringList:
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want array")
		}
		out := make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want array of strings")
			}
			out = append(out, s)
		}
		return out, nil
	case Lines:
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want array")
		}
		out := make([]map[string]any, 0, len(l))
		for _, e := range l {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("want array of objects")
			}
			for i := range f.Lines {
				lf := &f.Lines[i]
				if lv, ok := m[lf.Name]; ok && lv != nil {
					cv, err := fromJSON(lf, lv)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", lf.Name, err)
					}
					m[lf.Name] = cv
				}
			}
			out = append(out, m)
		}
		return out, nil
	}
	return v, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// RecordID derives the stable unified id of a record from the connection, the
// model and the native key: the model's tag, "_", and 24 base32 characters
// of a SHA-256 over the three (120 bits, so collisions are not a concern at
// any plant's scale). Reference fields carry the id of the referenced record
// computed the same way, so they resolve without a lookup.
func RecordID(connectionID, modelName, remoteID string) string {
	// Built in stack buffers: a large read computes several ids per row.
	var in [256]byte
	b := append(append(append(append(append(in[:0], connectionID...), 0), modelName...), 0), remoteID...)
	sum := sha256.Sum256(b)
	tag := CustomTag
	if d := Lookup(modelName); d != nil {
		tag = d.Tag
	}
	var out [64]byte
	n := copy(out[:], tag)
	out[n] = '_'
	n++
	idEncoding.Encode(out[n:], sum[:15])
	return string(out[:n+idEncoding.EncodedLen(15)])
}

// JoinKey joins the values of a composite native key with "/". A "/" or "%"
// inside a value is percent-encoded so that SplitKey is its exact inverse;
// ordinary values (no such characters) appear unchanged, as in "BEDFORD/1001".
func JoinKey(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		if strings.ContainsAny(p, "/%") {
			p = strings.ReplaceAll(p, "%", "%25")
			p = strings.ReplaceAll(p, "/", "%2F")
		}
		b.WriteString(p)
	}
	return b.String()
}

// SplitKey is the inverse of JoinKey.
func SplitKey(remoteID string) []string {
	parts := strings.Split(remoteID, "/")
	for i, p := range parts {
		if strings.Contains(p, "%") {
			p = strings.ReplaceAll(p, "%2F", "/")
			p = strings.ReplaceAll(p, "%2f", "/")
			parts[i] = strings.ReplaceAll(p, "%25", "%")
		}
	}
	return parts
}
