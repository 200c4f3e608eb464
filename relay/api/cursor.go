package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// A cursor is base64url(JSON payload) "." base64url(HMAC-SHA256(payload)[:16]). The
// payload names the list it belongs to and a digest of the query's filters, so a cursor
// that was edited, forged, or reused with other filters or on another list is refused.
type cursorCodec struct {
	key []byte
}

// cursor is the payload of a list cursor.
type cursor struct {
	// List names the list: "records", "connections", "events", ….
	List string `json:"l"`
	// Query is a digest of the filters the walk was started with.
	Query string `json:"q"`
	// Back walks backwards from the position (a previous cursor).
	Back bool `json:"b,omitempty"`
	// ModifiedAt and ID are the position in a record walk (unix µs, record id).
	ModifiedAt int64  `json:"m,omitempty"`
	ID         string `json:"i,omitempty"`
	// Snapshot bounds a record walk at the connection's record clock when it
	// started (unix µs): records changed after it are left to the next walk, so
	// none appears twice in one walk.
	Snapshot int64 `json:"s,omitempty"`
	// Inner is the store's own cursor for lists other than records.
	Inner string `json:"n,omitempty"`
}

const maxCursorLen = 2048

func (c cursorCodec) encode(p cursor) string {
	b, _ := json.Marshal(p)
	mac := hmac.New(sha256.New, c.key)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

// decode checks s and returns its payload if it belongs to list with query digest q.
func (c cursorCodec) decode(s, list, q string) (cursor, error) {
	bad := Errorf(CodeInvalidRequest, "the cursor is not valid: pass back a next or previous value unchanged, with the same filters")
	if len(s) > maxCursorLen {
		return cursor{}, bad
	}
	body, sig, ok := strings.Cut(s, ".")
	if !ok {
		return cursor{}, bad
	}
	// Strict: a cursor has exactly one spelling, so an edited one is always refused.
	b, err1 := base64.RawURLEncoding.Strict().DecodeString(body)
	got, err2 := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err1 != nil || err2 != nil {
		return cursor{}, bad
	}
	mac := hmac.New(sha256.New, c.key)
	mac.Write(b)
	if !hmac.Equal(got, mac.Sum(nil)[:16]) {
		return cursor{}, bad
	}
	var p cursor
	if err := json.Unmarshal(b, &p); err != nil || p.List != list {
		return cursor{}, bad
	}
	if p.Query != q {
		return cursor{}, Errorf(CodeInvalidRequest, "the cursor belongs to a walk with other filters; start again without a cursor to change them")
	}
	return p, nil
}

// queryDigest binds a cursor to the filters of its query.
func queryDigest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
