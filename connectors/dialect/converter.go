package dialect

import (
	"math"
	"strings"
	"time"
)

// Converter is Value for the rows of one read. It gives the same results as
// Value, faster for the cases that dominate a large read: values already of
// the engine's type are passed through without being boxed again, text
// dates in the common "YYYY-MM-DD HH:MM:SS" forms are parsed without trying
// layouts one by one, and the time-zone offset of the last local time is
// reused while the following ones fall in the same zone period.
//
// A Converter is not safe for concurrent use; each read makes its own.
type Converter struct {
	loc *time.Location
	// zone is the last zone period seen: local wall-clock seconds (the wall
	// digits read as UTC) in [lo, hi) are the instants wall - off.
	lo, hi, off int64
	known       bool
	// last is the last text time converted and its result: a row's dates
	// often repeat (a Maximo work order's REPORTDATE, STATUSDATE and
	// CHANGEDATE are one instant until it changes), and reusing the boxed
	// result saves the parse and the allocation.
	lastText string
	lastKind Kind
	lastTime any
}

// NewConverter returns a Converter for local times of loc (nil means UTC).
func NewConverter(loc *time.Location) *Converter {
	if loc == nil {
		loc = time.UTC
	}
	return &Converter{loc: loc}
}

// Value converts a driver value like the package-level Value.
func (c *Converter) Value(k Kind, v any) (any, error) {
	switch k {
	case KindString:
		if _, ok := v.(string); ok {
			return v, nil
		}
	case KindInt:
		if _, ok := v.(int64); ok {
			return v, nil
		}
	case KindFloat:
		if _, ok := v.(float64); ok {
			return v, nil
		}
	case KindBool:
		if _, ok := v.(bool); ok {
			return v, nil
		}
	case KindTime, KindDate:
		if s, ok := v.(string); ok && c.lastTime != nil && k == c.lastKind && s == c.lastText {
			return c.lastTime, nil
		}
		if t, ok := quickTime(v); ok {
			var out any = c.LocalToUTC(t)
			if s, ok := v.(string); ok {
				c.lastText, c.lastKind, c.lastTime = s, k, out
			}
			return out, nil
		}
	}
	return Value(k, v, c.loc)
}

// LocalToUTC is the package-level LocalToUTC for c's location.
func (c *Converter) LocalToUTC(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	ns := t.Nanosecond()
	if c.loc == time.UTC {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	w := time.Date(y, mo, d, h, mi, s, 0, time.UTC).Unix()
	if c.known && w >= c.lo && w < c.hi {
		return time.Unix(w-c.off, int64(ns)).UTC()
	}
	u := LocalToUTC(t, c.loc)
	c.remember(u, w)
	return u
}

// remember records the zone period of u, the conversion of the wall time w,
// as the range of wall times that convert with the same offset. At the
// start of a period that follows a larger offset (the fall-back change) the
// wall times also exist in the period before, whose occurrence comes first
// and wins, so the range starts after them.
func (c *Converter) remember(u time.Time, w int64) {
	l := u.In(c.loc)
	_, off := l.Zone()
	if u.Unix()+int64(off) != w {
		// w fell in a spring-forward gap; it has no period of its own.
		c.known = false
		return
	}
	start, end := l.ZoneBounds()
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !start.IsZero() {
		_, prev := start.Add(-time.Second).In(c.loc).Zone()
		lo = start.Unix() + int64(max(off, prev))
	}
	if !end.IsZero() {
		hi = end.Unix() + int64(off)
	}
	if w < lo || w >= hi {
		c.known = false
		return
	}
	c.lo, c.hi, c.off, c.known = lo, hi, int64(off), true
}

// quickTime returns a driver value that is a time, or text in one of the
// forms SQLite databases usually hold ("2006-01-02 15:04:05", with a T, with
// a fraction, or a date alone), as wall-clock digits. Anything else, such as
// text with a zone, is left to Value.
func quickTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		return parseWall(x)
	}
	return time.Time{}, false
}

// parseWall parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM", "YYYY-MM-DD HH:MM:SS"
// and the same with "T" and a fraction of up to nine digits, exactly as
// time.Parse does with Value's layouts, and reports false for any other
// text so that the caller falls back to them.
func parseWall(s string) (time.Time, bool) {
	if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ') {
		s = strings.TrimSpace(s)
	}
	if len(s) != 10 && len(s) != 16 && len(s) < 19 {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, ch := range []byte(s[i : i+n]) {
			if ch < '0' || ch > '9' {
				return 0, false
			}
			v = v*10 + int(ch-'0')
		}
		return v, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' || mo < 1 || mo > 12 || d < 1 || d > daysIn(time.Month(mo), y) {
		return time.Time{}, false
	}
	var h, mi, sec, ns int
	if len(s) > 10 {
		var ok4, ok5 bool
		h, ok4 = num(11, 2)
		mi, ok5 = num(14, 2)
		if !ok4 || !ok5 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || h > 23 || mi > 59 {
			return time.Time{}, false
		}
	}
	if len(s) >= 19 {
		var ok6 bool
		sec, ok6 = num(17, 2)
		if !ok6 || s[16] != ':' || sec > 59 {
			return time.Time{}, false
		}
		if len(s) > 19 {
			frac := s[20:]
			if s[19] != '.' || len(frac) == 0 || len(frac) > 9 {
				return time.Time{}, false
			}
			f, ok := num(20, len(frac))
			if !ok {
				return time.Time{}, false
			}
			for range 9 - len(frac) {
				f *= 10
			}
			ns = f
		}
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	if m == time.February && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return int(monthDays[m-1])
}

var monthDays = [12]uint8{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
