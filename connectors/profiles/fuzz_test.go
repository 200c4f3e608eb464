package profiles

import (
	"strings"
	"testing"
)

func FuzzParseOverrides(f *testing.F) {
	f.Add([]byte(`{version: 1, models: {work_orders: {fields: {title: {column: DESCR}}}}}`))
	f.Add([]byte(`version: 1
custom_models:
  meters: {table: METER, key: [METERNAME], watermark: {strategy: row_hash}, fields: {name: {column: METERNAME, type: string}}}`))
	f.Add([]byte(`{"version":1,"models":{"assets":{"custom_fields":{"x":{"column":"A","type":"int"}}}}}`))
	f.Add([]byte(`version: 2`))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseOverrides(data)
		if err == nil && o.Version != 1 {
			t.Fatalf("accepted version %d", o.Version)
		}
		if err == nil {
			for name := range o.CustomModels {
				if !validName(name) {
					t.Fatalf("accepted custom model name %q", name)
				}
			}
		}
	})
}

func FuzzParseProfile(f *testing.F) {
	for _, s := range Systems() {
		data, _ := embedded.ReadFile(s + ".yaml")
		f.Add(data)
	}
	f.Add([]byte(`{version: 1, system: x, models: {work_orders: {table: T, key: [A], watermark: {strategy: rowversion}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err == nil && (p.Version != 1 || p.System == "") {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func TestParseProblemsNamePaths(t *testing.T) {
	_, err := Parse([]byte(`{version: 1, system: x, models: {work_orders: {table: T, key: [], watermark: {strategy: nope}, fields: {bogus: {column: A}, status: {column: S, values: {A: wrong}}}}, widgets: {table: W}}}`))
	for _, want := range []string{"models.work_orders.key", "models.work_orders.watermark.strategy", "models.work_orders.fields.bogus", "models.work_orders.fields.status.values.A", "models.widgets"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if _, err := ParseOverrides([]byte(`{version: 1, unknown_key: 1}`)); err == nil {
		t.Errorf("unknown key accepted")
	}
}
