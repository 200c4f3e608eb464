package connectors

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// Write applies one write in one transaction; see Connector. Everything
// that can be checked without the database — unknown fields, types, enum
// values, required and allowed fields, references — is checked first, and
// problems come back as one *ValidationError before any SQL runs.
func (c *SQLConnector) Write(ctx context.Context, req WriteRequest) (*model.Record, error) {
	pl, err := c.plan(req.Model)
	if err != nil {
		return nil, err
	}
	op := "write " + req.Model
	var spec *profiles.WriteOp
	if pl.write != nil {
		switch req.Op {
		case model.OpCreate:
			spec = pl.write.Create
		case model.OpUpdate:
			spec = pl.write.Update
		case model.OpStatus:
			spec = pl.write.Status
		}
	}
	if spec == nil {
		return nil, &Error{Class: BadRequest, Op: op, Err: c.notWritable(pl, req.Op)}
	}
	set, errs := c.columnsFor(pl, spec, req)
	if len(errs) > 0 {
		return nil, &ValidationError{Fields: errs}
	}
	var key []string
	if req.Op != model.OpCreate {
		key = model.SplitKey(req.RemoteID)
		if len(key) != len(pl.key) {
			return nil, &ValidationError{Fields: []model.FieldError{{Pointer: "/remote_id", Message: fmt.Sprintf("want %d key parts joined by /", len(pl.key))}}}
		}
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap(op, pl.table.Name, err)
	}
	defer tx.Rollback()
	remoteID, err := c.applyWrite(ctx, tx, pl, spec, req, set, key)
	if err != nil {
		return nil, wrap(op, pl.table.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap(op, pl.table.Name, err)
	}
	rec, err := c.readByKey(ctx, pl, remoteID)
	if err != nil {
		return nil, wrap("read back "+req.Model, pl.table.Name, err)
	}
	return rec, nil
}

// colValues holds column → value in insertion order.
type colValues struct {
	cols []*dialect.Column
	vals []any
	pos  map[string]int
}

func (cv *colValues) has(name string) bool { _, ok := cv.pos[strings.ToUpper(name)]; return ok }

func (cv *colValues) get(name string) (any, bool) {
	i, ok := cv.pos[strings.ToUpper(name)]
	if !ok {
		return nil, false
	}
	return cv.vals[i], true
}

// set records a value; a second, different value for the same column is a
// conflict (say asset_id and site_id naming different sites).
func (cv *colValues) set(c *dialect.Column, v any) bool {
	if cv.pos == nil {
		cv.pos = map[string]int{}
	}
	k := strings.ToUpper(c.Name)
	if i, ok := cv.pos[k]; ok {
		return text(cv.vals[i]) == text(v)
	}
	cv.pos[k] = len(cv.cols)
	cv.cols = append(cv.cols, c)
	cv.vals = append(cv.vals, v)
	return true
}

func (c *SQLConnector) columnsFor(pl *plan, spec *profiles.WriteOp, req WriteRequest) (*colValues, []model.FieldError) {
	errs := model.ValidateDef(pl.def, req.Fields, req.Op)
	for _, r := range spec.Required {
		v, ok := req.Fields[r]
		if f := pl.def.Field(r); f != nil && f.Type == model.Enum && !ok {
			v, ok = req.Fields[model.RemoteSibling(r)]
		}
		if !ok || v == nil || v == "" {
			errs = append(errs, model.FieldError{Pointer: model.Pointer(r), Message: "is required"})
		}
	}
	allowed := map[string]bool{}
	for _, a := range spec.Allowed {
		allowed[a] = true
	}
	if req.Op == model.OpStatus {
		allowed["status"] = true
	}
	cv := &colValues{}
	names := make([]string, 0, len(req.Fields))
	for k := range req.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	bad := map[string]bool{}
	for _, e := range errs {
		bad[e.Pointer] = true
	}
	for _, name := range names {
		ptr := model.Pointer(name)
		if bad[ptr] {
			continue
		}
		v := req.Fields[name]
		if name == "custom_fields" {
			m, _ := v.(map[string]any)
			for _, cn := range profiles.SortedKeys(m) {
				cp := ptr + model.Pointer(cn)
				f := pl.byCustom[cn]
				if f == nil || f.writeCols == nil {
					errs = append(errs, model.FieldError{Pointer: cp, Message: "unknown or read-only custom field"})
					continue
				}
				if fe := checkCustom(f, m[cn]); fe != "" {
					errs = append(errs, model.FieldError{Pointer: cp, Message: fe})
					continue
				}
				cv.set(f.writeCols[0], c.writeValue(f.writeCols[0], f, m[cn]))
			}
			continue
		}
		fieldName := strings.TrimPrefix(name, "remote_")
		if fieldName != name {
			if _, both := req.Fields[fieldName]; both {
				errs = append(errs, model.FieldError{Pointer: ptr, Message: "give either " + fieldName + " or " + name})
				continue
			}
		}
		if len(spec.Allowed) > 0 && !allowed[fieldName] {
			errs = append(errs, model.FieldError{Pointer: ptr, Message: fmt.Sprintf("cannot be set by %s", req.Op)})
			continue
		}
		f := pl.byField[fieldName]
		if f == nil || f.writeCols == nil {
			errs = append(errs, model.FieldError{Pointer: ptr, Message: "is not writable in this system"})
			continue
		}
		if v == nil {
			for _, col := range f.writeCols {
				cv.set(col, nil)
			}
			continue
		}
		switch f.kind {
		case srcRef, srcRefList:
			id := v
			if l, ok := v.([]any); ok {
				if len(l) > 1 {
					errs = append(errs, model.FieldError{Pointer: ptr, Message: "takes at most one entry in this system"})
					continue
				}
				if len(l) == 0 {
					for _, col := range f.writeCols {
						cv.set(col, nil)
					}
					continue
				}
				id = l[0]
			}
			if l, ok := v.([]string); ok && len(l) == 1 {
				id = l[0]
			}
			rid, ok := req.Refs[name]
			if !ok {
				errs = append(errs, model.FieldError{Pointer: ptr, Message: "reference could not be resolved to a " + f.refModel + " record"})
				continue
			}
			if want := model.RecordID(c.cfg.ConnectionID, f.refModel, rid); want != id {
				errs = append(errs, model.FieldError{Pointer: ptr, Message: "reference does not match its resolved record"})
				continue
			}
			parts := model.SplitKey(rid)
			if len(parts) != len(f.writeCols) {
				errs = append(errs, model.FieldError{Pointer: ptr, Message: "reference key does not fit this system"})
				continue
			}
			for i, col := range f.writeCols {
				if !cv.set(col, c.d.Bind(col.Kind, parts[i])) {
					errs = append(errs, model.FieldError{Pointer: ptr, Message: fmt.Sprintf("conflicts with another field over %s", col.Name)})
				}
			}
		default:
			native, fe := c.nativeValue(f, name != fieldName, v)
			if fe != "" {
				errs = append(errs, model.FieldError{Pointer: ptr, Message: fe})
				continue
			}
			col := f.writeCols[0]
			if !cv.set(col, c.writeValue(col, f, native)) {
				errs = append(errs, model.FieldError{Pointer: ptr, Message: fmt.Sprintf("conflicts with another field over %s", col.Name)})
			}
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pointer < errs[j].Pointer })
	return cv, errs
}

func checkCustom(f *fieldPlan, v any) string {
	fe := model.ValidateDef(model.NewDef("custom", []model.Field{{Name: "v", Type: f.typ}}), map[string]any{"v": v}, model.OpUpdate)
	if len(fe) > 0 {
		return fe[0].Message
	}
	return ""
}

// nativeValue turns an enum value into the native code to write.
func (c *SQLConnector) nativeValue(f *fieldPlan, isRemote bool, v any) (any, string) {
	if f.typ != model.Enum {
		return v, ""
	}
	s, _ := v.(string)
	if isRemote {
		return s, ""
	}
	if n, ok := f.writeVals[s]; ok {
		return n, ""
	}
	var natives []string
	for n, u := range f.values {
		if u == s {
			natives = append(natives, n)
		}
	}
	if len(natives) == 0 {
		return nil, fmt.Sprintf("%q has no native code in this system", s)
	}
	sort.Strings(natives)
	return natives[0], ""
}

// writeValue converts a unified value into what is bound for col.
func (c *SQLConnector) writeValue(col *dialect.Column, f *fieldPlan, v any) any {
	if v == nil {
		return nil
	}
	switch col.Kind {
	case dialect.KindTime, dialect.KindDate:
		if t, ok := model.AsTime(v); ok {
			return c.d.Bind(col.Kind, dialect.UTCToLocal(t, c.loc))
		}
	case dialect.KindTimeTZ:
		if t, ok := model.AsTime(v); ok {
			return t
		}
	case dialect.KindInt:
		if b, ok := v.(bool); ok {
			if f != nil && f.inverted {
				b = !b
			}
			return c.d.Bind(dialect.KindInt, b)
		}
		if n, ok := model.AsInt(v); ok {
			return n
		}
		if s, ok := v.(string); ok {
			if n, err := keyArg(col, s); err == nil {
				return n
			}
		}
	case dialect.KindDecimal, dialect.KindFloat:
		if d, ok := model.AsDecimal(v); ok {
			return d
		}
	case dialect.KindBool:
		if b, ok := v.(bool); ok {
			if f != nil && f.inverted {
				b = !b
			}
			return c.d.Bind(col.Kind, b)
		}
	case dialect.KindString:
		if b, ok := v.(bool); ok {
			if f != nil && len(f.trueValues) > 0 {
				// A bool mapped through codes is not writable as a bool.
				return nil
			}
			if b {
				return "Y"
			}
			return "N"
		}
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.RFC3339)
		}
	}
	return v
}

func (c *SQLConnector) applyWrite(ctx context.Context, tx *sql.Tx, pl *plan, spec *profiles.WriteOp, req WriteRequest, set *colValues, key []string) (string, error) {
	t := pl.table

	generate := func(cv *colValues, colName, g string) error {
		col := t.Column(colName)
		if col == nil || cv.has(col.Name) {
			return nil
		}
		switch {
		case g == "now":
			cv.set(col, c.nowArg(col))
		case g == "user":
			cv.set(col, c.cfg.WriteUser)
		case g == "max_plus_one", g == "rowstamp":
			if g == "rowstamp" && col.Kind == dialect.KindRowversion {
				return nil // maintained by SQL Server
			}
			n, err := c.maxPlusOne(ctx, tx, t.Name, col.Name)
			if err != nil {
				return err
			}
			cv.set(col, n)
		case strings.HasPrefix(g, "row."):
			if v, ok := cv.get(strings.TrimPrefix(g, "row.")); ok {
				cv.set(col, v)
			}
		}
		return nil
	}

	var remoteID string
	if req.Op == model.OpCreate {
		for _, cn := range profiles.SortedKeys(spec.Generated) {
			if !strings.HasPrefix(spec.Generated[cn], "row.") {
				if err := generate(set, cn, spec.Generated[cn]); err != nil {
					return "", err
				}
			}
		}
		if err := c.runLookups(ctx, tx, pl, spec, req, set); err != nil {
			return "", err
		}
		for _, cn := range profiles.SortedKeys(spec.Defaults) {
			if col := t.Column(cn); col != nil && !set.has(col.Name) {
				set.set(col, c.writeValue(col, nil, spec.Defaults[cn]))
			}
		}
		for _, cn := range profiles.SortedKeys(spec.Generated) {
			if strings.HasPrefix(spec.Generated[cn], "row.") {
				if err := generate(set, cn, spec.Generated[cn]); err != nil {
					return "", err
				}
			}
		}
		var missing []string
		for _, col := range t.Columns {
			if !col.Nullable && !set.has(col.Name) && col.Kind != dialect.KindRowversion {
				missing = append(missing, col.Name)
			}
		}
		if len(missing) > 0 {
			return "", &Error{Class: BadRequest, Op: "create " + pl.name, Table: t.Name,
				Err: fmt.Errorf("no value for NOT NULL columns %s (add them to the profile's write.create.defaults)", strings.Join(missing, ", "))}
		}
		names := make([]string, len(set.cols))
		for i, col := range set.cols {
			names[i] = col.Name
		}
		q, err := c.d.BuildInsert(t.Name, names)
		if err != nil {
			return "", err
		}
		if _, err := tx.ExecContext(ctx, q, set.vals...); err != nil {
			return "", err
		}
		parts := make([]string, len(pl.key))
		for i, k := range pl.key {
			v, _ := set.get(pl.meta[k].Name)
			parts[i] = text(v)
		}
		remoteID = model.JoinKey(parts)
	} else {
		remoteID = req.RemoteID
		if err := c.runLookups(ctx, tx, pl, spec, req, set); err != nil {
			return "", err
		}
		for _, cn := range profiles.SortedKeys(spec.Generated) {
			if err := generate(set, cn, spec.Generated[cn]); err != nil {
				return "", err
			}
		}
		names := make([]string, len(set.cols))
		for i, col := range set.cols {
			names[i] = col.Name
		}
		where := make([]string, len(pl.key))
		args := append([]any(nil), set.vals...)
		for i, k := range pl.key {
			where[i] = pl.meta[k].Name
			v, err := keyArg(pl.meta[k], key[i])
			if err != nil {
				return "", fmt.Errorf("remote id %q: %w", req.RemoteID, ErrNotFound)
			}
			args = append(args, c.bind(pl.meta[k], v))
		}
		if len(names) == 0 {
			return "", &ValidationError{Fields: []model.FieldError{{Pointer: "", Message: "nothing to change"}}}
		}
		q, err := c.d.BuildUpdate(t.Name, names, where)
		if err != nil {
			return "", err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return "", err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return "", fmt.Errorf("%s %q: %w", pl.name, req.RemoteID, ErrNotFound)
		}
	}
	if spec.History != nil {
		if err := c.writeHistory(ctx, tx, pl, spec.History, remoteID, req.Memo); err != nil {
			return "", err
		}
	}
	return remoteID, nil
}

// nowArg is the current time bound for col: an instant for zoned columns,
// else the local wall clock (also for text columns, which hold dates in
// SQLite).
func (c *SQLConnector) nowArg(col *dialect.Column) any {
	switch col.Kind {
	case dialect.KindTimeTZ:
		return c.now().UTC()
	case dialect.KindDate:
		return c.d.Bind(dialect.KindDate, dialect.UTCToLocal(c.now(), c.loc))
	}
	return c.d.Bind(dialect.KindTime, dialect.UTCToLocal(c.now(), c.loc))
}

func (c *SQLConnector) maxPlusOne(ctx context.Context, tx *sql.Tx, table, col string) (int64, error) {
	q, err := c.d.BuildMax(table, col)
	if err != nil {
		return 0, err
	}
	var raw any
	if err := tx.QueryRowContext(ctx, q).Scan(&raw); err != nil {
		return 0, err
	}
	if raw == nil {
		return 1, nil
	}
	n, err := dialect.Value(dialect.KindInt, raw, c.loc)
	if err != nil {
		return 0, err
	}
	return n.(int64) + 1, nil
}

// runLookups fills columns from other tables. A lookup runs when every
// column it matches on has a value in set and its own column has none; on
// updates and status changes that means the request set the matched columns.
func (c *SQLConnector) runLookups(ctx context.Context, tx *sql.Tx, pl *plan, spec *profiles.WriteOp, req WriteRequest, set *colValues) error {
	var errs []model.FieldError
	for _, cn := range profiles.SortedKeys(spec.Lookups) {
		l := spec.Lookups[cn]
		col := pl.table.Column(cn)
		if col == nil || set.has(col.Name) {
			continue
		}
		matched := true
		for _, mc := range profiles.SortedKeys(l.Match) {
			if _, ok := set.get(l.Match[mc]); !ok {
				matched = false
			}
		}
		if !matched {
			continue
		}
		v, err := c.lookup(ctx, tx, l, set)
		if err != nil {
			return err
		}
		if v != nil {
			set.set(col, v)
			continue
		}
		if l.Required {
			for _, mc := range profiles.SortedKeys(l.Match) {
				mv, _ := set.get(l.Match[mc])
				errs = append(errs, model.FieldError{Pointer: fieldPointer(pl, req, l.Match[mc]),
					Message: fmt.Sprintf("%v is not a known code in %s", mv, l.Table)})
			}
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pointer < errs[j].Pointer })
		return &ValidationError{Fields: errs}
	}
	return nil
}

// fieldPointer points at the request field that set column col, or at the
// whole record when none did.
func fieldPointer(pl *plan, req WriteRequest, col string) string {
	for _, f := range pl.fields {
		for _, wc := range f.writeCols {
			if !strings.EqualFold(wc.Name, col) {
				continue
			}
			if _, ok := req.Fields[f.name]; ok {
				return model.Pointer(f.name)
			}
			if _, ok := req.Fields[model.RemoteSibling(f.name)]; ok {
				return model.Pointer(model.RemoteSibling(f.name))
			}
		}
	}
	return ""
}

func (c *SQLConnector) lookup(ctx context.Context, tx *sql.Tx, l *profiles.Lookup, set *colValues) (any, error) {
	c.mu.Lock()
	s := c.schema
	c.mu.Unlock()
	lt := s.Table(l.Table)
	if lt == nil {
		return nil, nil
	}
	col := lt.Column(l.Column)
	if col == nil {
		return nil, nil
	}
	q := dialect.Select{Table: lt.Name, Alias: "t", Columns: []dialect.Col{{Alias: "t", Name: col.Name}}, Limit: 1}
	for _, mc := range profiles.SortedKeys(l.Match) {
		lc := lt.Column(mc)
		v, ok := set.get(l.Match[mc])
		if lc == nil || !ok {
			return nil, nil
		}
		q.Filters = append(q.Filters, dialect.Filter{Col: dialect.Col{Alias: "t", Name: lc.Name}, Op: dialect.OpIn, Values: []any{v}})
	}
	for _, f := range l.Where {
		wc := lt.Column(f.Column)
		if wc == nil {
			return nil, nil
		}
		q.Filters = append(q.Filters, makeFilter(dialect.Col{Alias: "t", Name: wc.Name}, f))
	}
	sqlText, args, err := c.d.BuildSelect(q)
	if err != nil {
		return nil, err
	}
	var v any
	err = tx.QueryRowContext(ctx, sqlText, args...).Scan(&v)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	return v, err
}

// writeHistory inserts a history row (Maximo WOSTATUS) if the table exists,
// reading the written row's columns back inside the transaction.
func (c *SQLConnector) writeHistory(ctx context.Context, tx *sql.Tx, pl *plan, h *profiles.History, remoteID, memo string) error {
	c.mu.Lock()
	s := c.schema
	c.mu.Unlock()
	ht := s.Table(h.Table)
	if ht == nil {
		return nil
	}
	parts := model.SplitKey(remoteID)
	row := make([]any, len(parts))
	for i, p := range parts {
		v, err := keyArg(pl.meta[pl.key[i]], p)
		if err != nil {
			return err
		}
		row[i] = c.bind(pl.meta[pl.key[i]], v)
	}
	q := dialect.Select{Table: pl.table.Name, Alias: "t", Columns: pl.cols[:pl.nBase], KeysIn: &dialect.KeysIn{Cols: pl.keyCols, Rows: [][]any{row}}}
	sqlText, args, err := c.d.BuildSelect(q)
	if err != nil {
		return err
	}
	raw := make([]any, pl.nBase)
	ptrs := make([]any, pl.nBase)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := tx.QueryRowContext(ctx, sqlText, args...).Scan(ptrs...); err != nil {
		return err
	}
	written := map[string]any{}
	for i := 0; i < pl.nBase; i++ {
		v := raw[i]
		if b, ok := v.([]byte); ok && pl.meta[i].Kind != dialect.KindBinary && pl.meta[i].Kind != dialect.KindRowversion {
			v = string(b)
		}
		written[strings.ToUpper(pl.meta[i].Name)] = v
	}
	hv := &colValues{}
	for _, cn := range profiles.SortedKeys(h.Columns) {
		col := ht.Column(cn)
		if col == nil {
			continue
		}
		switch src := h.Columns[cn]; {
		case src == "now":
			hv.set(col, c.nowArg(col))
		case src == "user":
			hv.set(col, c.cfg.WriteUser)
		case src == "memo":
			hv.set(col, memo)
		case src == "rowstamp" && col.Kind == dialect.KindRowversion:
		case src == "max_plus_one", src == "rowstamp":
			n, err := c.maxPlusOne(ctx, tx, ht.Name, col.Name)
			if err != nil {
				return err
			}
			hv.set(col, n)
		case strings.HasPrefix(src, "row."):
			hv.set(col, written[strings.ToUpper(strings.TrimPrefix(src, "row."))])
		}
	}
	names := make([]string, len(hv.cols))
	for i, col := range hv.cols {
		names[i] = col.Name
	}
	ins, err := c.d.BuildInsert(ht.Name, names)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, ins, hv.vals...); err != nil {
		return fmt.Errorf("insert %s: %w", ht.Name, err)
	}
	return nil
}
