package dialect

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// Discovery queries. They are constants with bound parameters only; the
// SQLite pragmas take a table name, which is quoted.
const (
	pgTablesSQL = `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES', t.table_type = 'VIEW'
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = COALESCE(NULLIF($1, ''), current_schema())
ORDER BY c.table_name, c.ordinal_position`
	// pg_indexes gives the index names; the column lists come from pg_index
	// because parsing indexdef text would be fragile.
	pgIndexesSQL = `SELECT ix.tablename, ix.indexname, i.indisunique, i.indisprimary, a.attname
FROM pg_indexes ix
JOIN pg_class ic ON ic.relname = ix.indexname
JOIN pg_namespace n ON n.oid = ic.relnamespace AND n.nspname = ix.schemaname
JOIN pg_index i ON i.indexrelid = ic.oid
JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE ix.schemaname = COALESCE(NULLIF($1, ''), current_schema())
ORDER BY ix.tablename, ix.indexname, k.pos`
	sqlServerTablesSQL = `SELECT o.name, c.name, ty.name, c.is_nullable, CASE WHEN o.type = 'V' THEN 1 ELSE 0 END
FROM sys.objects o
JOIN sys.columns c ON c.object_id = o.object_id
JOIN sys.types ty ON ty.user_type_id = c.user_type_id
WHERE o.type IN ('U', 'V') AND o.schema_id = SCHEMA_ID(COALESCE(NULLIF(@p1, ''), SCHEMA_NAME()))
ORDER BY o.name, c.column_id`
	sqlServerIndexesSQL = `SELECT t.name, i.name, i.is_unique, i.is_primary_key, c.name
FROM sys.tables t
JOIN sys.indexes i ON i.object_id = t.object_id
JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE t.schema_id = SCHEMA_ID(COALESCE(NULLIF(@p1, ''), SCHEMA_NAME())) AND i.name IS NOT NULL AND ic.is_included_column = 0
ORDER BY t.name, i.name, ic.key_ordinal`
	oracleTablesSQL = `SELECT c.TABLE_NAME, c.COLUMN_NAME,
  CASE WHEN c.DATA_TYPE = 'NUMBER' AND c.DATA_PRECISION IS NOT NULL THEN 'NUMBER(' || c.DATA_PRECISION || ',' || NVL(c.DATA_SCALE, 0) || ')'
       WHEN c.DATA_TYPE = 'NUMBER' AND c.DATA_SCALE = 0 THEN 'NUMBER(38,0)'
       ELSE c.DATA_TYPE END,
  CASE WHEN c.NULLABLE = 'Y' THEN 1 ELSE 0 END,
  CASE WHEN v.VIEW_NAME IS NULL THEN 0 ELSE 1 END
FROM ALL_TAB_COLUMNS c
LEFT JOIN ALL_VIEWS v ON v.OWNER = c.OWNER AND v.VIEW_NAME = c.TABLE_NAME
WHERE c.OWNER = NVL(:1, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA'))
ORDER BY c.TABLE_NAME, c.COLUMN_ID`
	oracleIndexesSQL = `SELECT i.TABLE_NAME, i.INDEX_NAME, CASE WHEN i.UNIQUENESS = 'UNIQUE' THEN 1 ELSE 0 END,
  CASE WHEN k.CONSTRAINT_NAME IS NULL THEN 0 ELSE 1 END, ic.COLUMN_NAME
FROM ALL_INDEXES i
JOIN ALL_IND_COLUMNS ic ON ic.INDEX_OWNER = i.OWNER AND ic.INDEX_NAME = i.INDEX_NAME
LEFT JOIN ALL_CONSTRAINTS k ON k.OWNER = i.TABLE_OWNER AND k.INDEX_NAME = i.INDEX_NAME AND k.CONSTRAINT_TYPE = 'P'
WHERE i.TABLE_OWNER = NVL(:1, SYS_CONTEXT('USERENV', 'CURRENT_SCHEMA'))
ORDER BY i.TABLE_NAME, i.INDEX_NAME, ic.COLUMN_POSITION`
)

// DiscoverySQL returns the dialect's two discovery queries (tables with
// columns, and indexes with columns); SQLite uses pragmas instead and
// returns empty strings. Exposed for golden tests.
func (d *Dialect) DiscoverySQL() (tables, indexes string) {
	switch d {
	case Postgres:
		return pgTablesSQL, pgIndexesSQL
	case SQLServer:
		return sqlServerTablesSQL, sqlServerIndexesSQL
	case Oracle:
		return oracleTablesSQL, oracleIndexesSQL
	}
	return "", ""
}

// Discover reads the tables, columns and indexes of schemaName (empty: the
// connection's current schema).
func (d *Dialect) Discover(ctx context.Context, db *sql.DB, schemaName string) (*Schema, error) {
	s := &Schema{Dialect: d.name, SchemaName: schemaName}
	var err error
	if d == SQLite {
		err = d.discoverSQLite(ctx, db, s)
	} else {
		err = d.discoverCatalog(ctx, db, s, schemaName)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(s.Tables, func(i, j int) bool { return s.Tables[i].Name < s.Tables[j].Name })
	s.Index()
	return s, nil
}

func (d *Dialect) discoverCatalog(ctx context.Context, db *sql.DB, s *Schema, schemaName string) error {
	tq, iq := d.DiscoverySQL()
	var arg any = schemaName
	if d == Oracle && schemaName == "" {
		// Oracle treats '' as NULL, which NVL needs; bind a real NULL to be explicit.
		arg = nil
	}
	rows, err := db.QueryContext(ctx, tq, arg)
	if err != nil {
		return fmt.Errorf("discover columns: %w", err)
	}
	byName := map[string]*Table{}
	for rows.Next() {
		var tn, cn, typ string
		var nullable, view bool
		if err := rows.Scan(&tn, &cn, &typ, &nullable, &view); err != nil {
			rows.Close()
			return fmt.Errorf("discover columns: %w", err)
		}
		t := byName[tn]
		if t == nil {
			t = &Table{Name: tn, View: view}
			byName[tn] = t
			s.Tables = append(s.Tables, t)
		}
		t.Columns = append(t.Columns, &Column{Name: cn, Type: typ, Kind: d.KindOf(typ), Nullable: nullable, Padded: d.Padded(typ)})
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("discover columns: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("discover columns: %w", err)
	}
	rows, err = db.QueryContext(ctx, iq, arg)
	if err != nil {
		return fmt.Errorf("discover indexes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tn, in, cn string
		var unique, primary bool
		if err := rows.Scan(&tn, &in, &unique, &primary, &cn); err != nil {
			return fmt.Errorf("discover indexes: %w", err)
		}
		t := byName[tn]
		if t == nil {
			continue
		}
		var ix *Index
		if n := len(t.Indexes); n > 0 && t.Indexes[n-1].Name == in {
			ix = t.Indexes[n-1]
		} else {
			ix = &Index{Name: in, Unique: unique || primary, Primary: primary}
			t.Indexes = append(t.Indexes, ix)
		}
		ix.Columns = append(ix.Columns, cn)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("discover indexes: %w", err)
	}
	return nil
}

func (d *Dialect) discoverSQLite(ctx context.Context, db *sql.DB, s *Schema) error {
	rows, err := db.QueryContext(ctx, `SELECT name, type = 'view' FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return fmt.Errorf("discover tables: %w", err)
	}
	for rows.Next() {
		t := &Table{}
		if err := rows.Scan(&t.Name, &t.View); err != nil {
			rows.Close()
			return fmt.Errorf("discover tables: %w", err)
		}
		s.Tables = append(s.Tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("discover tables: %w", err)
	}
	for _, t := range s.Tables {
		q, err := d.Quote(t.Name)
		if err != nil {
			continue
		}
		if err := sqliteColumns(ctx, db, t, q); err != nil {
			return fmt.Errorf("discover columns of %s: %w", t.Name, err)
		}
		if err := sqliteIndexes(ctx, db, t, q); err != nil {
			return fmt.Errorf("discover indexes of %s: %w", t.Name, err)
		}
	}
	return nil
}

func sqliteColumns(ctx context.Context, db *sql.DB, t *Table, quoted string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA table_info("+quoted+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	var pk []struct {
		pos  int
		name string
	}
	for rows.Next() {
		var cid, notnull, pkpos int
		var name, typ string
		var dflt sql.NullString
		if err := rows.Scan(&cid, &name, &typ, &notnull, &dflt, &pkpos); err != nil {
			return err
		}
		t.Columns = append(t.Columns, &Column{Name: name, Type: typ, Kind: SQLite.KindOf(typ), Nullable: notnull == 0 && pkpos == 0, Padded: SQLite.Padded(typ)})
		if pkpos > 0 {
			pk = append(pk, struct {
				pos  int
				name string
			}{pkpos, name})
		}
	}
	if len(pk) > 0 {
		sort.Slice(pk, func(i, j int) bool { return pk[i].pos < pk[j].pos })
		ix := &Index{Name: "PRIMARY KEY", Unique: true, Primary: true}
		for _, p := range pk {
			ix.Columns = append(ix.Columns, p.name)
		}
		t.Indexes = append(t.Indexes, ix)
	}
	return rows.Err()
}

func sqliteIndexes(ctx context.Context, db *sql.DB, t *Table, quoted string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA index_list("+quoted+")")
	if err != nil {
		return err
	}
	var list []*Index
	for rows.Next() {
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return err
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return err
		}
		ix := &Index{}
		for i, c := range cols {
			switch c {
			case "name":
				ix.Name = stringOf(vals[i])
			case "unique":
				n, _ := toInt(vals[i])
				ix.Unique = n != 0
			case "origin":
				ix.Primary = stringOf(vals[i]) == "pk"
			}
		}
		list = append(list, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ix := range list {
		if ix.Primary {
			// Already reported from table_info with the declared column order.
			continue
		}
		q, err := SQLite.Quote(ix.Name)
		if err != nil {
			continue
		}
		r, err := db.QueryContext(ctx, "PRAGMA index_info("+q+")")
		if err != nil {
			return err
		}
		for r.Next() {
			var seq, cid int
			var name sql.NullString
			if err := r.Scan(&seq, &cid, &name); err != nil {
				r.Close()
				return err
			}
			ix.Columns = append(ix.Columns, name.String)
		}
		r.Close()
		t.Indexes = append(t.Indexes, ix)
	}
	return nil
}

// UniqueKeys returns the column lists of the table's primary key and unique
// indexes, primary first, shortest first after that.
func (t *Table) UniqueKeys() [][]string {
	var out [][]string
	ix := append([]*Index(nil), t.Indexes...)
	sort.SliceStable(ix, func(i, j int) bool {
		if ix[i].Primary != ix[j].Primary {
			return ix[i].Primary
		}
		return len(ix[i].Columns) < len(ix[j].Columns)
	})
	for _, i := range ix {
		if i.Unique {
			out = append(out, i.Columns)
		}
	}
	return out
}

// HasUniqueKey reports whether cols (in any order, ignoring case) are exactly
// the columns of a unique index or primary key.
func (t *Table) HasUniqueKey(cols []string) bool {
	for _, k := range t.UniqueKeys() {
		if len(k) != len(cols) {
			continue
		}
		match := true
		for _, c := range cols {
			found := false
			for _, kc := range k {
				if strings.EqualFold(c, kc) {
					found = true
				}
			}
			match = match && found
		}
		if match {
			return true
		}
	}
	return false
}
