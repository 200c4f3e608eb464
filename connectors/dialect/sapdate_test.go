package dialect

import (
	"errors"
	"testing"
	"time"
)

func TestDatsValue(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in      any
		want    any
		invalid bool
	}{
		{"20240229", time.Date(2024, 2, 28, 23, 0, 0, 0, time.UTC), false},
		{[]byte("20240701"), time.Date(2024, 6, 30, 22, 0, 0, 0, time.UTC), false},
		{"20241027", time.Date(2024, 10, 26, 22, 0, 0, 0, time.UTC), false}, // the day of the fall-back change
		{"99991231", time.Date(9999, 12, 30, 23, 0, 0, 0, time.UTC), false},
		{"00000000", nil, false},
		{"", nil, false},
		{"        ", nil, false},
		{nil, nil, false},
		{"20230229", nil, true},
		{"20241341", nil, true},
		{"20240100", nil, true},
		{"2024ABCD", nil, true},
		{"2024-02-29", nil, true},
		{"99999999", nil, true},
		{time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 0, 0, 0, time.UTC), false},
	} {
		got, err := Value(KindDats, tc.in, berlin)
		if tc.invalid != errors.Is(err, ErrInvalidDate) || err != nil && !tc.invalid {
			t.Errorf("%q: error %v", tc.in, err)
			continue
		}
		if got != tc.want && !(got != nil && tc.want != nil && got.(time.Time).Equal(tc.want.(time.Time))) {
			t.Errorf("%q = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseTims(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		ok, bad bool
	}{
		{"000000", 0, true, false},
		{"081530", 8*time.Hour + 15*time.Minute + 30*time.Second, true, false},
		{"23:59:59", 24*time.Hour - time.Second, true, false},
		{"240000", 24 * time.Hour, true, false},
		{"", 0, false, false},
		{"      ", 0, false, false},
		{"240001", 0, false, true},
		{"126000", 0, false, true},
		{"8:15", 0, false, true},
		{"08h15m", 0, false, true},
	} {
		got, ok, err := ParseTims(tc.in)
		if got != tc.want || ok != tc.ok || errors.Is(err, ErrInvalidDate) != tc.bad {
			t.Errorf("%q = %v %v %v", tc.in, got, ok, err)
		}
	}
}

// TestDatsBind checks that DATS columns compare against DATS text in every
// dialect, so watermark and history bounds hit the column's index.
func TestDatsBind(t *testing.T) {
	wall := time.Date(2025, 6, 17, 13, 45, 0, 0, time.UTC)
	for _, d := range All {
		if got := d.Bind(KindDats, wall); got != "20250617" {
			t.Errorf("%s: time binds as %#v", d, got)
		}
		if got := d.Bind(KindDats, "20250617"); got != "20250617" {
			t.Errorf("%s: text binds as %#v", d, got)
		}
	}
}

func TestBuildAnyFilter(t *testing.T) {
	q := Select{Table: "AUFK", Alias: "t", Columns: []Col{{Alias: "t", Name: "AUFNR"}},
		Filters: []Filter{{Col: Col{Alias: "t", Name: "MANDT"}, Op: OpIn, Values: []any{"100"}},
			{Op: OpAny, Any: []Filter{
				{Col: Col{Alias: "t", Name: "AEDAT"}, Op: OpGE, Values: []any{"20250617"}},
				{Col: Col{Alias: "t", Name: "ERDAT"}, Op: OpGE, Values: []any{"20250617"}},
			}},
			{Op: OpAny},
		}}
	for _, tc := range []struct {
		d    *Dialect
		want string
	}{
		{SQLite, `SELECT t."AUFNR" FROM "AUFK" t WHERE t."MANDT" IN (?) AND (t."AEDAT" >= ? OR t."ERDAT" >= ?) AND 1 = 0`},
		{SQLServer, `SELECT t.[AUFNR] FROM [AUFK] t WHERE t.[MANDT] IN (@p1) AND (t.[AEDAT] >= @p2 OR t.[ERDAT] >= @p3) AND 1 = 0`},
	} {
		got, args, err := tc.d.BuildSelect(q)
		if err != nil || got != tc.want || len(args) != 3 {
			t.Errorf("%s:\n%s\n%v %v", tc.d, got, args, err)
		}
	}
}
