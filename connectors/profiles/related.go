package profiles

import (
	"fmt"
	"strings"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// StatusSet computes an enum (or string) field from a table that holds one
// row per status an object carries, such as SAP's JEST: one row per
// (OBJNR, STAT), with INACT = 'X' on statuses that no longer apply. Of the
// active rows whose code is listed in Precedence, the first listed wins; its
// code is the native code (remote_<field>) that Values maps.
//
//	status:
//	  status_set:
//	    table: JEST
//	    match: {MANDT: MANDT, OBJNR: OBJNR}
//	    code_column: STAT
//	    inactive: {column: INACT, value: X}
//	    precedence: [I0046, I0045, I0076, I0002, I0001]
//	  values: {I0046: closed, I0045: completed, I0076: cancelled, I0002: open, I0001: open}
type StatusSet struct {
	Related `yaml:",inline"`
	// CodeColumn holds the status code.
	CodeColumn string `yaml:"code_column" json:"code_column"`
	// Inactive marks rows that no longer apply; optional.
	Inactive *Inactive `yaml:"inactive,omitempty" json:"inactive,omitempty"`
	// Precedence lists the codes that count, the one that wins first.
	Precedence []string `yaml:"precedence" json:"precedence"`
}

// Inactive names the column and value that mark a status row inactive.
// Rows holding any other value, NULL included, are active.
type Inactive struct {
	Column string `yaml:"column" json:"column"`
	Value  string `yaml:"value" json:"value"`
}

// Related names rows of another table that belong to a record: those whose
// Match columns equal the record's. Unlike a join it never repeats the
// record; the engine reads the rows of a whole page in one query.
type Related struct {
	Table string `yaml:"table" json:"table"`
	// Match maps columns of the model ("COLUMN" or "alias.COLUMN") to
	// columns of Table.
	Match map[string]string `yaml:"match" json:"match"`
	// Where adds fixed filters on Table; values are bound.
	Where []Filter `yaml:"where,omitempty" json:"where,omitempty"`
}

// Date formats of Model.DateFormat.
const (
	// DateFormatDats: text columns read as dates hold SAP DATS,
	// 'YYYYMMDD' with '00000000' for no date.
	DateFormatDats = "dats"
)

// ParamRef reports whether a filter value is a parameter reference,
// {param: NAME}, and returns the name.
func ParamRef(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	name, ok := m["param"].(string)
	return name, ok && name != ""
}

func checkRelated(probs *Problems, path string, r *Related) {
	if r.Table == "" {
		probs.add(path+".table", "is required")
	}
	if len(r.Match) == 0 {
		probs.add(path+".match", "needs at least one column pair")
	}
	for i, f := range r.Where {
		checkFilter(probs, fmt.Sprintf("%s.where[%d]", path, i), f)
	}
}

// checkStatusSet checks a status_set of a field of type def.
func checkStatusSet(probs *Problems, path string, def *model.Field, f *Field) {
	s := f.StatusSet
	sp := path + ".status_set"
	if def.Type != model.Enum && def.Type != model.String {
		probs.add(sp, "only enum and string fields take a status_set")
		return
	}
	checkRelated(probs, sp, &s.Related)
	if s.CodeColumn == "" {
		probs.add(sp+".code_column", "is required")
	}
	if s.Inactive != nil && s.Inactive.Column == "" {
		probs.add(sp+".inactive.column", "is required")
	}
	if len(s.Precedence) == 0 {
		probs.add(sp+".precedence", "lists the codes that count, the winning one first")
	}
	seen := map[string]bool{}
	for _, c := range s.Precedence {
		if seen[c] {
			probs.add(sp+".precedence", "lists %q twice", c)
		}
		seen[c] = true
	}
	// A code that Values maps but Precedence leaves out can never be picked.
	for _, k := range sortedKeys(f.Values) {
		if !seen[k] {
			probs.add(path+".values."+k, "is not in status_set.precedence, so it is never picked")
		}
	}
}

// checkParams reports parameter references that the profile does not
// declare, in the filters of m.
func checkParams(probs *Problems, path string, m *Model, declared map[string]string) {
	if m == nil {
		return
	}
	check := func(p string, fs []Filter) {
		for i, f := range fs {
			for _, v := range append(append([]any(nil), f.In...), f.NotIn...) {
				if name, ok := ParamRef(v); ok {
					if _, ok := declared[name]; !ok {
						probs.add(fmt.Sprintf("%s[%d]", p, i), "parameter %q is not declared in params", name)
					}
				}
			}
		}
	}
	check(path+".where", m.Where)
	for i, j := range m.Joins {
		check(fmt.Sprintf("%s.joins[%d].where", path, i), j.Where)
	}
	for _, cn := range sortedKeys(m.Children) {
		if c := m.Children[cn]; c != nil {
			check(path+".children."+cn+".where", c.Where)
		}
	}
	for _, fn := range sortedKeys(m.Fields) {
		f := m.Fields[fn]
		if f == nil {
			continue
		}
		if f.StatusSet != nil {
			check(path+".fields."+fn+".status_set.where", f.StatusSet.Where)
		}
		if f.From != nil {
			check(path+".fields."+fn+".from.where", f.From.Where)
		}
	}
}

// WithParams returns a copy of m whose filter values have parameter
// references replaced by their values. A reference to an unknown
// parameter is an error.
func WithParams(m *Model, params map[string]string) (*Model, error) {
	var missing []string
	sub := func(fs []Filter) []Filter {
		if fs == nil {
			return nil
		}
		out := make([]Filter, len(fs))
		for i, f := range fs {
			f.In = subValues(f.In, params, &missing)
			f.NotIn = subValues(f.NotIn, params, &missing)
			out[i] = f
		}
		return out
	}
	c := *m
	c.Where = sub(m.Where)
	if m.Joins != nil {
		c.Joins = make([]Join, len(m.Joins))
		for i, j := range m.Joins {
			j.Where = sub(j.Where)
			c.Joins[i] = j
		}
	}
	if m.Children != nil {
		c.Children = make(map[string]*Child, len(m.Children))
		for k, ch := range m.Children {
			if ch != nil {
				cc := *ch
				cc.Where = sub(ch.Where)
				ch = &cc
			}
			c.Children[k] = ch
		}
	}
	if m.Fields != nil {
		c.Fields = make(map[string]*Field, len(m.Fields))
		for k, f := range m.Fields {
			if f != nil && (f.StatusSet != nil || f.From != nil) {
				fc := *f
				if f.StatusSet != nil {
					ss := *f.StatusSet
					ss.Where = sub(ss.Where)
					fc.StatusSet = &ss
				}
				if f.From != nil {
					fr := *f.From
					fr.Where = sub(fr.Where)
					fc.From = &fr
				}
				f = &fc
			}
			c.Fields[k] = f
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("unknown parameter %s", strings.Join(missing, ", "))
	}
	return &c, nil
}

func subValues(vs []any, params map[string]string, missing *[]string) []any {
	if vs == nil {
		return nil
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		if name, ok := ParamRef(v); ok {
			pv, ok := params[name]
			if !ok {
				*missing = append(*missing, fmt.Sprintf("%q", name))
			}
			v = pv
		}
		out[i] = v
	}
	return out
}
