// Package jsonobj splits JSON objects into their top-level members without decoding
// them: the relay serves and stores records as the JSON the agent wrote, touching only
// the members it owns.
package jsonobj

import (
	"bytes"
	"errors"
)

// Member is one top-level member of a JSON object: its key as written (without the
// quotes, escapes left as they are) and its raw value.
type Member struct {
	Key, Val []byte
}

// ErrNotObject means the input is not a JSON object.
var ErrNotObject = errors.New("not a JSON object")

// Members splits a JSON object into its members, in order. It trusts the input to
// be valid JSON (check with json.Valid first when it comes from outside) and only
// tracks strings and nesting, which makes it far cheaper than decoding.
func Members(b []byte) ([]Member, error) {
	// Records have some 30 to 50 members; one allocation holds them.
	return AppendMembers(make([]Member, 0, 64), b)
}

// AppendMembers is Members appending to out, so that a caller splitting many
// objects can reuse one slice.
func AppendMembers(out []Member, b []byte) ([]Member, error) {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, ErrNotObject
	}
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
		return 0, ErrNotObject
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
			return nil, ErrNotObject
		}
		end, err := scanString()
		if err != nil {
			return nil, err
		}
		key := b[i+1 : end-1]
		i = end
		skipSpace()
		if i >= len(b) || b[i] != ':' {
			return nil, ErrNotObject
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
		out = append(out, Member{Key: key, Val: bytes.TrimSpace(b[start:i])})
	}
}
