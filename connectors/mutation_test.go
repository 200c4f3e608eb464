package connectors

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/demodb"
)

// TestIncrementalMatchesMutations checks incremental reads against the
// changes a demodb Mutator reports: after each step, the read from the
// stored watermark returns exactly the work orders the step inserted or
// updated, each once; and a full re-sync carries every work order except
// the deleted ones, so the relay can mark those deleted when it sees Final.
func TestIncrementalMatchesMutations(t *testing.T) {
	forEachBackend(t, testIncrementalMatchesMutations)
}

func testIncrementalMatchesMutations(t *testing.T, b backend) {
	ctx := context.Background()
	ddb, db := b.demo(t, "maximo", 400)
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenDB(ctx, db, b.d, Config{System: "maximo", ConnectionID: "conn_demo", Location: loc, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	bs := readAll(t, c, ReadRequest{Model: "work_orders", BatchSize: 150})
	known := map[string]bool{}
	for _, r := range records(bs) {
		known[r.RemoteID] = true
	}
	if len(known) != 400 {
		t.Fatalf("initial read: %d work orders, want 400", len(known))
	}
	wm := lastWatermark(bs, "")

	m, err := demodb.NewMutator(ctx, ddb, "maximo", 7)
	if err != nil {
		t.Fatal(err)
	}
	clock := demoNow
	m.Now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	var deleted []string
	for step := range 4 {
		ch, err := m.Step(ctx, 40)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		var want []string
		if wo := ch["WORKORDER"]; wo != nil {
			want = append(append(want, wo.Inserted...), wo.Updated...)
			for _, k := range wo.Inserted {
				known[k] = true
			}
			for _, k := range wo.Deleted {
				delete(known, k)
			}
			deleted = append(deleted, wo.Deleted...)
		}
		slices.Sort(want)
		// A small batch size makes the read page across equal-watermark
		// boundaries several times.
		bs := readAll(t, c, ReadRequest{Model: "work_orders", Watermark: wm, BatchSize: 7})
		var got []string
		for _, r := range records(bs) {
			got = append(got, r.RemoteID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: incremental read returned %d work orders %v, want %d %v", step, len(got), got, len(want), want)
		}
		wm = lastWatermark(bs, wm)
	}
	if len(deleted) == 0 {
		t.Fatalf("the mutator deleted no work order, so deletion is not exercised; take more steps")
	}

	bs = readAll(t, c, ReadRequest{Model: "work_orders", Full: true, Watermark: wm, BatchSize: 150})
	if len(bs) == 0 || !bs[len(bs)-1].Final {
		t.Fatalf("full re-sync did not end with a Final batch")
	}
	carried := map[string]bool{}
	for _, r := range records(bs) {
		if carried[r.RemoteID] {
			t.Errorf("full re-sync carried %s twice", r.RemoteID)
		}
		carried[r.RemoteID] = true
	}
	for _, k := range deleted {
		if carried[k] {
			t.Errorf("deleted work order %s carried by the full re-sync", k)
		}
	}
	for k := range known {
		if !carried[k] {
			t.Errorf("work order %s missing from the full re-sync", k)
		}
	}
	if len(carried) != len(known) {
		t.Errorf("full re-sync carried %d work orders, want %d", len(carried), len(known))
	}
	// Nothing changed since the last incremental read.
	if again := records(readAll(t, c, ReadRequest{Model: "work_orders", Watermark: wm})); len(again) != 0 {
		t.Errorf("read without changes returned %d work orders", len(again))
	}
}
