package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Schema is a JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) with the
// keywords this document uses.
type Schema struct {
	Ref         string `json:"$ref,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Type is a type name or, for a nullable value, a list of two.
	Type                 any               `json:"type,omitempty"`
	Format               string            `json:"format,omitempty"`
	Enum                 []any             `json:"enum,omitempty"`
	Const                any               `json:"const,omitempty"`
	Pattern              string            `json:"pattern,omitempty"`
	MinLength            *int              `json:"minLength,omitempty"`
	MaxLength            *int              `json:"maxLength,omitempty"`
	Minimum              *float64          `json:"minimum,omitempty"`
	Maximum              *float64          `json:"maximum,omitempty"`
	Properties           *Ordered[*Schema] `json:"properties,omitempty"`
	Required             []string          `json:"required,omitempty"`
	AdditionalProperties any               `json:"additionalProperties,omitempty"`
	Items                *Schema           `json:"items,omitempty"`
	MinItems             *int              `json:"minItems,omitempty"`
	MaxItems             *int              `json:"maxItems,omitempty"`
	OneOf                []*Schema         `json:"oneOf,omitempty"`
	AnyOf                []*Schema         `json:"anyOf,omitempty"`
	Default              any               `json:"default,omitempty"`
	ReadOnly             bool              `json:"readOnly,omitempty"`
	Examples             []any             `json:"examples,omitempty"`
}

// Ordered is a JSON object that keeps its members in the order they were added, so
// that properties and paths read in documentation order rather than alphabetically.
type Ordered[V any] struct {
	keys []string
	vals map[string]V
}

// Set adds or replaces the member k.
func (o *Ordered[V]) Set(k string, v V) {
	if o.vals == nil {
		o.vals = map[string]V{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// Get returns the member k.
func (o *Ordered[V]) Get(k string) (V, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// Keys returns the member names in order.
func (o *Ordered[V]) Keys() []string { return o.keys }

// Len returns the number of members.
func (o *Ordered[V]) Len() int { return len(o.keys) }

// MarshalJSON writes the members in order.
func (o *Ordered[V]) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Schema constructors. Each takes the description first: every schema in the
// document says what it is.

func str(desc string) *Schema     { return &Schema{Type: "string", Description: desc} }
func integer(desc string) *Schema { return &Schema{Type: "integer", Description: desc} }
func number(desc string) *Schema  { return &Schema{Type: "number", Description: desc} }
func boolean(desc string) *Schema { return &Schema{Type: "boolean", Description: desc} }
func anyValue(desc string) *Schema {
	return &Schema{Description: desc}
}

// dateTime is an RFC 3339 time; the relay writes them in UTC.
func dateTime(desc string) *Schema {
	return &Schema{Type: "string", Format: "date-time", Description: desc}
}

func enum(desc string, values ...string) *Schema {
	s := &Schema{Type: "string", Description: desc}
	for _, v := range values {
		s.Enum = append(s.Enum, v)
	}
	return s
}

func constant(desc string, v string) *Schema {
	return &Schema{Type: "string", Const: v, Description: desc}
}

func array(desc string, items *Schema) *Schema {
	return &Schema{Type: "array", Description: desc, Items: items}
}

func ref(name string) *Schema { return &Schema{Ref: "#/components/schemas/" + name} }

// openObject is an object whose members are not listed: settings, details, raw rows.
func openObject(desc string) *Schema {
	return &Schema{Type: "object", Description: desc, AdditionalProperties: true}
}

// field is one member of an object schema: required members are always present in
// answers (and must be sent in requests), optional ones may be left out.
type field struct {
	name     string
	schema   *Schema
	required bool
}

func req(name string, s *Schema) field { return field{name, s, true} }
func opt(name string, s *Schema) field { return field{name, s, false} }

// object is an object with the given members. Members not listed are not sent by the
// relay; clients should still ignore unknown members, which later versions may add.
func object(desc string, fields ...field) *Schema {
	s := &Schema{Type: "object", Description: desc, Properties: &Ordered[*Schema]{}}
	for _, f := range fields {
		s.Properties.Set(f.name, f.schema)
		if f.required {
			s.Required = append(s.Required, f.name)
		}
	}
	return s
}

// with returns a copy of object s with more members.
func with(s *Schema, desc string, fields ...field) *Schema {
	out := object(desc)
	for _, k := range s.Properties.Keys() {
		v, _ := s.Properties.Get(k)
		out.Properties.Set(k, v)
	}
	out.Required = append(out.Required, s.Required...)
	for _, f := range fields {
		out.Properties.Set(f.name, f.schema)
		if f.required {
			out.Required = append(out.Required, f.name)
		}
	}
	return out
}

// nullable lets s be null as well.
func nullable(s *Schema) *Schema {
	if s.Ref != "" {
		return &Schema{Description: s.Description, OneOf: []*Schema{{Ref: s.Ref}, {Type: "null"}}}
	}
	cp := *s
	if t, ok := cp.Type.(string); ok {
		cp.Type = []string{t, "null"}
	}
	if cp.Enum != nil {
		cp.Enum = append(append([]any{}, cp.Enum...), nil)
	}
	return &cp
}

// described returns a copy of s with another description; for a $ref it becomes the
// description of that use of the referenced schema.
func described(s *Schema, desc string) *Schema {
	cp := *s
	cp.Description = desc
	return &cp
}

func intPtr(n int) *int           { return &n }
func floatPtr(f float64) *float64 { return &f }
func bounded(s *Schema, lo, hi float64) *Schema {
	s.Minimum, s.Maximum = floatPtr(lo), floatPtr(hi)
	return s
}

// goSchemas derives schemas from Go types as encoding/json writes them, for documents
// whose Go types are the format's definition (the mapping overrides). Each named
// struct type becomes a component named prefix + its Go name. A member tagged
// omitempty may be left out; a pointer, slice or map without it may be null.
type goSchemas struct {
	prefix     string
	components *Ordered[*Schema]
	names      map[reflect.Type]string
	// required makes the members without omitempty required, for types that are only
	// ever written by the relay. Documents that clients send in part leave it off.
	required bool
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
)

// of returns the schema of t: a $ref for a named struct type.
func (g *goSchemas) of(t reflect.Type) *Schema {
	if t.Kind() == reflect.Pointer {
		return g.of(t.Elem())
	}
	switch {
	case t == timeType:
		return dateTime("")
	case t == rawType || t.Kind() == reflect.Interface:
		return anyValue("")
	case t.Implements(marshalerType):
		if t.Kind() == reflect.Int64 { // profiles.Duration, written as "24h0m0s"
			return &Schema{Type: "string", Description: "a duration such as 90s, 15m or 24h"}
		}
		// A type that writes itself needs a schema written for it here.
		panic(fmt.Sprintf("openapi: no schema for %v, which encodes itself", t))
	}
	switch t.Kind() {
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &Schema{Type: "integer"}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number"}
	case reflect.Slice, reflect.Array:
		return &Schema{Type: "array", Items: g.of(t.Elem())}
	case reflect.Map:
		return &Schema{Type: "object", AdditionalProperties: g.of(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = g.prefix + t.Name()
			g.names[t] = name // before the members, in case a member refers back
			g.components.Set(name, g.object(t))
		}
		return ref(name)
	}
	return anyValue("")
}

func (g *goSchemas) object(t reflect.Type) *Schema {
	s := &Schema{Type: "object", Properties: &Ordered[*Schema]{}}
	g.addFields(s, t)
	return s
}

func (g *goSchemas) addFields(s *Schema, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.addFields(s, ft) // encoding/json promotes the members of an embedded struct
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		fs := g.of(f.Type)
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			if !strings.Contains(opts, "omitempty") && f.Type != rawType {
				fs = nullable(fs)
			}
		}
		s.Properties.Set(name, fs)
		if g.required && !strings.Contains(opts, "omitempty") {
			s.Required = append(s.Required, name)
		}
	}
}
