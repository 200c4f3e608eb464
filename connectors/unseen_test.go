package connectors

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// The tests in this file run every model of each profile over the fixture
// databases of unseen_fixture_test.go, on SQLite and PostgreSQL.

// fxRead reads every model of the profile with a full re-sync in small
// batches and then incrementally from the watermark it ended with. It
// checks what must hold for any source: each record once, remote ids
// unique, enums within their values, and an incremental read right after
// the re-sync bringing nothing new for models with a change column.
func fxRead(t *testing.T, c *SQLConnector, system string) map[string]map[string]model.Record {
	t.Helper()
	p, err := profiles.Load(system)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]model.Record{}
	for _, name := range profiles.SortedKeys(p.Models) {
		if !slices.Contains(c.Models(), name) {
			continue
		}
		var recs []model.Record
		wm := ""
		err := c.Read(context.Background(), ReadRequest{Model: name, Full: true, BatchSize: 7}, func(b Batch) error {
			recs = append(recs, b.Records...)
			wm = b.Watermark
			return nil
		})
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			continue
		}
		by := map[string]model.Record{}
		def := model.Lookup(name)
		for _, r := range recs {
			if _, dup := by[r.RemoteID]; dup {
				t.Errorf("%s: record %q read twice", name, r.RemoteID)
			}
			by[r.RemoteID] = r
			for _, f := range def.Fields {
				v, ok := r.Fields[f.Name]
				if !ok || v == nil {
					continue
				}
				switch f.Type {
				case model.Enum:
					if !slices.Contains(f.Values, v.(string)) {
						t.Errorf("%s %s: %s = %q, not one of %v", name, r.RemoteID, f.Name, v, f.Values)
					}
				case model.String:
					if s := v.(string); s != strings.TrimSpace(s) {
						t.Errorf("%s %s: %s = %q carries the column's padding", name, r.RemoteID, f.Name, s)
					}
				case model.Time:
					if y := v.(time.Time).Year(); y < 1950 || y > 2100 {
						t.Errorf("%s %s: %s = %v", name, r.RemoteID, f.Name, v)
					}
				}
			}
		}
		out[name] = by
		if p.Models[name].Watermark.Strategy == profiles.RowHash {
			continue
		}
		// A first incremental read pages by the change column, whose
		// values repeat (rows saved in the same second, on the same day):
		// it must bring the same records, each once.
		seen := map[string]bool{}
		err = c.Read(context.Background(), ReadRequest{Model: name, BatchSize: 5}, func(b Batch) error {
			for _, r := range b.Records {
				if seen[r.RemoteID] {
					t.Errorf("%s: first incremental read repeats %q", name, r.RemoteID)
				}
				seen[r.RemoteID] = true
			}
			return nil
		})
		if err != nil || len(seen) != len(by) {
			t.Errorf("%s: first incremental read: %d records (%v), full read %d", name, len(seen), err, len(by))
		}
		var again []model.Record
		err = c.Read(context.Background(), ReadRequest{Model: name, Watermark: wm, BatchSize: 7}, func(b Batch) error {
			again = append(again, b.Records...)
			return nil
		})
		if err != nil {
			t.Errorf("incremental read %s: %v", name, err)
		}
		// A position taken at the end of a re-sync has no key: rows at
		// exactly its value are read again (they may have committed later).
		if p.Models[name].Watermark.Strategy == profiles.Rowversion && len(again) > 1 {
			t.Errorf("%s: incremental read after a full one read %d records", name, len(again))
		}
	}
	return out
}

func TestUnseenMaximo(t *testing.T) {
	fxBackends(t, func(t *testing.T, tg fxTarget) {
		fx := maximoFixture(tg.name == "postgres")
		fx.db.create(t, tg.d, tg.db)
		c := tg.open(t, "maximo", nil)
		got := fxRead(t, c, "maximo")
		for m, recs := range got {
			t.Logf("%s: %d records", m, len(recs))
		}
		wos := got["work_orders"]
		if len(wos) != len(fx.workOrders) {
			t.Errorf("work orders: %d records, want %d", len(wos), len(fx.workOrders))
		}
		for rid, w := range fx.workOrders {
			r, ok := wos[rid]
			if !ok {
				t.Errorf("work order %s missing", rid)
				continue
			}
			var want any
			if w.wantStatus != "" {
				want = w.wantStatus
			}
			if r.Fields["status"] != want || r.Fields["remote_status"] != w.status {
				t.Errorf("work order %s: status %v (%v), want %v (%s)", rid, r.Fields["status"], r.Fields["remote_status"], want, w.status)
			}
		}
		users := got["users"]
		if len(users) != len(fx.people) {
			t.Errorf("users: %d records, want %d", len(users), len(fx.people))
		}
		_ = errors.New
	})
}

func TestUnseenSAP(t *testing.T) {
	fxBackends(t, func(t *testing.T, tg fxTarget) {
		fx := sapFixture()
		fx.db.create(t, tg.d, tg.db)
		c := tg.open(t, "sap_pm", nil)
		t.Logf("models: %v", c.Models())
		got := fxRead(t, c, "sap_pm")
		for m, recs := range got {
			t.Logf("%s: %d records", m, len(recs))
		}
		wos := got["work_orders"]
		if len(wos) != len(fx.orders) {
			t.Errorf("work orders: %d records, want %d", len(wos), len(fx.orders))
		}
		for aufnr, w := range fx.orders {
			r, ok := wos[aufnr]
			if !ok {
				t.Errorf("order %s missing", aufnr)
				continue
			}
			if r.Fields["status"] != w.status || r.Fields["remote_status"] != w.remote {
				t.Errorf("order %s: status %v (%v), want %v (%v)", aufnr, r.Fields["status"], r.Fields["remote_status"], w.status, w.remote)
			}
			if (r.Fields["asset_id"] != nil) != w.hasAsset {
				t.Errorf("order %s: asset_id %v, want one: %v", aufnr, r.Fields["asset_id"], w.hasAsset)
			}
			if r.Fields["title"] != w.title {
				t.Errorf("order %s: title %q, want %q", aufnr, r.Fields["title"], w.title)
			}
		}
		for _, top := range fx.topLocations {
			r, ok := got["locations"][top]
			if !ok {
				t.Errorf("location %q missing", top)
			} else if r.Fields["parent_id"] != nil {
				t.Errorf("top location %s: parent_id %v", top, r.Fields["parent_id"])
			}
		}
		for warpl, p := range fx.plans {
			r, ok := got["maintenance_plans"][warpl]
			if !ok {
				t.Errorf("plan %s missing", warpl)
				continue
			}
			if r.Fields["trigger_type"] != p.trigger {
				t.Errorf("plan %s: trigger_type %v, want %s", warpl, r.Fields["trigger_type"], p.trigger)
			}
			if ids := r.Fields["asset_ids"].([]string); len(ids) != p.assets {
				t.Errorf("plan %s: asset_ids %v, want %d", warpl, ids, p.assets)
			}
		}
		// Keys read back from padded columns find their rows again.
		for _, k := range [][2]string{{"locations", fx.topLocations[0]}, {"locations", fx.topLocations[0] + "-AREA-02"}, {"maintenance_plans", "000000000030"}} {
			if r, err := c.ReadByKey(context.Background(), k[0], k[1]); err != nil || r.RemoteID != k[1] {
				t.Errorf("read %s %q by key: %v %v", k[0], k[1], r, err)
			}
		}
		for aufnr := range fx.orders {
			if r, err := c.ReadByKey(context.Background(), "work_orders", aufnr); err != nil || r.Fields["title"] != fx.orders[aufnr].title {
				t.Errorf("read order %s by key: %v %v", aufnr, r, err)
			}
			break
		}
		if _, err := c.ReadByKey(context.Background(), "work_orders", fx.only200); !errors.Is(err, ErrNotFound) {
			t.Errorf("read by key of another client's order: %v", err)
		}
	})
}

func TestUnseenInforEAM(t *testing.T) {
	fxBackends(t, func(t *testing.T, tg fxTarget) {
		fx := inforFixture()
		fx.db.create(t, tg.d, tg.db)
		c := tg.open(t, "infor_eam", nil)
		got := fxRead(t, c, "infor_eam")
		for m, recs := range got {
			t.Logf("%s: %d records", m, len(recs))
		}
		wos := got["work_orders"]
		if len(wos) != len(fx.events) {
			t.Errorf("work orders: %d records, want %d", len(wos), len(fx.events))
		}
		for code, want := range fx.events {
			if r, ok := wos[code]; !ok {
				t.Errorf("work order %s missing", code)
			} else if r.Fields["status"] != want {
				t.Errorf("work order %s: status %v (%v), want %v", code, r.Fields["status"], r.Fields["remote_status"], want)
			}
		}
		if n := len(got["users"]); n != fx.people {
			t.Errorf("users: %d records, want %d", n, fx.people)
		}
		// A check box left NULL is unchecked: the person is in use.
		for id, r := range got["users"] {
			want := r.RemoteData["PER_NOTUSED"] != "+"
			if r.Fields["is_active"] != want {
				t.Errorf("user %s: is_active %v with PER_NOTUSED %v", id, r.Fields["is_active"], r.RemoteData["PER_NOTUSED"])
			}
		}
		if n := len(got["parts"]); n != 0 {
			t.Errorf("parts of an empty table: %d records", n)
		}
	})
}

func TestUnseenMP2(t *testing.T) {
	fxBackends(t, func(t *testing.T, tg fxTarget) {
		fx := mp2Fixture()
		fx.db.create(t, tg.d, tg.db)
		c := tg.open(t, "mp2", nil)
		got := fxRead(t, c, "mp2")
		for m, recs := range got {
			t.Logf("%s: %d records", m, len(recs))
		}
		wos := got["work_orders"]
		if len(wos) != len(fx.wos) {
			t.Errorf("work orders: %d records, want %d", len(wos), len(fx.wos))
		}
		for num, w := range fx.wos {
			r, ok := wos[num]
			if !ok {
				t.Errorf("work order %s missing", num)
				continue
			}
			var asset any
			if w.asset != nil {
				asset = model.RecordID("conn_fx", "assets", w.asset.(string))
			}
			if r.Fields["status"] != w.status || r.Fields["asset_id"] != asset {
				t.Errorf("work order %s: status %v asset %v, want %v %v (%v)", num, r.Fields["status"], r.Fields["asset_id"], w.status, asset, w.asset)
			}
			if (r.Fields["priority"] == nil) != (w.priority == nil) {
				t.Errorf("work order %s: priority %v (%v) from %v", num, r.Fields["priority"], r.Fields["remote_priority"], w.priority)
			}
		}
		if n := len(got["assets"]); n != 25 {
			t.Errorf("assets: %d records, want 25", n)
		}
	})
}

// TestUnseenMissingParts reads models whose table, key or joined columns a
// database lacks: what can be served is, and the rest fails with an error
// that names the missing table or column and the override that fixes it.
func TestUnseenMissingParts(t *testing.T) {
	fxBackends(t, func(t *testing.T, tg fxTarget) {
		fx := maximoFixture(tg.name == "postgres")
		// An older labor module without default crafts, a PERSON table
		// keyed by another column, and no companies at all.
		fx.db.byName["LABORCRAFTRATE"].dropColumn("DEFAULTCRAFT")
		fx.db.byName["PERSON"].dropColumn("PERSONID")
		fx.db.byName["ASSET"].dropColumn("SERIALNUM")
		fx.db.dropTable("COMPANIES")
		fx.db.create(t, tg.d, tg.db)
		c := tg.open(t, "maximo", nil)
		for _, m := range []string{"users", "vendors"} {
			if slices.Contains(c.Models(), m) {
				t.Fatalf("%s served without its table or key", m)
			}
		}
		for m, want := range map[string][]string{
			"users":   {`column "PERSONID" does not exist in table`, "override", "models.users.source"},
			"vendors": {`table "COMPANIES" does not exist`, "override"},
		} {
			err := c.Read(context.Background(), ReadRequest{Model: m}, func(Batch) error { return nil })
			var ce *Error
			if !errors.As(err, &ce) || ce.Class != BadRequest || !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrUnserved) {
				t.Fatalf("read %s: %v", m, err)
			}
			for _, w := range want {
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(w)) {
					t.Errorf("read %s: %q does not say %q", m, err, w)
				}
			}
			if _, err := c.ReadByKey(context.Background(), m, "X"); !errors.Is(err, ErrUnserved) {
				t.Errorf("read %s by key: %v", m, err)
			}
			// diagnose shows the reason to plant IT, without the profile's paths.
			if why := c.UnservedReasons()[m]; !strings.Contains(why, want[0]) || strings.Contains(why, "models.") {
				t.Errorf("UnservedReasons[%s] = %q, want it to say %q without profile paths", m, why, want[0])
			}
		}
		// The field whose column is missing is left out; the rest reads.
		got := fxRead(t, c, "maximo")
		if len(got["assets"]) != 80 || len(got["work_orders"]) != len(fx.workOrders) {
			t.Errorf("assets %d, work orders %d", len(got["assets"]), len(got["work_orders"]))
		}
		// An override maps users to the column this database has.
		o, err := profiles.ParseOverrides([]byte(`{"version": 1, "models": {"users": {"source": {"table": "PERSON", "key": ["PERSONUID"],
			"watermark": {"strategy": "rowversion", "column": "ROWSTAMP"}, "fields": {"name": {"column": "DISPLAYNAME"}}}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetOverrides(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if got := fxRead(t, c, "maximo"); len(got["users"]) != len(fx.people) {
			t.Errorf("users through the override: %d records, want %d", len(got["users"]), len(fx.people))
		}
	})
	fxBackends(t, func(t *testing.T, tg fxTarget) {
		// MP2 with only its work order and equipment tables.
		mp2Fixture().db.create(t, tg.d, tg.db)
		c := tg.open(t, "mp2", nil)
		p, _ := profiles.Load("mp2")
		for _, m := range profiles.SortedKeys(p.Models) {
			if slices.Contains(c.Models(), m) {
				continue
			}
			err := c.Read(context.Background(), ReadRequest{Model: m}, func(Batch) error { return nil })
			if err == nil || !strings.Contains(err.Error(), p.Models[m].Table) || !strings.Contains(err.Error(), "override") {
				t.Errorf("read %s: %v", m, err)
			}
		}
	})
}
