package dialect

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestConverterMatchesValue checks the fast paths against Value over local
// times of zones with the usual, unusual (30-minute, southern) and no
// daylight-saving changes, visited in order and at random, around every
// change and far from them.
func TestConverterMatchesValue(t *testing.T) {
	zones := []string{"UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Australia/Sydney",
		"Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham", "Africa/Casablanca", "Europe/Dublin"}
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range zones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		c := NewConverter(loc)
		var walls []time.Time
		// Every half hour across a year: every change, each side.
		for w := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); w.Year() < 2025; w = w.Add(30 * time.Minute) {
			walls = append(walls, w)
		}
		for range 5000 {
			walls = append(walls, time.Date(1900+r.IntN(250), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), time.UTC))
		}
		for _, w := range walls {
			for _, v := range []any{w, w.Format("2006-01-02 15:04:05.999999999"), w.Format("2006-01-02")} {
				for _, k := range []Kind{KindTime} {
					want, werr := Value(k, v, loc)
					got, gerr := c.Value(k, v)
					if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) {
						t.Fatalf("%s: %s %#v: got %v (%v), want %v (%v)", name, k, v, got, gerr, want, werr)
					}
				}
			}
		}
	}
}

func TestConverterText(t *testing.T) {
	c := NewConverter(time.UTC)
	for _, s := range []string{"2024-02-29 10:11:12", " 2024-02-29 10:11 ", "2024-02-29T10:11:12.5", "2024-02-29",
		"2023-02-29 10:11:12", "2024-13-01", "2024-01-01 24:00:00", "2024-01-01 23:59:60", "2024-01-01 8:00:00",
		"2024-01-01 08:00:00,5", "2024-01-01 08:00:00.", "2024-01-01 08:00:00.1234567890", "2024-01-01 08:00:00Z",
		"2024-01-01T08:00:00+02:00", "20240101", "", "tomorrow"} {
		for _, k := range []Kind{KindTime, KindDate, KindString, KindInt, KindDecimal} {
			want, werr := Value(k, s, time.UTC)
			got, gerr := c.Value(k, s)
			if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) {
				t.Errorf("%s %q: got %#v (%v), want %#v (%v)", k, s, got, gerr, want, werr)
			}
		}
	}
	for _, v := range []any{nil, int64(7), float64(1.5), true, []byte("x"), "x", int64(-1)} {
		for _, k := range []Kind{KindString, KindInt, KindFloat, KindBool, KindDecimal, KindBinary} {
			want, werr := Value(k, v, time.UTC)
			got, gerr := c.Value(k, v)
			if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) {
				t.Errorf("%s %#v: got %#v (%v), want %#v (%v)", k, v, got, gerr, want, werr)
			}
		}
	}
}

func BenchmarkConverterTime(b *testing.B) {
	loc, _ := time.LoadLocation("America/New_York")
	c := NewConverter(loc)
	for b.Loop() {
		if _, err := c.Value(KindTime, "2024-03-01 08:00:00"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValueTime(b *testing.B) {
	loc, _ := time.LoadLocation("America/New_York")
	for b.Loop() {
		if _, err := Value(KindTime, "2024-03-01 08:00:00", loc); err != nil {
			b.Fatal(err)
		}
	}
}
