package dialect

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// KindOf normalizes a native column type name of this dialect.
func (d *Dialect) KindOf(native string) Kind {
	t := strings.ToUpper(strings.TrimSpace(native))
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i]) + t[i:]
	}
	base := t
	if i := strings.IndexByte(base, '('); i >= 0 {
		base = strings.TrimSpace(base[:i])
	}
	switch d {
	case SQLServer:
		switch base {
		case "ROWVERSION", "TIMESTAMP":
			return KindRowversion
		case "DATETIME", "DATETIME2", "SMALLDATETIME":
			return KindTime
		case "DATETIMEOFFSET":
			return KindTimeTZ
		case "DATE":
			return KindDate
		case "BIT":
			return KindBool
		case "TINYINT", "SMALLINT", "INT", "BIGINT":
			return KindInt
		case "DECIMAL", "NUMERIC", "MONEY", "SMALLMONEY":
			return KindDecimal
		case "FLOAT", "REAL":
			return KindFloat
		case "BINARY", "VARBINARY", "IMAGE":
			return KindBinary
		}
		return KindString
	case Oracle:
		switch {
		case base == "DATE":
			// Oracle DATE carries a time of day; Maximo stores local times in it.
			return KindTime
		case strings.HasPrefix(t, "TIMESTAMP") && strings.Contains(t, "TIME ZONE"):
			return KindTimeTZ
		case strings.HasPrefix(t, "TIMESTAMP"):
			return KindTime
		case base == "NUMBER" || base == "INTEGER":
			// NUMBER(p) and NUMBER(p,0) are integers; NUMBER and NUMBER(p,s>0)
			// are decimals, kept exact as strings.
			if base == "INTEGER" {
				return KindInt
			}
			if m := strings.TrimPrefix(t, "NUMBER"); strings.HasPrefix(m, "(") {
				inner := strings.Trim(m, "()")
				parts := strings.Split(inner, ",")
				if len(parts) == 1 || strings.TrimSpace(parts[1]) == "0" {
					return KindInt
				}
			}
			return KindDecimal
		case base == "FLOAT" || base == "BINARY_FLOAT" || base == "BINARY_DOUBLE":
			return KindFloat
		case base == "RAW" || base == "BLOB" || base == "LONG RAW":
			return KindBinary
		}
		return KindString
	case Postgres:
		switch {
		case base == "TIMESTAMP WITH TIME ZONE" || base == "TIMESTAMPTZ":
			return KindTimeTZ
		case strings.HasPrefix(base, "TIMESTAMP"):
			return KindTime
		case base == "DATE":
			return KindDate
		case base == "BOOLEAN" || base == "BOOL":
			return KindBool
		case base == "SMALLINT" || base == "INTEGER" || base == "BIGINT" || base == "INT2" || base == "INT4" || base == "INT8" || base == "SERIAL" || base == "BIGSERIAL":
			return KindInt
		case base == "NUMERIC" || base == "DECIMAL" || base == "MONEY":
			return KindDecimal
		case base == "REAL" || base == "DOUBLE PRECISION" || base == "FLOAT4" || base == "FLOAT8":
			return KindFloat
		case base == "BYTEA":
			return KindBinary
		}
		return KindString
	}
	// SQLite: declared type affinity rules, plus the date names that
	// go-sqlite3 parses into time.Time.
	switch {
	case base == "DATETIME" || base == "TIMESTAMP":
		return KindTime
	case base == "DATE":
		return KindDate
	case base == "BOOLEAN" || base == "BOOL":
		return KindBool
	case strings.Contains(base, "INT"):
		return KindInt
	case strings.Contains(base, "CHAR") || strings.Contains(base, "CLOB") || strings.Contains(base, "TEXT"):
		return KindString
	case strings.Contains(base, "BLOB"):
		return KindBinary
	case strings.Contains(base, "REAL") || strings.Contains(base, "FLOA") || strings.Contains(base, "DOUB"):
		return KindFloat
	case base == "DECIMAL" || base == "NUMERIC":
		return KindDecimal
	}
	return KindString
}

// Padded reports whether a native column type of this dialect is a
// fixed-width character type, whose values are padded with blanks to the
// column's width: CHAR(n) and NCHAR(n) (PostgreSQL reports "character",
// SQL Server and Oracle "char" and "nchar"). SAP keeps every character field
// at a fixed width, so a copy of its tables in such columns returns 'PM01'
// for a CHAR(10) as 'PM01      ' and an empty field as blanks. Trailing
// blanks carry no meaning in these types: every database compares them
// blank-padded. Varying types (VARCHAR, CHARACTER VARYING, NVARCHAR) are not
// padded.
func (d *Dialect) Padded(native string) bool {
	t := strings.ToUpper(strings.TrimSpace(native))
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	switch t {
	case "CHAR", "NCHAR":
		return true
	case "CHARACTER", "BPCHAR", "NATIONAL CHARACTER", "NATIONAL CHAR", "NATIVE CHARACTER":
		return d != SQLServer && d != Oracle
	}
	return false
}

// TrimPadding removes the blanks a fixed-width character column pads its
// values with; other values are returned as they are.
func TrimPadding(v any) any {
	s, ok := v.(string)
	if !ok || len(s) == 0 || s[len(s)-1] != ' ' {
		return v
	}
	return strings.TrimRight(s, " ")
}

// Value converts a value scanned from the driver into the engine's Go type
// for a column of the given kind: string, int64, uint64 (rowversion), a
// decimal string, float64, bool, time.Time in UTC, []byte, or nil.
//
// Times without a zone are wall-clock times of loc; see LocalToUTC for the
// hours that do not exist or exist twice.
func Value(k Kind, v any, loc *time.Location) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case KindString:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case time.Time:
			return x.UTC(), nil
		}
		return stringOf(v), nil
	case KindInt:
		return toInt(v)
	case KindDecimal:
		return toDecimal(v)
	case KindFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		}
		f, err := strconv.ParseFloat(stringOf(v), 64)
		if err != nil {
			return nil, fmt.Errorf("convert %T to float: %w", v, err)
		}
		return f, nil
	case KindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		}
		n, err := toInt(v)
		if err != nil {
			return nil, err
		}
		return n != 0, nil
	case KindTime, KindDate:
		t, err := toTime(v)
		if err != nil {
			return nil, err
		}
		return LocalToUTC(t, loc), nil
	case KindTimeTZ:
		t, err := toTime(v)
		if err != nil {
			return nil, err
		}
		return t.UTC(), nil
	case KindDats:
		return datsValue(v, loc)
	case KindRowversion:
		switch x := v.(type) {
		case []byte:
			if len(x) != 8 {
				return nil, fmt.Errorf("rowversion of %d bytes", len(x))
			}
			return binary.BigEndian.Uint64(x), nil
		}
		n, err := toInt(v)
		if err != nil {
			return nil, err
		}
		return uint64(n), nil
	case KindBinary:
		if b, ok := v.([]byte); ok {
			return append([]byte(nil), b...), nil
		}
		return v, nil
	}
	return v, nil
}

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.String {
		// godror.Number and similar named string types.
		return rv.String()
	}
	return fmt.Sprint(v)
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("convert %v to integer: has a fraction", x)
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	s := strings.TrimSpace(stringOf(v))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Oracle NUMBER without scale may arrive as "12.0" or "1E+3".
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) {
			return 0, fmt.Errorf("convert %q to integer: %w", s, err)
		}
		return int64(f), nil
	}
	return n, nil
}

func toDecimal(v any) (string, error) {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	s := strings.TrimSpace(stringOf(v))
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "", fmt.Errorf("convert %q to decimal: %w", s, err)
	}
	return s, nil
}

// timeLayouts are the text forms SQLite databases commonly hold dates in.
var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

func toTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string, []byte:
		s := strings.TrimSpace(stringOf(x))
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("parse time %q", s)
	}
	return time.Time{}, fmt.Errorf("convert %T to time", v)
}

// LocalToUTC interprets the wall clock of t (ignoring t's location) as a
// local time in loc and returns the instant in UTC.
//
// Local times without a zone are ambiguous twice a year. At the fall-back
// change the hour 01:00–02:00 (in most zones) happens twice; this function
// always picks the first occurrence, the one still on daylight-saving time,
// so the same stored value always maps to the same instant. A wall time in
// the spring-forward gap does not exist; it is read with the offset in force
// before the gap, which lands it after the gap by the gap's length (02:30 in
// New York becomes 03:30 EDT), the same as the source's clock would show.
func LocalToUTC(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	naive := time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
	if loc == time.UTC {
		return naive
	}
	var best time.Time
	found := false
	seen := [3]int{}
	for i, probe := range []time.Duration{-36 * time.Hour, 0, 36 * time.Hour} {
		_, off := naive.Add(probe).In(loc).Zone()
		seen[i] = off
		u := naive.Add(-time.Duration(off) * time.Second)
		if wallEqual(u.In(loc), naive) && (!found || u.Before(best)) {
			best, found = u, true
		}
	}
	if found {
		return best.UTC()
	}
	// In a gap: use the offset before the change.
	return naive.Add(-time.Duration(seen[0]) * time.Second).UTC()
}

func wallEqual(a, naive time.Time) bool {
	y, mo, d := a.Date()
	h, mi, s := a.Clock()
	return time.Date(y, mo, d, h, mi, s, a.Nanosecond(), time.UTC).Equal(naive)
}

// UTCToLocal is the inverse of LocalToUTC: the wall clock in loc, returned
// as a time in UTC carrying those wall-clock digits, the form drivers bind
// for columns without a zone.
func UTCToLocal(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	y, mo, d := l.Date()
	h, mi, s := l.Clock()
	return time.Date(y, mo, d, h, mi, s, l.Nanosecond(), time.UTC)
}

// Bind converts an engine value into the form to bind for a column of kind
// k in this dialect. Times of kind KindTime/KindDate are given as wall-clock
// times (see UTCToLocal).
func (d *Dialect) Bind(k Kind, v any) any {
	switch x := v.(type) {
	case uint64:
		if k == KindRowversion && d == SQLServer {
			b := make([]byte, 8)
			binary.BigEndian.PutUint64(b, x)
			return b
		}
		return int64(x)
	case time.Time:
		if k == KindDats {
			return x.Format(DatsLayout)
		}
		switch k {
		case KindTime, KindDate:
			switch d {
			case SQLite:
				// Text comparison against values stored by SQLite's own
				// datetime(): "YYYY-MM-DD HH:MM:SS".
				if k == KindDate {
					return x.Format("2006-01-02")
				}
				if x.Nanosecond() == 0 {
					return x.Format("2006-01-02 15:04:05")
				}
				return x.Format("2006-01-02 15:04:05.999999999")
			case SQLServer:
				return sqlServerLocal(x)
			}
		}
		return x
	case bool:
		if d == Oracle || d == SQLServer || k == KindInt {
			// Maximo Yes/No columns are numbers holding 0/1.
			if x {
				return int64(1)
			}
			return int64(0)
		}
	}
	return v
}

// NaiveTime returns the wall clock of a driver time value (time.Time or
// text) as a time in UTC carrying those digits: the form in which positions
// in a time column are stored and bound, so that a watermark never passes
// through a time-zone conversion and back.
func NaiveTime(v any) (time.Time, error) {
	t, err := toTime(v)
	if err != nil {
		return time.Time{}, err
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC), nil
}
