package dialect

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// KindDats is a date kept as text in SAP's DATS form, 'YYYYMMDD', with
// '00000000' (and blanks) for no date. SAP stores every date this way, in a
// character column, so discovery reports such columns as strings; a mapping
// says which of them are dates (profiles' date_format: dats).
//
// Converted values are the local midnight of the date in UTC, like
// KindDate. Positions and bound values stay 'YYYYMMDD' text: that is what
// the column compares against, and '00000000' sorts before every date.
const KindDats Kind = "dats"

// DatsLayout is the Go layout of a DATS value.
const DatsLayout = "20060102"

// ErrInvalidDate is returned (wrapped) by Value for text that a date column
// should hold but that is no date, such as a DATS value '20241341'. Readers
// treat such a value as null and log it rather than failing the whole read.
var ErrInvalidDate = errors.New("invalid date")

// datsValue converts a DATS value to the instant of its local midnight.
func datsValue(v any, loc *time.Location) (any, error) {
	if t, ok := v.(time.Time); ok {
		// A real DATE column declared as DATS in a migrated copy.
		return LocalToUTC(t, loc), nil
	}
	d, ok, err := ParseDats(stringOf(v))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return LocalToUTC(d, loc), nil
}

// ParseDats parses a DATS value into a wall-clock date (midnight, UTC
// carrier). ok is false for the initial value '00000000' and for blanks,
// which both mean "no date"; anything else that is not a real date is an
// error wrapping ErrInvalidDate.
func ParseDats(s string) (d time.Time, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "00000000" {
		return time.Time{}, false, nil
	}
	if len(s) != 8 || !allDigits(s) {
		return time.Time{}, false, fmt.Errorf("%w: DATS %q is not YYYYMMDD", ErrInvalidDate, s)
	}
	d, err = time.Parse(DatsLayout, s)
	if err != nil {
		// Day 32, month 13, February 30: time.Parse rejects them all.
		return time.Time{}, false, fmt.Errorf("%w: DATS %q is no calendar date", ErrInvalidDate, s)
	}
	return d, true, nil
}

// ParseTims parses an SAP TIMS time of day, 'HHMMSS' (also accepted as
// 'HH:MM:SS'), into its offset from midnight. ok is false for blanks; a value
// out of range is an error wrapping ErrInvalidDate. '240000', which some SAP
// programs write for the end of a day, is accepted as 24 hours.
func ParseTims(s string) (tod time.Duration, ok bool, err error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if s == "" {
		return 0, false, nil
	}
	if len(s) != 6 || !allDigits(s) {
		return 0, false, fmt.Errorf("%w: TIMS %q is not HHMMSS", ErrInvalidDate, s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[2]-'0')*10 + int(s[3]-'0')
	sec := int(s[4]-'0')*10 + int(s[5]-'0')
	if m > 59 || sec > 59 || h > 24 || h == 24 && (m > 0 || sec > 0) {
		return 0, false, fmt.Errorf("%w: TIMS %q is no time of day", ErrInvalidDate, s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, true, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
