package relay

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/leaktest"
)

// TestWalkWithConcurrentUpdates walks 10,000 work orders page by page while the agent
// keeps changing them. The documented semantics: a walk is bounded by the moment it
// started, so no record appears twice in one walk; a record changed during the walk is
// returned by the next walk, modified_after the last modified_at of this one. Together
// the two walks miss nothing.
func TestWalkWithConcurrentUpdates(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{})
	id, token := tr.connection("maximo")
	agent := tr.startAgent(token)
	const total = 10000
	for b := range total / 1000 {
		var recs []model.Record
		for i := b * 1000; i < (b+1)*1000; i++ {
			recs = append(recs, agent.workOrder(i, "v0"))
		}
		if _, code := agent.upload(fmt.Sprintf("init-%d", b), "work_orders", recs, "", false); code != 200 {
			t.Fatalf("initial batch %d: %d", b, code)
		}
	}

	// Updates run until the walk ends.
	var stop atomic.Bool
	var updated sync.Map // id → true
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for n := 0; !stop.Load(); n++ {
			var recs []model.Record
			for range 50 {
				r := agent.workOrder(rng.IntN(total), fmt.Sprintf("v%d", n+1))
				recs = append(recs, r)
			}
			if _, code := agent.upload(fmt.Sprintf("upd-%d", n), "work_orders", recs, "", false); code != 200 {
				t.Errorf("update batch: %d", code)
				return
			}
			for _, r := range recs {
				updated.Store(r.ID, true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	base := "/v1/connections/" + id + "/work_orders?page_size=100"
	seen := map[string]int{}
	var last string
	path := base
	for pages := 0; ; pages++ {
		page := tr.must(200, "GET", path, nil)
		for _, r := range page["results"].([]any) {
			m := r.(map[string]any)
			seen[m["id"].(string)]++
			if mod := m["modified_at"].(string); mod < last {
				t.Fatalf("modified_at went back: %s after %s", mod, last)
			} else {
				last = mod
			}
		}
		next, _ := page["next"].(string)
		if next == "" {
			break
		}
		path = base + "&cursor=" + url.QueryEscape(next)
	}
	stop.Store(true)
	wg.Wait()
	for id, n := range seen {
		if n > 1 {
			t.Fatalf("%s appeared %d times in one walk", id, n)
		}
	}
	// The next walk picks up what changed since.
	follow := map[string]bool{}
	path = "/v1/connections/" + id + "/work_orders?page_size=1000&modified_after=" + url.QueryEscape(last)
	fbase := path
	for {
		page := tr.must(200, "GET", path, nil)
		for _, r := range page["results"].([]any) {
			follow[r.(map[string]any)["id"].(string)] = true
		}
		next, _ := page["next"].(string)
		if next == "" {
			break
		}
		path = fbase + "&cursor=" + url.QueryEscape(next)
	}
	missing := 0
	for i := range total {
		rid := agent.workOrder(i, "").ID
		if seen[rid] == 0 && !follow[rid] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d records in neither the walk nor the next one", missing)
	}
	changed := 0
	updated.Range(func(k, _ any) bool { changed++; return true })
	t.Logf("walk saw %d records, %d changed meanwhile; the next walk returned %d", len(seen), changed, len(follow))
	if changed == 0 {
		t.Fatal("no updates ran during the walk: the test proved nothing")
	}
}
