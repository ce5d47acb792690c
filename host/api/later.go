package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// atLayouts are the forms of start --at besides a clock time: RFC 3339
// (with its zone), or a date and time in local time.
var atLayouts = []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"}

// ParseAt reads start --at relative to now, in now's location: "15:04" or
// "15:04:05" is the next such time (today, or tomorrow if it has passed);
// "2006-01-02 15:04[:05]" a date's time; RFC 3339 an instant. A date and
// time already past is refused: it is more likely a slip than a wish to
// start at once.
func ParseAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"15:04", "15:04:05"} {
		c, err := time.ParseInLocation(layout, s, now.Location())
		if err != nil {
			continue
		}
		y, m, d := now.Date()
		at := time.Date(y, m, d, c.Hour(), c.Minute(), c.Second(), 0, now.Location())
		if !at.After(now) {
			at = time.Date(y, m, d+1, c.Hour(), c.Minute(), c.Second(), 0, now.Location())
		}
		return at, nil
	}
	for _, layout := range atLayouts {
		at, err := time.ParseInLocation(layout, s, now.Location())
		if err != nil {
			continue
		}
		if at.Before(now) {
			return time.Time{}, fmt.Errorf("--at %s is past (it is %s now)", s, now.Format("2006-01-02 15:04:05"))
		}
		return at, nil
	}
	return time.Time{}, fmt.Errorf("--at %q: give a time as 15:04 (the next one), 2006-01-02 15:04 (local time) or 2006-01-02T15:04:05+01:00 (RFC 3339)", s)
}

// ParseDuration reads a duration as every flag of bgjob takes one: Go's
// (90s, 2h30m, 1.5h) or days (7d, 1.5d), which Go's has not. It refuses
// a negative one.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err == nil && n >= 0 && n < 1e5 {
			return time.Duration(n * 24 * float64(time.Hour)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not a duration: give one such as 90s, 2h30m or 7d", s)
}
