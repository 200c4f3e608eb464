// Package dialect holds what differs between the SQL databases that
// maintenance systems run on — SQLite, PostgreSQL, SQL Server and Oracle:
// identifier quoting, placeholders, keyset paging, conversion of driver
// values into the unified model's Go values, schema discovery and opening a
// database/sql handle with the right driver.
//
// Every identifier that reaches SQL goes through Quote; every value is a
// bound parameter. The query builders in this package take identifiers that
// the caller has already checked against the discovered schema and quote them
// once more, so a name that slipped past the check still cannot change the
// statement's structure.
package dialect

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Dialect describes one SQL dialect. The four values are SQLite, Postgres,
// SQLServer and Oracle; use ByName to look one up from configuration.
type Dialect struct {
	name string
	// driver is the database/sql driver name registered by the driver package.
	driver string
	// rowValues says whether (a, b) > (x, y) row-value comparison is supported.
	rowValues bool
}

// The supported dialects.
var (
	SQLite    = &Dialect{name: "sqlite", driver: "sqlite3", rowValues: true}
	Postgres  = &Dialect{name: "postgres", driver: "pgx", rowValues: true}
	SQLServer = &Dialect{name: "sqlserver", driver: "sqlserver"}
	Oracle    = &Dialect{name: "oracle", driver: "godror"}
)

// All lists the supported dialects.
var All = []*Dialect{SQLite, Postgres, SQLServer, Oracle}

// ByName returns the dialect for a configured driver name. It accepts the
// dialect names and the common aliases "sqlite3", "pgx", "postgresql",
// "mssql" and "godror".
func ByName(name string) (*Dialect, error) {
	switch strings.ToLower(name) {
	case "sqlite", "sqlite3":
		return SQLite, nil
	case "postgres", "postgresql", "pgx":
		return Postgres, nil
	case "sqlserver", "mssql":
		return SQLServer, nil
	case "oracle", "godror":
		return Oracle, nil
	}
	return nil, fmt.Errorf("unknown driver %q (want sqlite, postgres, sqlserver or oracle)", name)
}

// Name returns the dialect's name: sqlite, postgres, sqlserver or oracle.
func (d *Dialect) Name() string { return d.name }

// String returns the dialect's name.
func (d *Dialect) String() string { return d.name }

// ErrBadIdentifier is returned by Quote for identifiers that no database can
// hold safely.
var ErrBadIdentifier = errors.New("bad identifier")

// Quote returns ident as a quoted identifier: double quotes, or brackets on
// SQL Server, with embedded quote characters doubled. Empty identifiers,
// identifiers containing NUL or other control characters, and identifiers
// longer than 128 bytes are rejected.
func (d *Dialect) Quote(ident string) (string, error) {
	if ident == "" || len(ident) > 128 {
		return "", fmt.Errorf("%w: %q", ErrBadIdentifier, ident)
	}
	for _, r := range ident {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: %q contains a control character", ErrBadIdentifier, ident)
		}
	}
	if d == SQLServer {
		return "[" + strings.ReplaceAll(ident, "]", "]]") + "]", nil
	}
	return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"`, nil
}

// Placeholder returns the n-th (1-based) bind placeholder.
func (d *Dialect) Placeholder(n int) string {
	switch d {
	case Postgres:
		return "$" + strconv.Itoa(n)
	case SQLServer:
		return "@p" + strconv.Itoa(n)
	case Oracle:
		return ":" + strconv.Itoa(n)
	}
	return "?"
}

// DriverName returns the database/sql driver name.
func (d *Dialect) DriverName() string { return d.driver }

// Kind is the normalized type of a source column; it decides how values are
// converted and compared.
type Kind string

// Column kinds.
const (
	KindString     Kind = "string"
	KindInt        Kind = "int"
	KindDecimal    Kind = "decimal"
	KindFloat      Kind = "float"
	KindBool       Kind = "bool"
	KindTime       Kind = "time"   // date and time without a zone: local time of the connection
	KindTimeTZ     Kind = "timetz" // an instant
	KindDate       Kind = "date"   // date only, local
	KindBinary     Kind = "binary"
	KindRowversion Kind = "rowversion" // SQL Server rowversion/timestamp: 8 bytes, big-endian counter
)

// Schema is what discovery found in the connection's schema.
type Schema struct {
	// Dialect is the dialect name.
	Dialect string `json:"dialect"`
	// SchemaName is the database schema or owner that was read, if any.
	SchemaName string `json:"schema,omitempty"`
	// Tables lists tables and views in name order.
	Tables []*Table `json:"tables"`

	byName map[string]*Table
	byFold map[string]*Table
}

// Table is one discovered table or view.
type Table struct {
	Name    string    `json:"name"`
	View    bool      `json:"view,omitempty"`
	Columns []*Column `json:"columns"`
	Indexes []*Index  `json:"indexes,omitempty"`

	byName map[string]*Column
	byFold map[string]*Column
}

// Column is one discovered column.
type Column struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Kind     Kind   `json:"kind"`
	Nullable bool   `json:"nullable"`
	// Padded marks a fixed-width character column (CHAR(n)): its values
	// come back padded with blanks to the width, and an empty one is all
	// blanks. Readers trim the padding; see Dialect.Padded.
	Padded bool `json:"padded,omitempty"`
}

// Index is one discovered index. Maximo declares unique indexes instead of
// primary keys, so both count as keys.
type Index struct {
	Name    string   `json:"name"`
	Unique  bool     `json:"unique"`
	Primary bool     `json:"primary,omitempty"`
	Columns []string `json:"columns"`
}

// Index builds the lookup maps; discovery calls it, and so must code that
// assembles a Schema by hand.
func (s *Schema) Index() {
	s.byName = make(map[string]*Table, len(s.Tables))
	s.byFold = make(map[string]*Table, len(s.Tables))
	for _, t := range s.Tables {
		s.byName[t.Name] = t
		if _, dup := s.byFold[strings.ToUpper(t.Name)]; !dup {
			s.byFold[strings.ToUpper(t.Name)] = t
		}
		t.byName = make(map[string]*Column, len(t.Columns))
		t.byFold = make(map[string]*Column, len(t.Columns))
		for _, c := range t.Columns {
			t.byName[c.Name] = c
			if _, dup := t.byFold[strings.ToUpper(c.Name)]; !dup {
				t.byFold[strings.ToUpper(c.Name)] = c
			}
		}
	}
}

// Table finds a table by name: exactly, or else ignoring case, because
// profiles use Maximo's upper-case names while a PostgreSQL copy may fold
// them to lower case.
func (s *Schema) Table(name string) *Table {
	if s == nil {
		return nil
	}
	if t, ok := s.byName[name]; ok {
		return t
	}
	return s.byFold[strings.ToUpper(name)]
}

// Column finds a column by name, exactly or else ignoring case.
func (t *Table) Column(name string) *Column {
	if t == nil {
		return nil
	}
	if c, ok := t.byName[name]; ok {
		return c
	}
	return t.byFold[strings.ToUpper(name)]
}
