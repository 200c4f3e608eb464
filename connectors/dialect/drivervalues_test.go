package dialect

import (
	"reflect"
	"testing"
	"time"
)

// oracleNumber stands in for godror.Number, a named string type, which cannot be
// imported here without cgo.
type oracleNumber string

// TestValueDriverShapes converts values in the shapes the SQL Server (go-mssqldb) and
// Oracle (godror) drivers return them, since no such server can run in these tests.
func TestValueDriverShapes(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Both drivers return zone-less DATETIME/DATE columns as time.Time in UTC whose wall
	// clock is the source's local time.
	wall := time.Date(2024, 7, 1, 14, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		kind Kind
		in   any
		want any
	}{
		{"sqlserver rowversion", KindRowversion, []byte{0, 0, 0, 0, 0, 0, 0x12, 0x34}, uint64(0x1234)},
		{"sqlserver rowversion high bit", KindRowversion, []byte{0x80, 0, 0, 0, 0, 0, 0, 1}, uint64(0x8000000000000001)},
		{"sqlserver decimal", KindDecimal, []byte("1234.5000"), "1234.5000"},
		{"sqlserver datetime is local", KindTime, wall, time.Date(2024, 7, 1, 12, 30, 0, 0, time.UTC)},
		{"sqlserver bit", KindBool, true, true},
		{"sqlserver int as bool (Maximo YORN)", KindBool, int64(0), false},
		{"oracle number as int", KindInt, oracleNumber("42"), int64(42)},
		{"oracle number with zero scale", KindInt, oracleNumber("12.0"), int64(12)},
		{"oracle number exponent", KindInt, oracleNumber("1E+3"), int64(1000)},
		{"oracle number as decimal", KindDecimal, oracleNumber("0.125"), "0.125"},
		{"oracle float as int", KindInt, float64(7), int64(7)},
		{"oracle date is local", KindTime, wall, time.Date(2024, 7, 1, 12, 30, 0, 0, time.UTC)},
		{"oracle rowstamp number", KindRowversion, oracleNumber("9007199254740993"), uint64(9007199254740993)},
		{"null", KindTime, nil, nil},
	} {
		got, err := Value(tc.kind, tc.in, berlin)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Value(%s, %#v) = %#v, %v; want %#v", tc.name, tc.kind, tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		kind Kind
		in   any
	}{
		{"short rowversion", KindRowversion, []byte{1, 2, 3}},
		{"fraction as int", KindInt, oracleNumber("1.5")},
		{"text as int", KindInt, "abc"},
	} {
		if got, err := Value(tc.kind, tc.in, berlin); err == nil {
			t.Errorf("%s: Value(%s, %#v) = %#v, want an error", tc.name, tc.kind, tc.in, got)
		}
	}
}
