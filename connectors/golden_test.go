package connectors

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenSQL renders, for every dialect and every model of every shipped
// profile, the statements a read issues: an incremental page after a stored
// position, a full re-sync page, a read by key and the child-line query.
// SQL Server and Oracle cannot run here, so these files are their main check.
func TestGoldenSQL(t *testing.T) {
	f := newSQLiteFixture(t, 1)
	base, err := dialect.SQLite.Discover(t.Context(), f.db, "")
	if err != nil {
		t.Fatal(err)
	}
	base = withDemoSchemas(t, base, goldenDemoSystems...)
	for _, d := range dialect.All {
		t.Run(d.Name(), func(t *testing.T) {
			s := schemaFor(base, d)
			var out strings.Builder
			for _, sys := range profiles.Systems() {
				p, err := profiles.Load(sys)
				if err != nil {
					t.Fatal(err)
				}
				ps, _, err := compile(p, nil, s, d)
				if err != nil {
					t.Fatal(err)
				}
				c := &SQLConnector{d: d}
				for _, name := range ps.names() {
					pl := ps.byName[name]
					fmt.Fprintf(&out, "-- %s %s\n", sys, name)
					for _, q := range goldenQueries(c, pl) {
						sqlText, args, err := d.BuildSelect(q.sel)
						if err != nil {
							t.Fatalf("%s %s: %v", name, q.name, err)
						}
						fmt.Fprintf(&out, "%s:\n%s\nargs: %v\n", q.name, sqlText, args)
					}
					out.WriteString("\n")
				}
			}
			path := filepath.Join("testdata", d.Name()+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if string(want) != out.String() {
				t.Errorf("%s differs from the generated SQL; run go test -run TestGoldenSQL -update and review the diff", path)
			}
		})
	}
}

// goldenDemoSystems are the systems whose demodb schema joins the Maximo
// fixture's, so that their profiles' statements are in the golden files.
var goldenDemoSystems = []string{"infor_eam", "mp2", "sap_pm"}

// withDemoSchemas adds the tables of each system's demo database (one work
// order's worth, in SQLite) to base.
func withDemoSchemas(t *testing.T, base *Schema, systems ...string) *Schema {
	t.Helper()
	out := &Schema{Dialect: base.Dialect, Tables: append([]*dialect.Table(nil), base.Tables...)}
	for _, sys := range systems {
		path := filepath.Join(t.TempDir(), sys+".db")
		ddb, err := demodb.Open(t.Context(), "sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		err = demodb.CreateAt(t.Context(), ddb, sys, 1, 1, demoNow, testLogger(t))
		ddb.Close()
		if err != nil {
			t.Fatal(err)
		}
		db, err := dialect.SQLite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dialect.SQLite.Discover(t.Context(), db, "")
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		out.Tables = append(out.Tables, s.Tables...)
	}
	sort.Slice(out.Tables, func(i, j int) bool { return out.Tables[i].Name < out.Tables[j].Name })
	out.Index()
	return out
}

// schemaFor gives the fixture schema the column types the dialect would
// report, so that kind-dependent SQL (SQL Server rowversion) appears.
func schemaFor(base *Schema, d *dialect.Dialect) *Schema {
	s := &Schema{Dialect: d.Name()}
	for _, t := range base.Tables {
		nt := &dialect.Table{Name: t.Name, Indexes: t.Indexes}
		for _, c := range t.Columns {
			nc := *c
			if c.Name == "ROWSTAMP" && d == dialect.SQLServer {
				nc.Type, nc.Kind = "timestamp", dialect.KindRowversion
			}
			nt.Columns = append(nt.Columns, &nc)
		}
		s.Tables = append(s.Tables, nt)
	}
	s.Index()
	return s
}

type goldenQuery struct {
	name string
	sel  dialect.Select
}

func goldenQueries(c *SQLConnector, pl *plan) []goldenQuery {
	var out []goldenQuery
	keyVals := func() []any {
		var v []any
		for i := range pl.key {
			v = append(v, fmt.Sprintf("k%d", i+1))
		}
		return v
	}
	if pl.wm >= 0 {
		q := c.baseSelect(pl)
		q.Limit = 1000
		q.OrderBy = append([]dialect.Col{pl.cols[pl.wm]}, pl.keyCols...)
		q.After = &dialect.Keyset{Cols: q.OrderBy, Values: append([]any{"wm"}, keyVals()...)}
		if pl.meta[pl.wm].Kind == dialect.KindRowversion {
			q.BelowActiveRowversion = &pl.cols[pl.wm]
		}
		out = append(out, goldenQuery{"incremental page", q})
	}
	q := c.baseSelect(pl)
	q.Limit = 1000
	q.OrderBy = pl.keyCols
	q.After = &dialect.Keyset{Cols: pl.keyCols, Values: keyVals()}
	out = append(out, goldenQuery{"full or row-hash page", q})
	q = c.baseSelect(pl)
	q.Filters = pl.scope
	q.KeysIn = &dialect.KeysIn{Cols: pl.keyCols, Rows: [][]any{keyVals()}}
	out = append(out, goldenQuery{"by key", q})
	if len(pl.also) > 0 {
		q := c.baseSelect(pl)
		q.Limit = 1000
		q.OrderBy = append([]dialect.Col{pl.cols[pl.wm]}, pl.keyCols...)
		c.applyOverlap(pl, &q, "from")
		out = append(out, goldenQuery{"overlap window", q})
	}
	for _, rp := range pl.related {
		row := make([]any, len(rp.match))
		for i := range row {
			row[i] = fmt.Sprintf("p%d", i+1)
		}
		out = append(out, goldenQuery{"related " + rp.field.name, dialect.Select{Table: rp.table.Name, Alias: "c", Columns: rp.cols,
			Filters: rp.filters, KeysIn: &dialect.KeysIn{Cols: rp.match, Rows: [][]any{row, row}}, OrderBy: rp.order}})
	}
	for _, ch := range pl.children {
		row := make([]any, len(ch.on))
		for i := range row {
			row[i] = fmt.Sprintf("p%d", i+1)
		}
		out = append(out, goldenQuery{"lines " + ch.field, dialect.Select{Table: ch.table.Name, Alias: "c", Columns: ch.cols, Filters: ch.filters,
			KeysIn: &dialect.KeysIn{Cols: ch.onChild, Rows: [][]any{row, row}}, OrderBy: ch.order}})
	}
	return out
}
