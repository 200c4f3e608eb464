// Package model defines Plantbridge's unified data model: the nine models of
// plant maintenance (work orders, assets, locations, purchase orders, parts,
// inventory levels, vendors, users, maintenance plans), their field
// definitions, the generic Record that carries one row of any model, stable
// record ids, and validation of write requests.
//
// The field tables are data rather than Go structs so that one engine can map
// any source table onto any model, and so that the relay can generate its
// OpenAPI schemas from the same definitions the agent maps with.
//
// This package imports only the standard library: it is shared by the agent,
// the relay and the tunnel wire format.
package model

import "sort"

// Type is the type of a unified field.
type Type string

// Field types. Decimals travel as strings so that no precision is lost
// between the source database and the API consumer.
const (
	String     Type = "string"
	Int        Type = "int"
	Decimal    Type = "decimal"
	Bool       Type = "bool"
	Time       Type = "time"
	Enum       Type = "enum"
	Ref        Type = "ref"
	RefList    Type = "ref_list"
	StringList Type = "string_list"
	Object     Type = "object"
	Lines      Type = "lines"
)

// Field defines one unified field of a model.
type Field struct {
	// Name is the snake_case field name used in JSON and in mappings.
	Name string
	// Type is the field's type.
	Type Type
	// Values lists the allowed values of an Enum field, in documentation order.
	Values []string
	// Ref names the model that a Ref or RefList field points at.
	Ref string
	// Lines holds the field definitions of one line of a Lines field.
	Lines []Field
	// Doc is a one-line description used in generated API documentation.
	Doc string
}

// Def defines a model: its URL name and its fields.
type Def struct {
	// Name is the model's URL name, such as "work_orders".
	Name string
	// Tag prefixes record ids of this model so that ids are recognisable.
	Tag string
	// Fields lists the unified fields in documentation order.
	Fields []Field

	byName map[string]*Field
}

// Field returns the definition of the named field, or nil.
func (d *Def) Field(name string) *Field {
	if d == nil {
		return nil
	}
	return d.byName[name]
}

// LineField returns the definition of field name inside the lines of the
// Lines field lines, or nil.
func (d *Def) LineField(lines, name string) *Field {
	f := d.Field(lines)
	if f == nil || f.Type != Lines {
		return nil
	}
	for i := range f.Lines {
		if f.Lines[i].Name == name {
			return &f.Lines[i]
		}
	}
	return nil
}

// CustomTag prefixes the ids of records of custom models.
const CustomTag = "cm"

func s(name, doc string) Field        { return Field{Name: name, Type: String, Doc: doc} }
func i(name, doc string) Field        { return Field{Name: name, Type: Int, Doc: doc} }
func dec(name, doc string) Field      { return Field{Name: name, Type: Decimal, Doc: doc} }
func b(name, doc string) Field        { return Field{Name: name, Type: Bool, Doc: doc} }
func tm(name, doc string) Field       { return Field{Name: name, Type: Time, Doc: doc} }
func ref(name, to, doc string) Field  { return Field{Name: name, Type: Ref, Ref: to, Doc: doc} }
func refs(name, to, doc string) Field { return Field{Name: name, Type: RefList, Ref: to, Doc: doc} }
func enum(name, doc string, v ...string) Field {
	return Field{Name: name, Type: Enum, Values: v, Doc: doc}
}

// Enum value lists of DESIGN.md §4.
var (
	WorkOrderStatuses     = []string{"open", "in_progress", "on_hold", "completed", "closed", "cancelled"}
	Priorities            = []string{"urgent", "high", "normal", "low"}
	WorkOrderTypes        = []string{"corrective", "preventive", "inspection", "emergency", "project", "other"}
	AssetStatuses         = []string{"active", "inactive", "disposed"}
	LocationTypes         = []string{"site", "building", "area", "functional_location", "storeroom"}
	PurchaseOrderStatuses = []string{"draft", "pending_approval", "approved", "partially_received", "received", "closed", "cancelled"}
	TriggerTypes          = []string{"calendar", "meter", "condition"}
	IntervalUnits         = []string{"day", "week", "month", "year", "hour"}
)

// Models lists the nine unified models in documentation order.
var Models = []*Def{
	{Name: "work_orders", Tag: "wo", Fields: []Field{
		s("number", "work order number as shown in the source system"),
		s("title", "short description"),
		s("description", "long description"),
		enum("status", "normalized status", WorkOrderStatuses...),
		enum("priority", "normalized priority", Priorities...),
		enum("type", "normalized work type", WorkOrderTypes...),
		ref("asset_id", "assets", "asset the work is done on"),
		ref("location_id", "locations", "location the work is done at"),
		s("site_id", "site code"),
		ref("parent_id", "work_orders", "parent work order"),
		ref("maintenance_plan_id", "maintenance_plans", "plan that generated the work order"),
		refs("assignee_ids", "users", "people assigned"),
		s("requested_by", "person who reported or requested the work"),
		tm("reported_at", "time the work was reported"),
		tm("due_at", "target completion time"),
		tm("scheduled_start_at", "scheduled start"),
		tm("scheduled_end_at", "scheduled finish"),
		tm("actual_start_at", "actual start"),
		tm("completed_at", "actual finish"),
		tm("closed_at", "time the work order was closed"),
		dec("estimated_hours", "estimated duration in hours"),
		dec("actual_hours", "actual labor hours"),
		dec("downtime_hours", "asset downtime in hours"),
		s("failure_code", "failure class or code"),
	}},
	{Name: "assets", Tag: "ast", Fields: []Field{
		s("name", "asset name or description"),
		s("code", "asset number"),
		s("description", "long description"),
		enum("status", "normalized status", AssetStatuses...),
		s("criticality", "criticality or priority as the source names it"),
		s("category", "asset type or class"),
		s("manufacturer", "manufacturer"),
		s("model", "model"),
		s("serial_number", "serial number"),
		ref("parent_id", "assets", "parent asset"),
		ref("location_id", "locations", "location of the asset"),
		s("site_id", "site code"),
		tm("commissioned_at", "installation or commissioning time"),
		dec("purchase_cost", "purchase price"),
		s("currency", "ISO 4217 currency code of purchase_cost"),
	}},
	{Name: "locations", Tag: "loc", Fields: []Field{
		s("name", "location name or description"),
		s("code", "location code"),
		enum("type", "normalized location type", LocationTypes...),
		ref("parent_id", "locations", "parent location"),
		s("site_id", "site code"),
		s("address", "postal address"),
	}},
	{Name: "purchase_orders", Tag: "po", Fields: []Field{
		s("number", "purchase order number"),
		enum("status", "normalized status", PurchaseOrderStatuses...),
		ref("vendor_id", "vendors", "vendor"),
		tm("order_date", "order date"),
		tm("due_at", "required delivery date"),
		s("currency", "ISO 4217 currency code"),
		dec("subtotal", "total before tax"),
		dec("total_amount", "total including tax"),
		ref("work_order_id", "work_orders", "work order the purchase is for"),
		{Name: "lines", Type: Lines, Doc: "order lines", Lines: []Field{
			i("line_number", "line number"),
			ref("part_id", "parts", "part ordered"),
			s("description", "line description"),
			dec("quantity", "ordered quantity"),
			s("unit_of_measure", "order unit"),
			dec("unit_price", "unit price"),
			dec("received_quantity", "received quantity"),
			dec("line_total", "line total"),
			tm("due_at", "required delivery date of the line"),
		}},
	}},
	{Name: "parts", Tag: "prt", Fields: []Field{
		s("part_number", "part or item number"),
		s("name", "part name or description"),
		s("description", "long description"),
		s("unit_of_measure", "unit of measure"),
		s("category", "commodity group or category"),
		s("manufacturer", "manufacturer"),
		s("manufacturer_part_number", "manufacturer's part number"),
		dec("unit_cost", "unit cost"),
		b("is_active", "whether the part can be used"),
	}},
	{Name: "inventory_levels", Tag: "inv", Fields: []Field{
		ref("part_id", "parts", "part stocked"),
		ref("location_id", "locations", "storeroom"),
		s("bin", "bin"),
		dec("quantity_on_hand", "current balance"),
		dec("min_quantity", "minimum (safety) stock"),
		dec("max_quantity", "maximum stock"),
		dec("reorder_point", "reorder point"),
	}},
	{Name: "vendors", Tag: "ven", Fields: []Field{
		s("name", "vendor name"),
		s("code", "vendor code"),
		b("is_active", "whether the vendor can be used"),
		s("email", "email address"),
		s("phone", "phone number"),
		s("address", "postal address"),
		s("currency", "ISO 4217 currency code"),
		s("payment_terms", "payment terms"),
	}},
	{Name: "users", Tag: "usr", Fields: []Field{
		s("name", "display name"),
		s("first_name", "first name"),
		s("last_name", "last name"),
		s("email", "email address"),
		s("employee_code", "person or employee code"),
		s("craft", "craft or trade"),
		b("is_active", "whether the person is active"),
	}},
	{Name: "maintenance_plans", Tag: "mp", Fields: []Field{
		s("name", "plan name or number"),
		s("description", "description"),
		refs("asset_ids", "assets", "assets the plan covers"),
		ref("location_id", "locations", "location the plan covers"),
		s("status", "status as the source names it"),
		enum("trigger_type", "what triggers the plan", TriggerTypes...),
		i("interval", "interval length in interval_unit"),
		enum("interval_unit", "unit of interval", IntervalUnits...),
		tm("last_performed_at", "last time the plan was performed"),
		tm("next_due_at", "next due time"),
		dec("estimated_hours", "estimated duration in hours"),
	}},
}

var byName = func() map[string]*Def {
	m := make(map[string]*Def, len(Models))
	for _, d := range Models {
		d.index()
		m[d.Name] = d
	}
	return m
}()

func (d *Def) index() {
	d.byName = make(map[string]*Field, len(d.Fields))
	for i := range d.Fields {
		d.byName[d.Fields[i].Name] = &d.Fields[i]
	}
}

// NewDef builds the definition of a custom model from its fields. Custom
// models have no enums with remote siblings unless a field says so.
func NewDef(name string, fields []Field) *Def {
	d := &Def{Name: name, Tag: CustomTag, Fields: fields}
	d.index()
	return d
}

// Lookup returns the definition of a unified model by URL name, or nil.
func Lookup(name string) *Def { return byName[name] }

// Names returns the unified model names in sorted order.
func Names() []string {
	n := make([]string, 0, len(byName))
	for k := range byName {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// RemoteSibling returns the name of the field that carries the native code of
// an enum field: "status" → "remote_status".
func RemoteSibling(enumField string) string { return "remote_" + enumField }
