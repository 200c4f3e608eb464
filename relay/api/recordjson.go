package api

import (
	"bytes"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/internal/jsonobj"
	"github.com/plantbridge/plantbridge/relay/store"
)

// recordJSON writes a stored record as the API shows it, without decoding it: the
// store keeps the agent's flat JSON with the relay's fields empty, so the relay's
// created_at, modified_at and remote_was_deleted are put in their places and
// remote_data is dropped unless asked for. Member order is kept.
func recordJSON(buf *bytes.Buffer, r store.StoredRecord, includeRemote bool) error {
	scratch := memberSlices.Get().(*[]jsonobj.Member)
	defer func() {
		clear((*scratch)[:cap(*scratch)]) // let go of the body
		memberSlices.Put(scratch)
	}()
	members, err := jsonobj.AppendMembers((*scratch)[:0], r.Body)
	if err != nil {
		return err
	}
	*scratch = members
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
	putRaw := func(key, val []byte) { // the same, without making key a string
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.WriteByte('"')
		buf.Write(key)
		buf.WriteString(`":`)
		buf.Write(val)
	}
	seen := 0
	for _, m := range members {
		switch string(m.Key) {
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
				put("remote_data", m.Val)
			}
		default:
			putRaw(m.Key, m.Val)
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

func hasKey(ms []jsonobj.Member, k string) bool {
	for _, m := range ms {
		if string(m.Key) == k {
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

// memberSlices holds the slices recordJSON splits records into: a page of a
// hundred records would otherwise allocate a hundred of them.
var memberSlices = sync.Pool{New: func() any {
	s := make([]jsonobj.Member, 0, 64)
	return &s
}}
