package setting

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type inner struct{ Name string }

type outer struct {
	Count int
	Wait  time.Duration
	Hosts []string
	On    bool
	In    inner
	TLS   TLS
}

func (o *outer) RegisterFlags(f Flags) {
	f = f.In(GroupKafka)
	f.Int(&o.Count, "Count", "count", 3, "how many")
	f.In(GroupMigrate).Duration(&o.Wait, "Wait", "wait", time.Second, "how long")
	f.StringSlice(&o.Hosts, "Hosts", "hosts", nil, "where")
	f.Bool(&o.On, "On", "on", true, "whether")
	f.Sub("In").String(&o.In.Name, "Name", "name", "n", "what")
	o.TLS.RegisterFlags(f.Sub("TLS"), "x", "X")
}

// TestFlags: paths are relative to the struct registered, Sub nests them,
// In gives the group, and the fields take their defaults.
func TestFlags(t *testing.T) {
	var o outer
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	reg := NewRegistry()
	o.RegisterFlags(NewFlags(fs, reg).Sub("Outer"))
	want := map[string]string{
		"Outer.Count": "count", "Outer.Wait": "wait", "Outer.Hosts": "hosts", "Outer.On": "on", "Outer.In.Name": "name",
		"Outer.TLS.Enabled": "x-tls", "Outer.TLS.CAFile": "x-tls-ca", "Outer.TLS.CertFile": "x-tls-cert", "Outer.TLS.KeyFile": "x-tls-key",
	}
	got := reg.Fields()
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for path, name := range want {
		if f, ok := reg.Flag(path); !ok || f != name {
			t.Errorf("Flag(%s) = %q, %v; want %q", path, f, ok, name)
		}
		if fs.Lookup(name) == nil {
			t.Errorf("--%s not on the flag set", name)
		}
		wantGroup := GroupKafka
		if name == "wait" {
			wantGroup = GroupMigrate
		}
		if g, ok := reg.Group(name); !ok || g != wantGroup {
			t.Errorf("Group(%s) = %v, %v; want %v", name, g, ok, wantGroup)
		}
	}
	if _, ok := reg.Group("nope"); ok {
		t.Error("an unknown flag has a group")
	}
	if o.Count != 3 || o.Wait != time.Second || !o.On || o.In.Name != "n" {
		t.Errorf("defaults not set: %+v", o)
	}
	if err := fs.Parse([]string{"--count", "4", "--x-tls-ca", "/ca.pem"}); err != nil || o.Count != 4 || o.TLS.CAFile != "/ca.pem" {
		t.Errorf("parse: %v, %+v", err, o)
	}
}

func TestFlagsMistakesPanic(t *testing.T) {
	panics := func(name string, want string, f func()) {
		t.Helper()
		defer func() {
			t.Helper()
			if r, _ := recover().(string); !strings.Contains(r, want) {
				t.Errorf("%s: panic %q, want one containing %q", name, r, want)
			}
		}()
		f()
	}
	var a, b string
	panics("no group", "without a group", func() {
		NewFlags(pflag.NewFlagSet("t", pflag.ContinueOnError), NewRegistry()).String(&a, "A", "a", "", "")
	})
	panics("field twice", "is set by --a and --b", func() {
		f := NewFlags(pflag.NewFlagSet("t", pflag.ContinueOnError), NewRegistry()).In(GroupRoles)
		f.String(&a, "A", "a", "", "")
		f.String(&b, "A", "b", "", "")
	})
}
