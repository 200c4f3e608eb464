package connectors

import (
	"context"
	"strings"
	"testing"

	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// TestMaximoProfileMatchesDemo checks that the maximo profile and demodb's
// Maximo schema agree: every table and column the profile maps exists in
// the demo database, so nothing is left out as missing, and the vendor
// address and inventory limits read as Maximo stores them.
func TestMaximoProfileMatchesDemo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		_, db := b.demo(t, "maximo", 50)
		c, err := OpenDB(ctx, db, b.d, Config{System: "maximo", ConnectionID: "conn_demo", Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := profiles.Load("maximo")
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, soft, err := compile(p, nil, s, b.d); err != nil || len(soft) > 0 {
			t.Errorf("profile parts missing from the demo database: %v %v", soft, err)
		}
		vendors := records(readAll(t, c, ReadRequest{Model: "vendors"}))
		withAddress := 0
		for _, v := range vendors {
			a, _ := v.Fields["address"].(string)
			if a == "" {
				continue
			}
			withAddress++
			// Street, city, state, ZIP and country.
			if parts := strings.Split(a, ", "); len(parts) != 5 || parts[4] != "US" {
				t.Errorf("vendor %s: address %q", v.RemoteID, a)
			}
		}
		if withAddress == 0 {
			t.Errorf("no vendor of %d has an address", len(vendors))
		}
		safety := 0
		for _, r := range records(readAll(t, c, ReadRequest{Model: "inventory_levels"})) {
			if _, ok := r.Fields["min_quantity"]; !ok {
				t.Fatalf("inventory level %s has no min_quantity", r.RemoteID)
			}
			if r.Fields["min_quantity"] != nil {
				safety++
			}
		}
		if safety == 0 {
			t.Errorf("no inventory level has a safety stock")
		}
	})
}
