package connectors

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// plans is one compiled, immutable set of model plans. SetOverrides swaps
// the whole set, so a read that started keeps the plans it started with.
type plans struct {
	byName    map[string]*plan
	overrides *Overrides
	// unserved holds, for each profile model that this database cannot
	// serve, the table it reads and why (a missing table, key or
	// watermark column).
	unserved map[string]unserved
}

// unserved is why a profile model is not served.
type unserved struct {
	table string
	probs profiles.Problems
}

// plan is one model's mapping compiled against the discovered schema.
type plan struct {
	name   string
	def    *model.Def
	custom bool
	src    *profiles.Model
	table  *dialect.Table

	joins   []dialect.Join
	cols    []dialect.Col     // select list
	meta    []*dialect.Column // kind of each selected column
	rawName []string          // RemoteData key of each selected column
	nBase   int               // the first nBase columns are the base table's

	key     []int // select indexes of the key columns
	keyCols []dialect.Col

	strategy   string
	wm         int // select index of the watermark column, -1 for row_hash
	overlap    time.Duration
	created    int
	updated    int
	history    int
	filters    []dialect.Filter
	fields     []*fieldPlan
	customF    []*fieldPlan
	children   []*childPlan
	write      *profiles.Write
	byField    map[string]*fieldPlan
	byCustom   map[string]*fieldPlan
	enumFields int

	// dats: text columns read as dates hold SAP DATS (date_format: dats).
	dats bool
	// also are the select indexes of date_overlap's further change columns.
	also []int
	// scope are the filters that apply to reads by key too.
	scope []dialect.Filter
	// related are the fields computed from rows of other tables, read
	// per page (status sets, ref lists with from).
	related []*relatedPlan
	// padded are the select indexes of fixed-width character columns,
	// whose values are trimmed of their padding.
	padded []int
}

type sourceKind int

const (
	srcColumn sourceKind = iota
	srcCoalesce
	srcConcat
	srcConst
	srcRef
	srcRefList
)

// fieldPlan computes one field from selected column values.
type fieldPlan struct {
	name string
	// remote is the name of an enum's remote_ sibling; unified holds the
	// enum's values already boxed, so that mapping a row allocates neither.
	remote     string
	unified    map[string]any
	typ        model.Type
	kind       sourceKind
	idx        []int   // selected columns used
	items      [][]int // ref_list items
	refModel   string
	values     map[string]string
	writeVals  map[string]string
	synonyms   *profiles.Synonyms
	inverted   bool
	trueValues map[string]bool
	constant   any
	sep        string
	scale      float64
	// rel reads a status_set, or a ref_list with from, from another
	// table; the value is filled per page, not from the row.
	rel *relatedPlan
	// timeOfDay is the time_column, if there is one.
	timeOfDay *timeOfDay
	// writeCols are base-table columns a write of this field sets (one for
	// plain columns, the key columns for references), nil if not writable.
	writeCols []*dialect.Column
	// mapBy is the select index of the map_by column, -1 without one;
	// mapByVals maps its codes.
	mapBy     int
	mapByVals map[string]string
}

type childPlan struct {
	field   string
	table   *dialect.Table
	cols    []dialect.Col
	meta    []*dialect.Column
	on      []int // parent select indexes, in on order
	onChild []dialect.Col
	nOn     int // the first nOn child columns selected are the on columns
	filters []dialect.Filter
	order   []dialect.Col
	fields  []*fieldPlan
}

// compile builds the plans of a profile plus overrides against a schema.
// Every problem is reported with its path.
//
// Parts that come from the profile are lenient: a site's database may lack a
// table or column that the profile maps (Maximo versions differ), so such a
// field, or a model whose table, key or watermark is missing, is left out
// and reported in soft. Parts that come from overrides are strict: the user
// named them, so every problem is an error.
func compile(p *profiles.Profile, o *Overrides, s *Schema, d *dialect.Dialect) (*plans, profiles.Problems, error) {
	var probs, soft profiles.Problems
	out := &plans{byName: map[string]*plan{}, overrides: o, unserved: map[string]unserved{}}
	params, err := connParams(p, o)
	if err != nil {
		probs.Add("params", "%v", err)
	}
	names := profiles.SortedKeys(p.Models)
	if o != nil {
		for _, n := range profiles.SortedKeys(o.Models) {
			if _, ok := p.Models[n]; !ok && o.Models[n] != nil && o.Models[n].Source != nil {
				names = append(names, n)
			}
		}
	}
	for _, name := range names {
		src := p.Models[name]
		path := "models." + name
		var mo *profiles.ModelOverride
		if o != nil {
			mo = o.Models[name]
		}
		if mo != nil && mo.Source != nil {
			src = mo.Source
			path += ".source"
		}
		strictModel := mo != nil && mo.Source != nil
		strictField := map[string]bool{}
		merged := *src
		if mo != nil {
			for k := range mo.Fields {
				strictField["fields."+k] = true
			}
			for k := range mo.CustomFields {
				strictField["custom_fields."+k] = true
			}
			merged.Fields = map[string]*profiles.Field{}
			for k, v := range src.Fields {
				merged.Fields[k] = v
			}
			for k, v := range mo.Fields {
				merged.Fields[k] = v
			}
			merged.CustomFields = map[string]*profiles.Field{}
			for k, v := range src.CustomFields {
				merged.CustomFields[k] = v
			}
			for k, v := range mo.CustomFields {
				merged.CustomFields[k] = v
			}
		}
		var structural profiles.Problems
		if withParams, err := profiles.WithParams(&merged, params); err != nil {
			structural.Add(path, "%v", err)
		} else {
			merged = *withParams
		}
		sink := func(field string) *profiles.Problems {
			if strictModel || strictField[field] {
				return &probs
			}
			return &soft
		}
		pl := compileModel(&structural, sink, !strictModel, path, name, model.Lookup(name), &merged, false, s, d)
		if len(structural) > 0 {
			if strictModel {
				probs = append(probs, structural...)
			} else {
				soft = append(soft, structural...)
				out.unserved[name] = unserved{table: merged.Table, probs: structural}
			}
			continue
		}
		if pl != nil {
			out.byName[name] = pl
		}
	}
	if o != nil {
		for _, name := range profiles.SortedKeys(o.CustomModels) {
			m := o.CustomModels[name]
			var fields []model.Field
			for _, fn := range profiles.SortedKeys(m.Fields) {
				t, _ := profiles.CustomType(m.Fields[fn].Type)
				fields = append(fields, model.Field{Name: fn, Type: t})
			}
			n := len(probs)
			m, err := profiles.WithParams(m, params)
			if err != nil {
				probs.Add("custom_models."+name, "%v", err)
				continue
			}
			pl := compileModel(&probs, func(string) *profiles.Problems { return &probs }, false, "custom_models."+name, name, model.NewDef(name, fields), m, true, s, d)
			if pl != nil && len(probs) == n {
				out.byName[name] = pl
			}
		}
	}
	if len(probs) > 0 {
		return nil, soft, probs
	}
	return out, soft, nil
}

// resolver finds columns of the base table and joins and adds them to the
// select list once.
type resolver struct {
	pl      *plan
	s       *Schema
	aliases map[string]*dialect.Table // mapping alias → table
	sqlA    map[string]string         // mapping alias → SQL alias
	dropped map[string]bool           // aliases of optional joins whose table is missing
	seen    map[string]int
}

// errDropped marks a column of a dropped optional join.
var errDropped = fmt.Errorf("optional join dropped")

func (r *resolver) col(ref string) (int, error) {
	alias, name := "t", ref
	if i := strings.IndexByte(ref, '.'); i > 0 {
		if a := ref[:i]; a == "t" || r.aliases[a] != nil || r.dropped[a] {
			alias, name = a, ref[i+1:]
		}
	}
	if r.dropped[alias] {
		return -1, errDropped
	}
	t := r.pl.table
	if alias != "t" {
		t = r.aliases[alias]
	}
	c := t.Column(name)
	if c == nil {
		return -1, fmt.Errorf("column %q does not exist in table %s", name, t.Name)
	}
	k := r.sqlA[alias] + "." + c.Name
	if i, ok := r.seen[k]; ok {
		return i, nil
	}
	r.pl.cols = append(r.pl.cols, dialect.Col{Alias: r.sqlA[alias], Name: c.Name})
	r.pl.meta = append(r.pl.meta, c)
	r.pl.rawName = append(r.pl.rawName, alias+"."+c.Name)
	r.seen[k] = len(r.pl.cols) - 1
	return len(r.pl.cols) - 1, nil
}

func compileModel(probs *profiles.Problems, sink func(field string) *profiles.Problems, lenient bool, path, name string, def *model.Def, m *profiles.Model, custom bool, s *Schema, d *dialect.Dialect) *plan {
	t := s.Table(m.Table)
	if t == nil {
		probs.Add(path+".table", "table %q does not exist", m.Table)
		return nil
	}
	pl := &plan{name: name, def: def, custom: custom, src: m, table: t, wm: -1, created: -1, updated: -1, history: -1,
		write: m.Write, byField: map[string]*fieldPlan{}, byCustom: map[string]*fieldPlan{}, dats: m.DateFormat == profiles.DateFormatDats}
	r := &resolver{pl: pl, s: s, aliases: map[string]*dialect.Table{}, sqlA: map[string]string{"t": "t"}, dropped: map[string]bool{}, seen: map[string]int{}}
	for _, c := range t.Columns {
		r.col("t." + c.Name)
	}
	pl.nBase = len(pl.cols)
	for i, f := range m.Where {
		fl, err := r.filter(f, "t")
		if err != nil {
			probs.Add(fmt.Sprintf("%s.where[%d].column", path, i), "%v", err)
			continue
		}
		pl.filters = append(pl.filters, fl)
		if f.Scope {
			pl.scope = append(pl.scope, fl)
		}
	}
	for i, j := range m.Joins {
		jp := fmt.Sprintf("%s.joins[%d]", path, i)
		jt := s.Table(j.Table)
		if jt == nil {
			if j.Optional {
				r.dropped[j.Alias] = true
				continue
			}
			probs.Add(jp+".table", "table %q does not exist", j.Table)
			continue
		}
		sqlAlias := fmt.Sprintf("j%d", i+1)
		dj := dialect.Join{Table: jt.Name, Alias: sqlAlias, Left: j.Type != "inner"}
		ok := true
		// An optional join of the profile whose columns a site lacks goes
		// the way of one whose table it lacks: the join is left out, with
		// its fields, rather than the whole model.
		probs := probs
		if j.Optional && lenient {
			probs = sink("joins")
		}
		for _, bc := range profiles.SortedKeys(j.On) {
			li, err := r.col(bc)
			if err != nil {
				probs.Add(jp+".on."+bc, "%v", err)
				ok = false
				continue
			}
			jc := jt.Column(j.On[bc])
			if jc == nil {
				probs.Add(jp+".on."+bc, "column %q does not exist in table %s", j.On[bc], jt.Name)
				ok = false
				continue
			}
			dj.On = append(dj.On, dialect.JoinOn{Left: pl.cols[li], Right: dialect.Col{Alias: sqlAlias, Name: jc.Name}})
		}
		for k, f := range j.Where {
			c := jt.Column(f.Column)
			if c == nil {
				probs.Add(fmt.Sprintf("%s.where[%d].column", jp, k), "column %q does not exist in table %s", f.Column, jt.Name)
				ok = false
				continue
			}
			dj.Filters = append(dj.Filters, makeFilter(dialect.Col{Alias: sqlAlias, Name: c.Name}, f))
		}
		if j.First != "" {
			if c := jt.Column(j.First); c != nil {
				dj.First = c.Name
			} else {
				probs.Add(jp+".first", "column %q does not exist in table %s", j.First, jt.Name)
				ok = false
			}
		}
		if ok {
			pl.joins = append(pl.joins, dj)
			r.aliases[j.Alias] = jt
			r.sqlA[j.Alias] = sqlAlias
		} else if j.Optional && lenient {
			r.dropped[j.Alias] = true
		}
	}
	for i, k := range m.Key {
		idx, err := r.col(k)
		if err != nil || idx >= pl.nBase {
			if err == nil {
				err = fmt.Errorf("key columns must be base-table columns")
			}
			probs.Add(fmt.Sprintf("%s.key[%d]", path, i), "%v", err)
			continue
		}
		pl.key = append(pl.key, idx)
		pl.keyCols = append(pl.keyCols, pl.cols[idx])
	}
	pl.strategy = m.Watermark.Strategy
	pl.overlap = time.Duration(m.Watermark.Overlap)
	if pl.strategy == profiles.DateOverlap && pl.overlap == 0 {
		pl.overlap = 24 * time.Hour
	}
	if m.Watermark.Column != "" {
		idx, err := r.col(m.Watermark.Column)
		if err != nil || idx >= pl.nBase {
			if err == nil {
				err = fmt.Errorf("the watermark must be a base-table column")
			}
			probs.Add(path+".watermark.column", "%v", err)
		} else {
			if pl.strategy == profiles.TimestampColumn || pl.strategy == profiles.DateOverlap {
				r.asTime(idx)
			}
			k := pl.meta[idx].Kind
			switch pl.strategy {
			case profiles.Rowversion:
				if k != dialect.KindInt && k != dialect.KindRowversion && k != dialect.KindDecimal {
					probs.Add(path+".watermark.column", "rowversion needs an integer or rowversion column, %s is %s", pl.meta[idx].Name, pl.meta[idx].Type)
				}
			case profiles.TimestampColumn, profiles.DateOverlap:
				if k == dialect.KindDats && pl.strategy == profiles.TimestampColumn {
					probs.Add(path+".watermark.column", "%s holds dates without a time: use date_overlap", pl.meta[idx].Name)
				} else if k != dialect.KindTime && k != dialect.KindDate && k != dialect.KindTimeTZ && k != dialect.KindDats {
					probs.Add(path+".watermark.column", "%s needs a date or time column, %s is %s", pl.strategy, pl.meta[idx].Name, pl.meta[idx].Type)
				}
			}
			pl.wm = idx
			pl.also = compileAlso(r, probs, path+".watermark.also", m.Watermark.Also)
		}
	}
	timeCol := func(p, c string) int {
		if c == "" {
			return -1
		}
		idx, err := r.col(c)
		if err != nil {
			sink("").Add(p, "%v", err)
			return -1
		}
		r.asTime(idx)
		return idx
	}
	pl.created = timeCol(path+".remote_created_at", m.RemoteCreatedAt)
	pl.updated = timeCol(path+".remote_updated_at", m.RemoteUpdatedAt)
	pl.history = timeCol(path+".history_column", m.HistoryColumn)
	if pl.history < 0 && pl.updated >= 0 && pl.updated < pl.nBase {
		pl.history = pl.updated
	}
	for _, fn := range profiles.SortedKeys(m.Fields) {
		var fd *model.Field
		if def != nil {
			fd = def.Field(fn)
		}
		fp, err := compileField(r, fn, fd, m.Fields[fn], custom, lenient)
		if err == errDropped {
			continue
		}
		if err != nil {
			sink("fields."+fn).Add(path+".fields."+fn, "%v", err)
			continue
		}
		pl.fields = append(pl.fields, fp)
		pl.byField[fn] = fp
		if fp.rel != nil {
			pl.related = append(pl.related, fp.rel)
		}
		if fp.typ == model.Enum {
			pl.enumFields++
		}
	}
	for _, fn := range profiles.SortedKeys(m.CustomFields) {
		fp, err := compileField(r, fn, nil, m.CustomFields[fn], true, lenient)
		if err == errDropped {
			continue
		}
		if err != nil {
			sink("custom_fields."+fn).Add(path+".custom_fields."+fn, "%v", err)
			continue
		}
		pl.customF = append(pl.customF, fp)
		pl.byCustom[fn] = fp
	}
	for i, c := range pl.meta {
		if c.Padded {
			pl.padded = append(pl.padded, i)
		}
	}
	for _, cn := range profiles.SortedKeys(m.Children) {
		cps := sink("children." + cn)
		n := len(*cps)
		cp, err := compileChild(r, def, cn, m.Children[cn], s, path+".children."+cn, cps)
		if err != nil {
			cps.Add(path+".children."+cn, "%v", err)
			continue
		}
		if len(*cps) > n {
			continue
		}
		if cp != nil {
			pl.children = append(pl.children, cp)
		}
	}
	return pl
}

// asTime makes a text column read as a local date and time. SQLite has no
// date type, and demo or migrated databases keep dates as text; the unified
// field's type says what the text means.
func (r *resolver) asTime(i int) {
	if i < 0 || r.pl.meta[i].Kind != dialect.KindString {
		return
	}
	if r.pl.dats {
		// The mapping said so: SAP keeps every date in a CHAR(8) column.
		c := *r.pl.meta[i]
		c.Kind = dialect.KindDats
		r.pl.meta[i] = &c
		return
	}
	// Only unsized text: a VARCHAR(16) status column is not a date.
	if t := strings.ToUpper(strings.TrimSpace(r.pl.meta[i].Type)); t != "TEXT" && t != "" {
		return
	}
	c := *r.pl.meta[i]
	c.Kind = dialect.KindTime
	r.pl.meta[i] = &c
}

func makeFilter(c dialect.Col, f profiles.Filter) dialect.Filter {
	switch {
	case f.IsNull != nil && *f.IsNull:
		return dialect.Filter{Col: c, Op: dialect.OpIsNull}
	case f.IsNull != nil:
		return dialect.Filter{Col: c, Op: dialect.OpIsNotNull}
	case f.NotIn != nil:
		return dialect.Filter{Col: c, Op: dialect.OpNotIn, Values: f.NotIn}
	}
	return dialect.Filter{Col: c, Op: dialect.OpIn, Values: f.In}
}

func (r *resolver) filter(f profiles.Filter, alias string) (dialect.Filter, error) {
	idx, err := r.col(f.Column)
	if err != nil {
		return dialect.Filter{}, err
	}
	return makeFilter(r.pl.cols[idx], f), nil
}

func compileField(r *resolver, name string, fd *model.Field, f *profiles.Field, custom, lenient bool) (*fieldPlan, error) {
	fp := &fieldPlan{name: name, values: f.Values, writeVals: f.WriteValues, synonyms: f.Synonyms,
		inverted: f.Bool == "inverted", sep: f.Separator, scale: f.Scale, constant: f.Const, mapBy: -1}
	if fd != nil {
		fp.typ = fd.Type
	} else {
		t, ok := profiles.CustomType(f.Type)
		if !ok {
			return nil, fmt.Errorf("unknown type %q", f.Type)
		}
		fp.typ = t
	}
	if fd != nil && f.Type != "" && (fd.Type == model.String || fd.Type == model.Decimal || fd.Type == model.Int) {
		// An explicit type on a unified field only changes how the column is read.
		if t, ok := profiles.CustomType(f.Type); ok && t != fd.Type && fd.Type != model.String {
			return nil, fmt.Errorf("type %s does not fit %s field", f.Type, fd.Type)
		}
	}
	if len(f.TrueValues) > 0 {
		fp.trueValues = map[string]bool{}
		for _, v := range f.TrueValues {
			fp.trueValues[v] = true
		}
	}
	add := func(cols ...string) ([]int, error) {
		var out []int
		for _, c := range cols {
			i, err := r.col(c)
			if err != nil {
				return nil, err
			}
			out = append(out, i)
		}
		return out, nil
	}
	// Coalesce and concat from a profile use the columns a site has.
	some := func(cols ...string) ([]int, error) {
		if !lenient {
			return add(cols...)
		}
		var out []int
		var first error
		for _, c := range cols {
			i, err := r.col(c)
			if err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			out = append(out, i)
		}
		if len(out) == 0 {
			return nil, first
		}
		return out, nil
	}
	var err error
	switch {
	case f.Column != "":
		fp.kind = srcColumn
		fp.idx, err = add(f.Column)
		if err == nil && fp.idx[0] < r.pl.nBase {
			fp.writeCols = []*dialect.Column{r.pl.meta[fp.idx[0]]}
		}
	case len(f.Coalesce) > 0:
		fp.kind = srcCoalesce
		fp.idx, err = some(f.Coalesce...)
	case len(f.Concat) > 0:
		fp.kind = srcConcat
		fp.idx, err = some(f.Concat...)
	case f.Const != nil:
		fp.kind = srcConst
	case f.Ref != "":
		fp.kind = srcRef
		fp.refModel = f.Ref
		fp.idx, err = add(f.Columns...)
		if err == nil {
			fp.writeCols = baseCols(r.pl, fp.idx)
		}
	case f.StatusSet != nil || f.RefList != "" && f.From != nil:
		err = compileRelated(r, fp, f)
	case f.RefList != "":
		fp.kind = srcRefList
		fp.refModel = f.RefList
		for _, it := range f.Items {
			var ix []int
			ix, err = add(it...)
			if err != nil {
				break
			}
			fp.items = append(fp.items, ix)
		}
		if err == nil && len(fp.items) == 1 {
			fp.writeCols = baseCols(r.pl, fp.items[0])
		}
	default:
		return nil, fmt.Errorf("no source")
	}
	if err != nil {
		return nil, err
	}
	if f.MapBy != nil {
		if fp.typ != model.Enum {
			return nil, fmt.Errorf("only enum fields map by another column")
		}
		i, err := r.col(f.MapBy.Column)
		if err == errDropped {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("map_by: %w", err)
		}
		fp.mapBy, fp.mapByVals = i, f.MapBy.Values
	}
	if fp.typ == model.Time {
		for _, i := range fp.idx {
			r.asTime(i)
		}
		if fp.writeCols != nil {
			fp.writeCols = []*dialect.Column{r.pl.meta[fp.idx[0]]}
		}
	}
	if f.TimeColumn != "" {
		if err := compileTimeOfDay(r, fp, f.TimeColumn); err != nil {
			return nil, err
		}
	}
	if custom && fp.kind != srcColumn && fp.kind != srcCoalesce && fp.kind != srcConcat && fp.kind != srcConst {
		return nil, fmt.Errorf("custom fields take column, coalesce, concat or const")
	}
	if fp.typ == model.Enum {
		fp.remote = model.RemoteSibling(name)
		fp.unified = make(map[string]any, len(fp.values))
		for k, v := range fp.values {
			fp.unified[k] = v
		}
	}
	return fp, nil
}

// baseCols returns the columns if all are base-table columns, else nil
// (not writable).
func baseCols(pl *plan, idx []int) []*dialect.Column {
	var out []*dialect.Column
	for _, i := range idx {
		if i >= pl.nBase {
			return nil
		}
		out = append(out, pl.meta[i])
	}
	return out
}

func compileChild(r *resolver, def *model.Def, name string, c *profiles.Child, s *Schema, path string, probs *profiles.Problems) (*childPlan, error) {
	ct := s.Table(c.Table)
	if ct == nil {
		return nil, fmt.Errorf("table %q does not exist", c.Table)
	}
	cp := &childPlan{field: name, table: ct}
	addChild := func(n string) (int, error) {
		col := ct.Column(n)
		if col == nil {
			return -1, fmt.Errorf("column %q does not exist in table %s", n, ct.Name)
		}
		for i, x := range cp.cols {
			if x.Name == col.Name {
				return i, nil
			}
		}
		cp.cols = append(cp.cols, dialect.Col{Alias: "c", Name: col.Name})
		cp.meta = append(cp.meta, col)
		return len(cp.cols) - 1, nil
	}
	for _, pc := range profiles.SortedKeys(c.On) {
		pi, err := r.col(pc)
		if err != nil || pi >= r.pl.nBase {
			if err == nil {
				err = fmt.Errorf("must be a base-table column")
			}
			probs.Add(path+".on."+pc, "%v", err)
			continue
		}
		if _, err := addChild(c.On[pc]); err != nil {
			probs.Add(path+".on."+pc, "%v", err)
			continue
		}
		cp.on = append(cp.on, pi)
		cp.onChild = append(cp.onChild, cp.cols[len(cp.cols)-1])
	}
	cp.nOn = len(cp.cols)
	for i, f := range c.Where {
		col := ct.Column(f.Column)
		if col == nil {
			probs.Add(fmt.Sprintf("%s.where[%d].column", path, i), "column %q does not exist in table %s", f.Column, ct.Name)
			continue
		}
		cp.filters = append(cp.filters, makeFilter(dialect.Col{Alias: "c", Name: col.Name}, f))
	}
	cp.order = append(cp.order, cp.onChild...)
	for i, o := range c.OrderBy {
		idx, err := addChild(o)
		if err != nil {
			probs.Add(fmt.Sprintf("%s.order_by[%d]", path, i), "%v", err)
			continue
		}
		cp.order = append(cp.order, cp.cols[idx])
	}
	// Child fields resolve against the child table only.
	cr := &resolver{pl: &plan{table: ct, dats: r.pl.dats}, aliases: map[string]*dialect.Table{}, sqlA: map[string]string{"t": "c"}, dropped: map[string]bool{}, seen: map[string]int{}}
	cr.pl.cols = append(cr.pl.cols, cp.cols...)
	cr.pl.meta = append(cr.pl.meta, cp.meta...)
	cr.pl.rawName = make([]string, len(cp.cols))
	for i, x := range cp.cols {
		cr.seen["c."+x.Name] = i
	}
	for _, fn := range profiles.SortedKeys(c.Fields) {
		fp, err := compileField(cr, fn, def.LineField(name, fn), c.Fields[fn], false, false)
		if err != nil {
			probs.Add(path+".fields."+fn, "%v", err)
			continue
		}
		cp.fields = append(cp.fields, fp)
	}
	cp.cols, cp.meta = cr.pl.cols, cr.pl.meta
	return cp, nil
}

// names returns the served model names, sorted.
func (ps *plans) names() []string {
	out := make([]string, 0, len(ps.byName))
	for n := range ps.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
