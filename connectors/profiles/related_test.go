package profiles

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseSAPFeatures checks the parts of the format that SAP needed:
// status sets, items from another table, DATS dates, times of day, further
// change columns, params and read-only models. Each case names the problem
// path it must report, or none.
func TestParseSAPFeatures(t *testing.T) {
	wrap := func(model string) string {
		return `{version: 1, system: x, params: {client: "100"}, models: {` + model + `}}`
	}
	const ss = `status_set: {table: JEST, match: {OBJNR: OBJNR}, code_column: STAT, inactive: {column: INACT, value: X}, precedence: [I0045, I0002]}`
	for _, tc := range []struct {
		name, doc, problem string
	}{
		{"status set", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {status: {` + ss + `, values: {I0045: completed, I0002: open}}}}`), ""},
		{"status set on a string field", wrap(`maintenance_plans: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {status: {` + ss + `}}}`), ""},
		{"status set on a time field", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {due_at: {` + ss + `}}}`),
			"models.work_orders.fields.due_at.status_set: only enum and string fields"},
		{"status set and column", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {status: {column: S, ` + ss + `}}}`),
			"models.work_orders.fields.status: needs exactly one of"},
		{"status set without precedence", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {status: {status_set: {table: JEST, match: {O: O}, code_column: S}}}}`),
			"models.work_orders.fields.status.status_set.precedence"},
		{"value outside the precedence", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {status: {` + ss + `, values: {I0046: closed}}}}`),
			"models.work_orders.fields.status.values.I0046: is not in status_set.precedence"},
		{"code listed twice", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {status: {status_set: {table: J, match: {O: O}, code_column: S, precedence: [A, A]}}}}`),
			`lists "A" twice`},
		{"status set without table", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {status: {status_set: {match: {O: O}, code_column: S, precedence: [A]}}}}`),
			"models.work_orders.fields.status.status_set.table: is required"},
		{"items from a table", wrap(`maintenance_plans: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {asset_ids: {ref_list: assets, from: {table: MPOS, match: {W: W}}, items: [[EQUNR]]}}}`), ""},
		{"from on a plain field", wrap(`maintenance_plans: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {name: {column: N, from: {table: MPOS, match: {W: W}}}}}`),
			"models.maintenance_plans.fields.name.from: only ref_list"},
		{"time of day", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {due_at: {column: D, time_column: TM}}}`), ""},
		{"time of day on a string", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, fields: {title: {column: D, time_column: TM}}}`),
			"models.work_orders.fields.title.time_column"},
		{"dats", wrap(`work_orders: {table: T, key: [A], date_format: dats, watermark: {strategy: date_overlap, column: AEDAT, also: [ERDAT]}}`), ""},
		{"unknown date format", wrap(`work_orders: {table: T, key: [A], date_format: julian, watermark: {strategy: row_hash}}`),
			"models.work_orders.date_format: must be empty or dats"},
		{"also without date_overlap", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: timestamp_column, column: C, also: [D]}}`),
			"models.work_orders.watermark.also"},
		{"param", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, where: [{column: MANDT, in: [{param: client}], scope: true}]}`), ""},
		{"undeclared param", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, where: [{column: MANDT, in: [{param: clinet}]}]}`),
			`models.work_orders.where[0]: parameter "clinet" is not declared`},
		{"undeclared param in a join", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, joins: [{table: X, alias: x, on: {A: A}, where: [{column: L, in: [{param: lang}]}]}]}`),
			`models.work_orders.joins[0].where[0]: parameter "lang"`},
		{"value that is no param", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, where: [{column: M, in: [{client: x}]}]}`),
			"values must be strings, numbers, booleans or {param: NAME}"},
		{"read only", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, read_only: use BAPIs}`), ""},
		{"read only with writes", wrap(`work_orders: {table: T, key: [A], watermark: {strategy: row_hash}, read_only: use BAPIs, write: {update: {allowed: [title]}}}`),
			"models.work_orders.read_only: a read-only model declares no write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
				t.Fatalf("error %v, want one containing %q", err, tc.problem)
			}
		})
	}
}

// TestWithParams checks that parameter references are replaced everywhere
// a filter can stand, and that the profile's model is left as it was.
func TestWithParams(t *testing.T) {
	p, err := Parse([]byte(`{version: 1, system: x, params: {client: "100", language: E}, models: {work_orders: {table: T, key: [A],
		watermark: {strategy: row_hash}, where: [{column: MANDT, in: [{param: client}], scope: true}, {column: K, not_in: [1, {param: client}]}],
		joins: [{table: X, alias: x, on: {A: A}, where: [{column: SPRAS, in: [{param: language}]}]}],
		fields: {status: {status_set: {table: J, match: {O: O}, where: [{column: M, in: [{param: client}]}], code_column: S, precedence: [A]}}}},
		purchase_orders: {table: P, key: [N], watermark: {strategy: row_hash}, children: {lines: {table: L, on: {N: N}, where: [{column: M, in: [{param: client}]}]}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{"client": "200", "language": "D"}
	wo, err := WithParams(p.Models["work_orders"], params)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want []any
	}{
		{"where", wo.Where[0].In, []any{"200"}},
		{"not_in", wo.Where[1].NotIn, []any{1, "200"}},
		{"join", wo.Joins[0].Where[0].In, []any{"D"}},
		{"status set", wo.Fields["status"].StatusSet.Where[0].In, []any{"200"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if !wo.Where[0].Scope {
		t.Errorf("scope lost")
	}
	po, err := WithParams(p.Models["purchase_orders"], params)
	if err != nil || !reflect.DeepEqual(po.Children["lines"].Where[0].In, []any{"200"}) {
		t.Errorf("lines: %v %v", po.Children["lines"].Where, err)
	}
	if _, ok := ParamRef(p.Models["work_orders"].Where[0].In[0]); !ok {
		t.Errorf("the profile's own model was changed")
	}
	if _, err := WithParams(p.Models["work_orders"], map[string]string{"client": "1"}); err == nil || !strings.Contains(err.Error(), `"language"`) {
		t.Errorf("missing param: %v", err)
	}
}
