package relay

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// TestEncodedRecord: the relay keeps an agent's record byte for byte, except the members
// it owns, which it empties so that the stored body and its hash are the source's content.
func TestEncodedRecord(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := model.Record{ID: "wo_1", RemoteID: "A/1", Fields: map[string]any{"title": "pump \"7\"", "lines": nil}}
	clean, _ := rec.MarshalJSON()
	dirty := rec
	dirty.CreatedAt, dirty.ModifiedAt, dirty.RemoteWasDeleted = now, now, true
	dirtyJSON, _ := dirty.MarshalJSON()

	got, err := encodedRecord(clean)
	if err != nil || string(got.Body) != string(clean) || got.Deleted || got.ID != "wo_1" || got.RemoteID != "A/1" {
		t.Fatalf("clean record: %+v %v", got, err)
	}
	got, err = encodedRecord(dirtyJSON)
	if err != nil || !got.Deleted || string(got.Body) != string(clean) {
		t.Fatalf("record with relay members set: %s %v, want body %s", got.Body, err, clean)
	}
	for _, bad := range []string{`{`, `[]`, `{"id":"x"}`, `{"id":1,"remote_id":"a"}`, `{"id":"x","remote_id":"y","remote_was_deleted":"yes"}`} {
		if _, err := encodedRecord(json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
