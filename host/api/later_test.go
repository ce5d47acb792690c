package api

import (
	"strings"
	"testing"
	"time"
)

func TestParseAt(t *testing.T) {
	zone := time.FixedZone("X", 3600)
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, zone)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "15:04", want: time.Date(2026, 3, 10, 15, 4, 0, 0, zone)},
		{in: "09:00", want: time.Date(2026, 3, 11, 9, 0, 0, 0, zone)},   // passed today: tomorrow
		{in: "14:30", want: time.Date(2026, 3, 11, 14, 30, 0, 0, zone)}, // now: tomorrow
		{in: "23:59:30", want: time.Date(2026, 3, 10, 23, 59, 30, 0, zone)},
		{in: "2026-03-12 08:15", want: time.Date(2026, 3, 12, 8, 15, 0, 0, zone)},
		{in: " 2026-03-12 08:15:09 ", want: time.Date(2026, 3, 12, 8, 15, 9, 0, zone)},
		{in: "2026-03-12T08:15", want: time.Date(2026, 3, 12, 8, 15, 0, 0, zone)},
		{in: "2026-03-10T20:00:00Z", want: time.Date(2026, 3, 10, 20, 0, 0, 0, time.UTC)},
		{in: "2026-03-10 14:00", err: "is past"},
		{in: "2020-01-01T00:00:00Z", err: "is past"},
		{in: "tomorrow", err: "give a time as 15:04"},
		{in: "25:00", err: "give a time as 15:04"},
	}
	for _, tt := range tests {
		got, err := ParseAt(tt.in, now)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseAt(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
		case err != nil || !got.Equal(tt.want):
			t.Errorf("ParseAt(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
