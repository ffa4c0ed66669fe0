package app_test

import (
	"testing"
	"time"

	"github.com/feedsvc/feedsvc/app"
)

func TestParseLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want app.Limit
		str  string
	}{
		{"300/3h", app.Limit{Quota: 300, Window: 3 * time.Hour}, "300/3h"},
		{" 60 / 1m ", app.Limit{Quota: 60, Window: time.Minute}, "60/1m"},
		{"5/90s", app.Limit{Quota: 5, Window: 90 * time.Second}, "5/1m30s"},
		{"400/24h", app.Limit{Quota: 400, Window: 24 * time.Hour}, "400/24h"},
		{"off", app.Limit{}, "off"},
		{"0", app.Limit{}, "off"},
	} {
		got, err := app.ParseLimit(c.in)
		if err != nil || got != c.want || got.String() != c.str {
			t.Fatalf("ParseLimit(%q) = %+v (%q), %v; want %+v (%q)", c.in, got, got.String(), err, c.want, c.str)
		}
		if again, err := app.ParseLimit(got.String()); err != nil || again != got {
			t.Fatalf("%q does not read back: %+v %v", got.String(), again, err)
		}
	}
	for _, bad := range []string{"", "5", "5/", "/1m", "0/1m", "-3/1m", "5/0", "5/100ms", "x/1m", "5/1 fortnight"} {
		if _, err := app.ParseLimit(bad); err == nil {
			t.Fatalf("ParseLimit(%q) accepted", bad)
		}
	}
}
