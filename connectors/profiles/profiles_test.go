package profiles

import (
	"encoding/json"
	"testing"
	"time"
)

func TestEmbeddedProfilesParse(t *testing.T) {
	for _, sys := range Systems() {
		t.Run(sys, func(t *testing.T) {
			if _, err := Load(sys); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOverridesJSONRoundTrip: a mapping document written as JSON (the API's answer,
// the relay's copy sent to the agent) reads back the same, durations included.
func TestOverridesJSONRoundTrip(t *testing.T) {
	in := Overrides{Version: 1, CustomModels: map[string]*Model{"meters": {Table: "METERS", Key: []string{"METERNAME"},
		Watermark: Watermark{Strategy: "timestamp_column", Column: "CHANGEDATE", Overlap: Duration(5 * time.Minute)}}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Overrides
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("read back %s: %v", b, err)
	}
	if got := out.CustomModels["meters"].Watermark.Overlap; got != in.CustomModels["meters"].Watermark.Overlap {
		t.Fatalf("overlap %v, want 5m", time.Duration(got))
	}
	for _, bad := range []string{`{"overlap": 300}`, `{"overlap": "five minutes"}`} {
		var w Watermark
		if err := json.Unmarshal([]byte(bad), &w); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
