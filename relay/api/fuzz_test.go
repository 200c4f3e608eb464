package api

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
)

func FuzzCursorDecode(f *testing.F) {
	c := cursorCodec{key: bytes.Repeat([]byte("k"), 32)}
	good := c.encode(cursor{List: "records", Query: "q", ModifiedAt: 123, ID: "wo_1", Snapshot: 456})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("")
	f.Add(".")
	f.Add("e30.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := c.decode(s, "records", "q")
		if err != nil {
			return
		}
		// Whatever decodes must be exactly what the relay signed.
		if c.encode(p) != s && s != good {
			// Different JSON spellings of one payload cannot carry a valid signature
			// unless the key leaked.
			t.Fatalf("accepted a cursor the relay did not sign: %q", s)
		}
	})
}

func FuzzRecordJSON(f *testing.F) {
	f.Add(`{"id":"wo_1","remote_id":"A/1","created_at":null,"modified_at":null,"remote_was_deleted":false,"title":"x","remote_data":{"A":1}}`)
	f.Add(`{"id":"x","lines":[{"a":"}"},{"b":[1,2,{"c":"\""}]}],"remote_data":null}`)
	f.Add(`{}`)
	f.Add(`{"a":"\\"}`)
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		var obj map[string]any
		if json.Unmarshal([]byte(body), &obj) != nil || obj == nil {
			return
		}
		for _, remote := range []bool{false, true} {
			var buf bytes.Buffer
			rec := store.StoredRecord{ID: "x", CreatedAt: time.Unix(1, 0), ModifiedAt: time.Unix(2, 0), Body: json.RawMessage(body)}
			if err := recordJSON(&buf, rec, remote); err != nil {
				t.Fatalf("valid object refused: %v", err)
			}
			var out map[string]any
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
				t.Fatalf("output is not JSON: %v: %s", err, buf.Bytes())
			}
			if _, ok := out["remote_data"]; ok != remote {
				t.Fatalf("remote_data present=%v with include=%v: %s", ok, remote, buf.Bytes())
			}
			for k, v := range obj {
				if k == "created_at" || k == "modified_at" || k == "remote_was_deleted" || k == "remote_data" {
					continue
				}
				a, _ := json.Marshal(v)
				b, _ := json.Marshal(out[k])
				if !bytes.Equal(a, b) {
					t.Fatalf("member %q changed: %s → %s", k, a, b)
				}
			}
		}
	})
}
