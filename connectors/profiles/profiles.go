// Package profiles holds the mapping format that describes how a
// maintenance system's tables become unified records, the embedded profiles
// of the systems Plantbridge ships (see README.md in this directory for the
// format), and per-connection overrides of those mappings.
//
// A profile is YAML:
//
//	version: 1
//	system: maximo
//	models:
//	  work_orders:
//	    table: WORKORDER
//	    where: [{column: WOCLASS, in: [WORKORDER, ACTIVITY]}]
//	    key: [SITEID, WONUM]
//	    watermark: {strategy: rowversion, column: ROWSTAMP}
//	    remote_updated_at: CHANGEDATE
//	    fields:
//	      number: {column: WONUM}
//	      status: {column: STATUS, values: {WAPPR: open, INPRG: in_progress}}
//	      asset_id: {ref: assets, columns: [SITEID, ASSETNUM]}
//
// Parsing checks the structure only: field names against the unified model,
// strategies, types, required parts. Whether tables and columns exist is
// checked by the connector against the schema it discovered, because that
// differs between sites running the same system.
package profiles

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plantbridge/plantbridge/connectors/model"
)

//go:embed *.yaml
var embedded embed.FS

// Profile maps one system's tables onto the unified models.
type Profile struct {
	// Version of the format; must be 1.
	Version int `yaml:"version" json:"version"`
	// System is the system name: maximo, infor_eam, mp2, sap_pm, generic.
	System string `yaml:"system" json:"system"`
	// Models maps unified model names to their sources.
	Models map[string]*Model `yaml:"models" json:"models,omitempty"`
	// Params are named values that filters use as {param: NAME}, such as
	// SAP's client; overrides may set them per connection.
	Params map[string]string `yaml:"params,omitempty" json:"params,omitempty"`
}

// Model describes where one model's records come from.
type Model struct {
	// Table is the base table; its columns are addressed without a prefix
	// (or with "t.").
	Table string `yaml:"table" json:"table"`
	// Where lists fixed filters on base-table columns; values are bound.
	Where []Filter `yaml:"where,omitempty" json:"where,omitempty"`
	// Key lists the columns whose values, joined by "/", form remote_id.
	Key []string `yaml:"key" json:"key"`
	// Watermark says how changed rows are found.
	Watermark Watermark `yaml:"watermark" json:"watermark"`
	// RemoteCreatedAt and RemoteUpdatedAt name time columns.
	RemoteCreatedAt string `yaml:"remote_created_at,omitempty" json:"remote_created_at,omitempty"`
	RemoteUpdatedAt string `yaml:"remote_updated_at,omitempty" json:"remote_updated_at,omitempty"`
	// HistoryColumn is the time column a full re-sync's history window
	// filters on; default remote_updated_at, else none.
	HistoryColumn string `yaml:"history_column,omitempty" json:"history_column,omitempty"`
	// Joins adds other tables, addressed as "alias.COLUMN" in fields.
	Joins []Join `yaml:"joins,omitempty" json:"joins,omitempty"`
	// Fields maps unified field names to sources.
	Fields map[string]*Field `yaml:"fields,omitempty" json:"fields,omitempty"`
	// CustomFields maps custom field names to sources; each needs a type
	// (default string).
	CustomFields map[string]*Field `yaml:"custom_fields,omitempty" json:"custom_fields,omitempty"`
	// Children fills a Lines field from a child table.
	Children map[string]*Child `yaml:"children,omitempty" json:"children,omitempty"`
	// Write declares which writes the model accepts.
	Write *Write `yaml:"write,omitempty" json:"write,omitempty"`
	// ReadOnly, instead of Write, says why the system's tables must not be
	// written (SAP: changes go through BAPIs or IDocs); writes are rejected
	// with this reason.
	ReadOnly string `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	// DateFormat says how text columns read as dates are written: "" (ISO
	// text such as '2024-03-01 08:00:00') or "dats" (SAP's 'YYYYMMDD',
	// '00000000' for none). It applies to time fields, remote_*_at, the
	// history column, date watermarks and the model's lines.
	DateFormat string `yaml:"date_format,omitempty" json:"date_format,omitempty"`
}

// Filter is a fixed condition on a column. Exactly one of In, NotIn or
// IsNull is set.
type Filter struct {
	Column string `yaml:"column" json:"column"`
	In     []any  `yaml:"in,omitempty" json:"in,omitempty"`
	NotIn  []any  `yaml:"not_in,omitempty" json:"not_in,omitempty"`
	IsNull *bool  `yaml:"is_null,omitempty" json:"is_null,omitempty"`
	// Scope marks a filter that selects the data the connection serves,
	// such as SAP's client (MANDT): unlike other filters it also applies to
	// reads by key. In and NotIn values may be {param: NAME}.
	Scope bool `yaml:"scope,omitempty" json:"scope,omitempty"`
}

// Watermark strategies.
const (
	// Rowversion: a number that grows with every change (SQL Server
	// rowversion, Maximo's ROWSTAMP on Oracle).
	Rowversion = "rowversion"
	// TimestampColumn: a last-changed date and time, read with an optional
	// lookback (Overlap).
	TimestampColumn = "timestamp_column"
	// DateOverlap: a last-changed date without time; every read goes back
	// Overlap before the stored date.
	DateOverlap = "date_overlap"
	// RowHash: no change column; rows are hashed and compared with the
	// previous snapshot.
	RowHash = "row_hash"
)

// Watermark configures change detection.
type Watermark struct {
	Strategy string `yaml:"strategy" json:"strategy"`
	Column   string `yaml:"column,omitempty" json:"column,omitempty"`
	// Overlap is how far date_overlap reads go back (default 24h), and the
	// lookback of timestamp_column reads (default none): each incremental read
	// starts that long before the stored time, so that rows committed late
	// (saved with an earlier time than a row already read) are not missed.
	// Records read again are unchanged, which the relay's upsert ignores.
	Overlap Duration `yaml:"overlap,omitempty" json:"overlap,omitempty"`
	// Also lists further change columns of date_overlap, of the same kind as
	// Column: a row is read when any of them is within the window. SAP's
	// AEDAT stays empty until the first change; ERDAT catches new rows.
	Also []string `yaml:"also,omitempty" json:"also,omitempty"`
}

// Duration is a time.Duration written as "24h" in YAML and JSON.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON parses the string MarshalJSON writes, so that a mapping document read
// from the API can be sent back, and the relay's copy reaches the agent.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"90s\" or \"24h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Join adds a table to a model's query.
type Join struct {
	Table string `yaml:"table" json:"table"`
	// Alias addresses the join's columns in fields ("alias.COLUMN"); letters
	// and digits, not "t".
	Alias string `yaml:"alias" json:"alias"`
	// Type is "left" (default) or "inner".
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// On maps columns of the base table (or "alias.COLUMN" of an earlier
	// join) to columns of this table.
	On map[string]string `yaml:"on" json:"on"`
	// Where adds fixed filters on this table's columns to the join condition.
	Where []Filter `yaml:"where,omitempty" json:"where,omitempty"`
	// Optional joins are dropped, with the fields that use them, when the
	// table does not exist at a site.
	Optional bool `yaml:"optional,omitempty" json:"optional,omitempty"`
	// First keeps, of the rows that match, only the one with the smallest
	// value of this column of the joined table, so that a one-to-many table
	// (MP2's WOEQLIST: the equipment of a work order) adds one row and never
	// repeats a record. The column should be unique within the matching rows.
	First string `yaml:"first,omitempty" json:"first,omitempty"`
}

// Field maps one unified (or custom) field. Exactly one source is set:
// Column, Coalesce, Concat, Const, Ref or RefList.
type Field struct {
	// Column is "COLUMN" or "alias.COLUMN".
	Column string `yaml:"column,omitempty" json:"column,omitempty"`
	// Coalesce takes the first non-null, non-empty column.
	Coalesce []string `yaml:"coalesce,omitempty" json:"coalesce,omitempty"`
	// Concat joins the non-empty columns with Separator.
	Concat    []string `yaml:"concat,omitempty" json:"concat,omitempty"`
	Separator string   `yaml:"separator,omitempty" json:"separator,omitempty"`
	// Const is a fixed value.
	Const any `yaml:"const,omitempty" json:"const,omitempty"`
	// Type overrides the value type: for custom fields and custom models it
	// is required (default string); for unified fields it is implied.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// Values maps native codes to enum values (enum fields). Native codes
	// not listed give null with the code kept in remote_<field>.
	Values map[string]string `yaml:"values,omitempty" json:"values,omitempty"`
	// WriteValues maps enum values to the native code written; default is
	// the first native code (in sorted order) that Values maps to it.
	WriteValues map[string]string `yaml:"write_values,omitempty" json:"write_values,omitempty"`
	// Synonyms translates site-specific codes into internal codes through a
	// synonym table before Values applies (Maximo SYNONYMDOMAIN).
	Synonyms *Synonyms `yaml:"synonyms,omitempty" json:"synonyms,omitempty"`
	// MapBy maps an enum through a second column when Values has no entry
	// for the native code, such as Infor EAM's system status EVT_RSTATUS
	// behind the site-defined user status EVT_STATUS. The native code of
	// Column stays the one kept in remote_<field> and written by writes.
	MapBy *MapBy `yaml:"map_by,omitempty" json:"map_by,omitempty"`
	// Ref names the model a reference points at; Columns are this row's
	// columns holding the referenced record's key, in key order.
	Ref     string   `yaml:"ref,omitempty" json:"ref,omitempty"`
	Columns []string `yaml:"columns,omitempty" json:"columns,omitempty"`
	// RefList names the model of a list of references; each entry of Items
	// is the column list of one referenced key.
	RefList string     `yaml:"ref_list,omitempty" json:"ref_list,omitempty"`
	Items   [][]string `yaml:"items,omitempty" json:"items,omitempty"`
	// Bool is "" (non-zero / "Y" / "YES" / "TRUE" is true) or "inverted"
	// (such as Maximo's DISABLED for is_active).
	Bool string `yaml:"bool,omitempty" json:"bool,omitempty"`
	// TrueValues makes a bool true when the column holds one of these codes.
	TrueValues []string `yaml:"true_values,omitempty" json:"true_values,omitempty"`
	// Scale divides a numeric value, such as minutes to hours (60).
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`
	// StatusSet computes the field from a table of status rows (SAP JEST);
	// it is a source of its own, like Column.
	StatusSet *StatusSet `yaml:"status_set,omitempty" json:"status_set,omitempty"`
	// From makes a ref_list read its items from the rows of another table
	// (SAP MPOS: the items of a maintenance plan); Items then name columns
	// of that table.
	From *Related `yaml:"from,omitempty" json:"from,omitempty"`
	// TimeColumn adds the time of day of a time field kept in a column of
	// its own (SAP TIMS, 'HHMMSS'), next to the date in Column.
	TimeColumn string `yaml:"time_column,omitempty" json:"time_column,omitempty"`
}

// MapBy names the column an enum falls back to and how its codes map.
type MapBy struct {
	// Column is "COLUMN" or "alias.COLUMN".
	Column string `yaml:"column" json:"column"`
	// Values maps the column's codes to enum values.
	Values map[string]string `yaml:"values" json:"values"`
}

// Synonyms names a synonym table: rows of (domain, internal value, site value).
type Synonyms struct {
	Table string `yaml:"table" json:"table"`
	// Domain is the domain id, such as WOSTATUS.
	Domain string `yaml:"domain" json:"domain"`
	// DomainColumn, InternalColumn and ValueColumn default to Maximo's
	// DOMAINID, MAXVALUE and VALUE.
	DomainColumn   string `yaml:"domain_column,omitempty" json:"domain_column,omitempty"`
	InternalColumn string `yaml:"internal_column,omitempty" json:"internal_column,omitempty"`
	ValueColumn    string `yaml:"value_column,omitempty" json:"value_column,omitempty"`
}

// Child fills a Lines field from rows of a child table.
type Child struct {
	Table string `yaml:"table" json:"table"`
	// On maps parent (base table) columns to child columns.
	On map[string]string `yaml:"on" json:"on"`
	// Where adds fixed filters on child columns.
	Where []Filter `yaml:"where,omitempty" json:"where,omitempty"`
	// OrderBy orders lines within a parent.
	OrderBy []string `yaml:"order_by,omitempty" json:"order_by,omitempty"`
	// Fields maps line fields to child columns (no joins).
	Fields map[string]*Field `yaml:"fields" json:"fields"`
}

// Write declares the writes a model accepts.
type Write struct {
	Create *WriteOp `yaml:"create,omitempty" json:"create,omitempty"`
	Update *WriteOp `yaml:"update,omitempty" json:"update,omitempty"`
	Status *WriteOp `yaml:"status,omitempty" json:"status,omitempty"`
}

// WriteOp describes one kind of write.
type WriteOp struct {
	// Required lists unified fields a request must carry.
	Required []string `yaml:"required,omitempty" json:"required,omitempty"`
	// Allowed lists the unified fields a request may set; default all
	// fields mapped to a single base-table column or a reference.
	Allowed []string `yaml:"allowed,omitempty" json:"allowed,omitempty"`
	// Defaults gives constant values for columns the request does not set.
	// Columns missing at a site are skipped, so one profile serves several
	// versions of a system.
	Defaults map[string]any `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	// Generated fills columns from the engine: "now" (current local time),
	// "user" (the connection's write user), "max_plus_one" (next integer),
	// "rowstamp" (max_plus_one unless the database maintains it itself),
	// "row.COLUMN" (the value written to another column).
	Generated map[string]string `yaml:"generated,omitempty" json:"generated,omitempty"`
	// Lookups fill columns from another table, such as ORGID from SITE.
	// Creates run them all; updates and status changes run those whose
	// matched columns the write sets (a new status code's system status).
	Lookups map[string]*Lookup `yaml:"lookups,omitempty" json:"lookups,omitempty"`
	// History inserts a row into a history table after the write, when the
	// table exists (Maximo WOSTATUS).
	History *History `yaml:"history,omitempty" json:"history,omitempty"`
}

// Lookup reads one column of another table, matching Match (lookup-table
// column → column of the row being written).
type Lookup struct {
	Table  string            `yaml:"table" json:"table"`
	Column string            `yaml:"column" json:"column"`
	Match  map[string]string `yaml:"match" json:"match"`
	// Where adds fixed filters on the lookup table, such as the entity of
	// Infor EAM's R5UCODES.
	Where []Filter `yaml:"where,omitempty" json:"where,omitempty"`
	// Required makes a write fail with a validation error, pointing at the
	// field that set a matched column, when no row matches. Without it the
	// column is left to defaults.
	Required bool `yaml:"required,omitempty" json:"required,omitempty"`
}

// History describes a history row. Each column's source is "now", "user",
// "max_plus_one", "rowstamp" (as in WriteOp.Generated), "memo" (the
// request's memo), or "row.COLUMN" (a column of the written row, after the
// write).
type History struct {
	Table   string            `yaml:"table" json:"table"`
	Columns map[string]string `yaml:"columns" json:"columns"`
}

// Overrides are per-connection changes to a profile: remapped fields and
// custom fields of profile models, and custom models.
type Overrides struct {
	Version int `yaml:"version" json:"version"`
	// Models changes fields of the profile's models.
	Models map[string]*ModelOverride `yaml:"models,omitempty" json:"models,omitempty"`
	// CustomModels adds models served by name; their fields need types.
	CustomModels map[string]*Model `yaml:"custom_models,omitempty" json:"custom_models,omitempty"`
	// Params sets values of the profile's params for this connection, such
	// as another SAP client.
	Params map[string]string `yaml:"params,omitempty" json:"params,omitempty"`
}

// ModelOverride changes one model of the profile.
type ModelOverride struct {
	// Source replaces the profile's whole mapping of the model, or provides
	// one where the profile has none (every model of the generic profile).
	Source *Model `yaml:"source,omitempty" json:"source,omitempty"`
	// Fields replaces the mapping of unified fields.
	Fields map[string]*Field `yaml:"fields,omitempty" json:"fields,omitempty"`
	// CustomFields adds custom fields.
	CustomFields map[string]*Field `yaml:"custom_fields,omitempty" json:"custom_fields,omitempty"`
}

// Problems collects every problem found in a document, each with its path.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "; ") }

// Add records a problem at path.
func (p *Problems) Add(path, format string, args ...any) { p.add(path, format, args...) }

func (p *Problems) add(path, format string, args ...any) {
	*p = append(*p, path+": "+fmt.Sprintf(format, args...))
}

// maxDocument bounds profile and override documents: they are data typed
// by people, never large, and the parser must not be a memory sink.
const maxDocument = 1 << 20

func decodeStrict(data []byte, v any) error {
	if len(data) > maxDocument {
		return fmt.Errorf("document is larger than %d bytes", maxDocument)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty document")
		}
		return err
	}
	return nil
}

// Parse reads a profile (YAML or JSON) and checks its structure.
func Parse(data []byte) (*Profile, error) {
	var p Profile
	if err := decodeStrict(data, &p); err != nil {
		return nil, fmt.Errorf("parse profile: %w", err)
	}
	var probs Problems
	if p.Version != 1 {
		probs.add("version", "must be 1, got %d", p.Version)
	}
	if p.System == "" {
		probs.add("system", "is required")
	}
	for _, name := range sortedKeys(p.Models) {
		def := model.Lookup(name)
		if def == nil {
			probs.add("models."+name, "unknown model (custom models belong in overrides)")
			continue
		}
		checkModel(&probs, "models."+name, def, p.Models[name], false)
		checkParams(&probs, "models."+name, p.Models[name], p.Params)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &p, nil
}

// ParseOverrides reads overrides (YAML or JSON) and checks their structure
// against the unified model; checking against a profile and the discovered
// schema is the connector's job.
func ParseOverrides(data []byte) (*Overrides, error) {
	var o Overrides
	if err := decodeStrict(data, &o); err != nil {
		return nil, fmt.Errorf("parse overrides: %w", err)
	}
	if err := o.Check(); err != nil {
		return nil, err
	}
	return &o, nil
}

// Check validates the structure of overrides.
func (o *Overrides) Check() error {
	var probs Problems
	if o.Version != 1 {
		probs.add("version", "must be 1, got %d", o.Version)
	}
	for _, name := range sortedKeys(o.Models) {
		path := "models." + name
		def := model.Lookup(name)
		mo := o.Models[name]
		if def == nil {
			probs.add(path, "unknown model")
			continue
		}
		if mo == nil {
			probs.add(path, "is empty")
			continue
		}
		if mo.Source != nil {
			checkModel(&probs, path+".source", def, mo.Source, false)
		}
		for _, fn := range sortedKeys(mo.Fields) {
			f := def.Field(fn)
			if f == nil {
				probs.add(path+".fields."+fn, "unknown field of %s", name)
				continue
			}
			checkField(&probs, path+".fields."+fn, f, mo.Fields[fn])
		}
		checkCustomFields(&probs, path+".custom_fields", def, mo.CustomFields)
	}
	for _, name := range sortedKeys(o.CustomModels) {
		path := "custom_models." + name
		if !validName(name) {
			probs.add(path, "name must be lower-case letters, digits and _ (up to 64)")
			continue
		}
		if model.Lookup(name) != nil {
			probs.add(path, "name is a unified model")
			continue
		}
		m := o.CustomModels[name]
		if m == nil {
			probs.add(path, "is empty")
			continue
		}
		checkModel(&probs, path, nil, m, true)
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// validName accepts snake_case names for custom fields and models.
func validName(s string) bool {
	if s == "" || len(s) > 64 || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

var fieldTypes = map[string]model.Type{
	"string": model.String, "int": model.Int, "decimal": model.Decimal, "bool": model.Bool, "time": model.Time,
}

// CustomType returns the model type of a custom field's declared type.
func CustomType(t string) (model.Type, bool) {
	if t == "" {
		return model.String, true
	}
	mt, ok := fieldTypes[t]
	return mt, ok
}

func checkModel(probs *Problems, path string, def *model.Def, m *Model, custom bool) {
	if m == nil {
		probs.add(path, "is empty")
		return
	}
	if m.Table == "" {
		probs.add(path+".table", "is required")
	}
	if len(m.Key) == 0 {
		probs.add(path+".key", "needs at least one column")
	}
	switch m.Watermark.Strategy {
	case Rowversion, TimestampColumn, DateOverlap:
		if m.Watermark.Column == "" {
			probs.add(path+".watermark.column", "is required for %s", m.Watermark.Strategy)
		}
	case RowHash:
		if m.Watermark.Column != "" {
			probs.add(path+".watermark.column", "row_hash takes no column")
		}
	case "":
		probs.add(path+".watermark.strategy", "is required (rowversion, timestamp_column, date_overlap or row_hash)")
	default:
		probs.add(path+".watermark.strategy", "unknown strategy %q", m.Watermark.Strategy)
	}
	if m.Watermark.Overlap < 0 {
		probs.add(path+".watermark.overlap", "must not be negative")
	}
	if m.Watermark.Overlap != 0 && m.Watermark.Strategy != DateOverlap && m.Watermark.Strategy != TimestampColumn {
		probs.add(path+".watermark.overlap", "only date_overlap and timestamp_column read with an overlap")
	}
	if len(m.Watermark.Also) > 0 && m.Watermark.Strategy != DateOverlap {
		probs.add(path+".watermark.also", "only date_overlap reads further change columns")
	}
	if m.DateFormat != "" && m.DateFormat != DateFormatDats {
		probs.add(path+".date_format", "must be empty or dats")
	}
	if m.ReadOnly != "" && m.Write != nil {
		probs.add(path+".read_only", "a read-only model declares no write")
	}
	for i, f := range m.Where {
		checkFilter(probs, fmt.Sprintf("%s.where[%d]", path, i), f)
	}
	aliases := map[string]bool{"t": true}
	for i, j := range m.Joins {
		jp := fmt.Sprintf("%s.joins[%d]", path, i)
		if j.Table == "" {
			probs.add(jp+".table", "is required")
		}
		if !validAlias(j.Alias) || aliases[j.Alias] {
			probs.add(jp+".alias", "must be a unique name of letters and digits, not t")
		}
		aliases[j.Alias] = true
		if j.Type != "" && j.Type != "left" && j.Type != "inner" {
			probs.add(jp+".type", "must be left or inner")
		}
		if len(j.On) == 0 {
			probs.add(jp+".on", "needs at least one column pair")
		}
		for k, f := range j.Where {
			checkFilter(probs, fmt.Sprintf("%s.where[%d]", jp, k), f)
		}
	}
	if custom {
		if len(m.Children) > 0 {
			probs.add(path+".children", "custom models have no lines")
		}
		if m.Write != nil {
			probs.add(path+".write", "custom models are read-only")
		}
		for _, fn := range sortedKeys(m.Fields) {
			fp := path + ".fields." + fn
			if !validName(fn) {
				probs.add(fp, "name must be lower-case letters, digits and _")
				continue
			}
			f := m.Fields[fn]
			checkSource(probs, fp, f)
			if f == nil {
				continue
			}
			if _, ok := CustomType(f.Type); !ok {
				probs.add(fp+".type", "must be string, int, decimal, bool or time")
			}
		}
		return
	}
	for _, fn := range sortedKeys(m.Fields) {
		f := def.Field(fn)
		if f == nil {
			probs.add(path+".fields."+fn, "unknown field of %s", def.Name)
			continue
		}
		if f.Type == model.Lines {
			probs.add(path+".fields."+fn, "lines are mapped under children")
			continue
		}
		checkField(probs, path+".fields."+fn, f, m.Fields[fn])
	}
	checkCustomFields(probs, path+".custom_fields", def, m.CustomFields)
	for _, cn := range sortedKeys(m.Children) {
		cp := path + ".children." + cn
		f := def.Field(cn)
		if f == nil || f.Type != model.Lines {
			probs.add(cp, "is not a lines field of %s", def.Name)
			continue
		}
		c := m.Children[cn]
		if c == nil || c.Table == "" {
			probs.add(cp+".table", "is required")
			continue
		}
		if len(c.On) == 0 {
			probs.add(cp+".on", "needs at least one column pair")
		}
		for i, fl := range c.Where {
			checkFilter(probs, fmt.Sprintf("%s.where[%d]", cp, i), fl)
		}
		for _, lf := range sortedKeys(c.Fields) {
			ld := def.LineField(cn, lf)
			if ld == nil {
				probs.add(cp+".fields."+lf, "unknown line field")
				continue
			}
			checkField(probs, cp+".fields."+lf, ld, c.Fields[lf])
		}
	}
	if m.Write != nil {
		for _, op := range []struct {
			name string
			w    *WriteOp
		}{{"create", m.Write.Create}, {"update", m.Write.Update}, {"status", m.Write.Status}} {
			if op.w == nil {
				continue
			}
			wp := path + ".write." + op.name
			for _, r := range append(append([]string(nil), op.w.Required...), op.w.Allowed...) {
				if def.Field(r) == nil {
					probs.add(wp, "unknown field %q", r)
				}
			}
			for _, c := range sortedKeys(op.w.Generated) {
				switch g := op.w.Generated[c]; {
				case g == "now", g == "user", g == "max_plus_one", g == "rowstamp":
				case strings.HasPrefix(g, "row.") && len(g) > 4:
				default:
					probs.add(wp+".generated."+c, "must be now, user, max_plus_one, rowstamp or row.COLUMN")
				}
			}
			for _, c := range sortedKeys(op.w.Lookups) {
				lp := wp + ".lookups." + c
				l := op.w.Lookups[c]
				if l == nil || l.Table == "" || l.Column == "" || len(l.Match) == 0 {
					probs.add(lp, "needs table, column and match")
					continue
				}
				for i, f := range l.Where {
					checkFilter(probs, fmt.Sprintf("%s.where[%d]", lp, i), f)
				}
			}
			if h := op.w.History; h != nil {
				if h.Table == "" {
					probs.add(wp+".history.table", "is required")
				}
				for _, c := range sortedKeys(h.Columns) {
					src := h.Columns[c]
					switch {
					case src == "now", src == "user", src == "max_plus_one", src == "rowstamp", src == "memo":
					case strings.HasPrefix(src, "row.") && len(src) > 4:
					default:
						probs.add(wp+".history.columns."+c, "must be now, user, max_plus_one, memo or row.COLUMN")
					}
				}
			}
		}
	}
}

func checkCustomFields(probs *Problems, path string, def *model.Def, cf map[string]*Field) {
	for _, fn := range sortedKeys(cf) {
		fp := path + "." + fn
		if !validName(fn) {
			probs.add(fp, "name must be lower-case letters, digits and _")
			continue
		}
		f := cf[fn]
		checkSource(probs, fp, f)
		if f != nil {
			if _, ok := CustomType(f.Type); !ok {
				probs.add(fp+".type", "must be string, int, decimal, bool or time")
			}
		}
	}
}

func validAlias(a string) bool {
	if a == "" || a == "t" || a == "c" || len(a) > 8 {
		return false
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return a[0] >= 'a' && a[0] <= 'z'
}

func checkFilter(probs *Problems, path string, f Filter) {
	if f.Column == "" {
		probs.add(path+".column", "is required")
	}
	n := 0
	if f.In != nil {
		n++
	}
	if f.NotIn != nil {
		n++
	}
	if f.IsNull != nil {
		n++
	}
	if n != 1 {
		probs.add(path, "needs exactly one of in, not_in, is_null")
	}
	for _, v := range append(append([]any(nil), f.In...), f.NotIn...) {
		if _, ok := ParamRef(v); ok {
			continue
		}
		switch v.(type) {
		case string, int, int64, float64, bool:
		default:
			probs.add(path, "values must be strings, numbers, booleans or {param: NAME}")
			return
		}
	}
}

// checkSource checks that exactly one source is given.
func checkSource(probs *Problems, path string, f *Field) int {
	if f == nil {
		probs.add(path, "is empty")
		return 0
	}
	n := 0
	for _, set := range []bool{f.Column != "", len(f.Coalesce) > 0, len(f.Concat) > 0, f.Const != nil, f.Ref != "", f.RefList != "", f.StatusSet != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		probs.add(path, "needs exactly one of column, coalesce, concat, const, ref, ref_list, status_set")
	}
	return n
}

func checkField(probs *Problems, path string, def *model.Field, f *Field) {
	if checkSource(probs, path, f) != 1 {
		return
	}
	if f.Type != "" {
		if _, ok := fieldTypes[f.Type]; !ok {
			probs.add(path+".type", "must be string, int, decimal, bool or time")
		}
	}
	switch def.Type {
	case model.Ref:
		if f.Ref == "" && f.Const == nil {
			probs.add(path, "a reference field needs ref and columns")
		} else if f.Ref != "" && f.Ref != def.Ref {
			probs.add(path+".ref", "must be %s", def.Ref)
		}
		if f.Ref != "" && len(f.Columns) == 0 {
			probs.add(path+".columns", "is required")
		}
	case model.RefList:
		if f.RefList == "" {
			probs.add(path, "a reference list needs ref_list and items")
		} else if f.RefList != def.Ref {
			probs.add(path+".ref_list", "must be %s", def.Ref)
		}
		if len(f.Items) == 0 {
			probs.add(path+".items", "is required")
		}
	default:
		if f.Ref != "" || f.RefList != "" {
			probs.add(path, "is not a reference field")
		}
	}
	if len(f.Values) > 0 && def.Type != model.Enum {
		probs.add(path+".values", "only enum fields map values")
	}
	if def.Type == model.Enum {
		for _, k := range sortedKeys(f.Values) {
			if !contains(def.Values, f.Values[k]) {
				probs.add(path+".values."+k, "%q is not one of %s", f.Values[k], strings.Join(def.Values, ", "))
			}
		}
		for _, k := range sortedKeys(f.WriteValues) {
			if !contains(def.Values, k) {
				probs.add(path+".write_values."+k, "not one of %s", strings.Join(def.Values, ", "))
			}
		}
		if f.Const != nil {
			if s, ok := f.Const.(string); !ok || !contains(def.Values, s) {
				probs.add(path+".const", "not one of %s", strings.Join(def.Values, ", "))
			}
		}
	}
	if f.Bool != "" && f.Bool != "inverted" {
		probs.add(path+".bool", "must be empty or inverted")
	}
	if f.MapBy != nil {
		if def.Type != model.Enum {
			probs.add(path+".map_by", "only enum fields map by another column")
		} else {
			if f.MapBy.Column == "" {
				probs.add(path+".map_by.column", "is required")
			}
			for _, k := range sortedKeys(f.MapBy.Values) {
				if !contains(def.Values, f.MapBy.Values[k]) {
					probs.add(path+".map_by.values."+k, "%q is not one of %s", f.MapBy.Values[k], strings.Join(def.Values, ", "))
				}
			}
		}
	}
	if f.Synonyms != nil && (f.Synonyms.Table == "" || f.Synonyms.Domain == "") {
		probs.add(path+".synonyms", "needs table and domain")
	}
	if f.StatusSet != nil {
		checkStatusSet(probs, path, def, f)
	}
	if f.From != nil {
		if f.RefList == "" {
			probs.add(path+".from", "only ref_list reads items from another table")
		} else {
			checkRelated(probs, path+".from", f.From)
		}
	}
	if f.TimeColumn != "" && (def.Type != model.Time || f.Column == "") {
		probs.add(path+".time_column", "only a time field mapped to a column takes a time_column")
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// SortedKeys returns the keys of a mapping in sorted order, the order the
// engine uses wherever map order would otherwise leak into SQL or output.
func SortedKeys[V any](m map[string]V) []string { return sortedKeys(m) }

// Load returns the embedded profile of a system.
func Load(system string) (*Profile, error) {
	if !validName(system) {
		return nil, fmt.Errorf("load profile %q: unknown system", system)
	}
	data, err := embedded.ReadFile(system + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("load profile %q: unknown system", system)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load profile %q: %w", system, err)
	}
	return p, nil
}

// Systems lists the systems with an embedded profile.
func Systems() []string {
	ents, _ := embedded.ReadDir(".")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}
