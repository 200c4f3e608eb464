package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plantbridge/plantbridge/connectors"
)

// The oracle of the fault tests: what the relay holds, compared with what the plant
// database holds, read by the test itself through the same connector the agent uses.

// record is one record in the JSON form the relay serves, numbers kept as written,
// without the relay's own times (created_at, modified_at).
type record map[string]any

// decodeRecord decodes a record's JSON and drops the relay's times.
func decodeRecord(b []byte) (record, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var r record
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	delete(r, "created_at")
	delete(r, "modified_at")
	return r, nil
}

// sourceRecords reads every record of every model the connection serves from the plant
// database, as a full re-sync does, by model and remote id.
func (p *plant) sourceRecords() (map[string]map[string]record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := connectors.Open(ctx, p.source)
	if err != nil {
		return nil, fmt.Errorf("open the plant database: %w", err)
	}
	defer c.Close()
	out := map[string]map[string]record{}
	for _, m := range c.Models() {
		recs := map[string]record{}
		err := c.Read(ctx, connectors.ReadRequest{Model: m, Full: true}, func(b connectors.Batch) error {
			for _, r := range b.Records {
				j, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if recs[r.RemoteID], err = decodeRecord(j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s from the plant database: %w", m, err)
		}
		out[m] = recs
	}
	return out, nil
}

// relayRecords walks every record of a model on the relay, deleted ones included,
// following the list's next cursor.
func (p *plant) relayRecords(model string) ([]record, error) {
	var out []record
	q := url.Values{"page_size": {"1000"}, "include_deleted": {"true"}, "include_remote_data": {"true"}}
	for page := 0; ; page++ {
		req, _ := http.NewRequest("GET", "http://"+p.addr+"/v1/connections/"+p.connID+"/"+model+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+p.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var list struct {
			Next    *string           `json:"next"`
			Results []json.RawMessage `json:"results"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("list %s page %d: %s %v", model, page, resp.Status, err)
		}
		for _, raw := range list.Results {
			r, err := decodeRecord(raw)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", model, err)
			}
			out = append(out, r)
		}
		if list.Next == nil {
			return out, nil
		}
		q.Set("cursor", *list.Next)
	}
}

// tally is what a comparison found.
type tally struct {
	// live counts the source's records the relay holds, every field equal.
	live int
	// deleted counts the relay's records marked deleted, which the source no longer has.
	deleted int
	// unmarked counts the relay's live records that the source has deleted, and no
	// full re-sync has reported yet.
	unmarked int
	problems []string
}

func (tl *tally) problem(format string, args ...any) {
	tl.problems = append(tl.problems, fmt.Sprintf(format, args...))
}

// compare checks the relay against the plant database: every source record is on the
// relay once, live, with every field equal (none lost, none stale, none duplicated).
// A record the relay has and the source has not must be marked deleted, when
// deletesReported; otherwise (no full re-sync since the deletes) it may still be live.
// It fails the test with what differs.
func (p *plant) compare(deletesReported bool) tally {
	p.t.Helper()
	// The two reads are independent and each takes seconds under the race detector.
	type walked struct {
		recs []record
		err  error
	}
	models := p.servedModels()
	relay := make(map[string]chan walked, len(models))
	for _, m := range models {
		relay[m] = make(chan walked, 1)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, m := range models {
			recs, err := p.relayRecords(m)
			relay[m] <- walked{recs, err}
		}
	}()
	src, err := p.sourceRecords()
	if err != nil {
		p.t.Fatal(err)
	}
	var tl tally
	for _, m := range models {
		want := src[m]
		w := <-relay[m]
		if w.err != nil {
			p.t.Fatal(w.err)
		}
		got := w.recs
		seenID, seenRemote := map[string]bool{}, map[string]bool{}
		for _, r := range got {
			id, _ := r["id"].(string)
			rid, _ := r["remote_id"].(string)
			if seenID[id] || seenRemote[rid] {
				tl.problem("%s %s (%s): the relay lists it twice", m, rid, id)
				continue
			}
			seenID[id], seenRemote[rid] = true, true
			w, inSource := want[rid]
			deleted := r["remote_was_deleted"] == true
			switch {
			case !inSource && deleted:
				tl.deleted++
			case !inSource && !deletesReported:
				tl.unmarked++
			case !inSource:
				tl.problem("%s %s: deleted in the plant database, live on the relay", m, rid)
			case deleted:
				tl.problem("%s %s: in the plant database, marked deleted on the relay", m, rid)
			default:
				if d := diff(w, r); d != "" {
					tl.problem("%s %s: %s", m, rid, d)
				} else {
					tl.live++
				}
			}
		}
		missing := 0
		for _, rid := range sortedKeys(want) {
			if !seenRemote[rid] {
				if missing < 5 {
					tl.problem("%s %s: in the plant database, not on the relay", m, rid)
				}
				missing++
			}
		}
		if missing > 5 {
			tl.problem("%s: %d more records missing on the relay", m, missing-5)
		}
	}
	if len(tl.problems) > 0 {
		shown := tl.problems[:min(len(tl.problems), 25)]
		p.t.Fatalf("the relay differs from the plant database in %d ways (%d records equal):\n  %s",
			len(tl.problems), tl.live, strings.Join(shown, "\n  "))
	}
	return tl
}

// diff describes how the relay's record differs from the source's, "" when it does not.
func diff(want, got record) string {
	var out []string
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		w, inW := want[k]
		g, inG := got[k]
		switch {
		case !inG:
			out = append(out, fmt.Sprintf("%s missing on the relay", k))
		case !inW:
			out = append(out, fmt.Sprintf("%s=%s only on the relay", k, short(g)))
		case !reflect.DeepEqual(w, g):
			out = append(out, fmt.Sprintf("%s: source %s, relay %s", k, short(w), short(g)))
		}
	}
	return strings.Join(out, "; ")
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// servedModels lists the models the plant's connection serves.
func (p *plant) servedModels() []string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := connectors.Open(ctx, p.source)
	if err != nil {
		p.t.Fatal(err)
	}
	defer c.Close()
	return c.Models()
}
