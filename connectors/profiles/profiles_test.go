package profiles

import "testing"

func TestEmbeddedProfilesParse(t *testing.T) {
	for _, sys := range Systems() {
		t.Run(sys, func(t *testing.T) {
			if _, err := Load(sys); err != nil {
				t.Fatal(err)
			}
		})
	}
}
