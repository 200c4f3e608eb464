package api

import (
	"bytes"
	"errors"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
)

// recordJSON writes a stored record as the API shows it, without decoding it: the
// store keeps the agent's flat JSON with the relay's fields empty, so the relay's
// created_at, modified_at and remote_was_deleted are put in their places and
// remote_data is dropped unless asked for. Member order is kept.
func recordJSON(buf *bytes.Buffer, r store.StoredRecord, includeRemote bool) error {
	members, err := topLevelMembers(r.Body)
	if err != nil {
		return err
	}
	buf.WriteByte('{')
	first := true
	put := func(key string, val []byte) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.WriteByte('"')
		buf.WriteString(key)
		buf.WriteString(`":`)
		buf.Write(val)
	}
	seen := 0
	for _, m := range members {
		switch string(m.key) {
		case "created_at":
			put("created_at", timeJSON(r.CreatedAt))
			seen |= 1
		case "modified_at":
			put("modified_at", timeJSON(r.ModifiedAt))
			seen |= 2
		case "remote_was_deleted":
			put("remote_was_deleted", boolJSON(r.RemoteWasDeleted))
			seen |= 4
		case "remote_data":
			if includeRemote {
				put("remote_data", m.val)
			}
		default:
			put(string(m.key), m.val)
		}
	}
	if seen&1 == 0 {
		put("created_at", timeJSON(r.CreatedAt))
	}
	if seen&2 == 0 {
		put("modified_at", timeJSON(r.ModifiedAt))
	}
	if seen&4 == 0 {
		put("remote_was_deleted", boolJSON(r.RemoteWasDeleted))
	}
	if includeRemote && !hasKey(members, "remote_data") {
		put("remote_data", []byte("null"))
	}
	buf.WriteByte('}')
	return nil
}

func hasKey(ms []member, k string) bool {
	for _, m := range ms {
		if string(m.key) == k {
			return true
		}
	}
	return false
}

func timeJSON(t time.Time) []byte {
	if t.IsZero() {
		return []byte("null")
	}
	return []byte(`"` + t.UTC().Format(time.RFC3339Nano) + `"`)
}

func boolJSON(b bool) []byte {
	if b {
		return []byte("true")
	}
	return []byte("false")
}

// member is one top-level member of a JSON object: its key (unescaped only when it
// has no escapes, which the record encoder never writes for its keys) and raw value.
type member struct {
	key, val []byte
}

var errNotObject = errors.New("stored record is not a JSON object")

// topLevelMembers splits a JSON object into its members. It trusts the input to be
// valid JSON (the store wrote it) and only tracks strings and nesting.
func topLevelMembers(b []byte) ([]member, error) {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, errNotObject
	}
	var out []member
	i := 1
	skipSpace := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
			i++
		}
	}
	scanString := func() (int, error) { // i at opening quote; returns index after closing quote
		j := i + 1
		for j < len(b) {
			switch b[j] {
			case '\\':
				j += 2
				continue
			case '"':
				return j + 1, nil
			}
			j++
		}
		return 0, errNotObject
	}
	for {
		skipSpace()
		if i >= len(b)-1 {
			return out, nil
		}
		if b[i] == ',' {
			i++
			skipSpace()
		}
		if b[i] != '"' {
			return nil, errNotObject
		}
		end, err := scanString()
		if err != nil {
			return nil, err
		}
		key := b[i+1 : end-1]
		i = end
		skipSpace()
		if i >= len(b) || b[i] != ':' {
			return nil, errNotObject
		}
		i++
		skipSpace()
		start := i
		depth := 0
	value:
		for i < len(b) {
			switch b[i] {
			case '"':
				end, err := scanString()
				if err != nil {
					return nil, err
				}
				i = end
				if depth == 0 {
					break value
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 { // the object's own closing brace
					break value
				}
				depth--
				if depth == 0 {
					i++
					break value
				}
			case ',':
				if depth == 0 {
					break value
				}
			}
			i++
		}
		out = append(out, member{key: key, val: bytes.TrimSpace(b[start:i])})
	}
}
