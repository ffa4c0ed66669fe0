package configs

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/feedsvc/feedsvc/internal/setting"
)

// Load fills every flag the command line did not set from the environment,
// then from the config file, and validates c, which must be the Config
// bound to fs. Call it after parsing. Only the flags of the groups bound are
// read (and the backend addresses, see selectors): a variable or a file key
// of a setting the command does not use is ignored, so one environment or
// file serves every command. It reports every problem at once: values that
// do not parse (naming the flag and the variable or file), unknown keys in
// the file, and what Validate finds. Only a config file that cannot be read
// or parsed as YAML stops it early.
func (c *Config) Load(fs *pflag.FlagSet) error {
	if c.all == nil {
		return errors.New("configs: Load of a Config that was not bound (Bind, BindGroups)")
	}
	errs, err := c.loadSources(fs)
	if err != nil {
		return err
	}
	if err := c.mergeAliases(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(append(errs, c.Validate())...)
}

// mergeAliases moves the settings given by an older flag name to the
// field of the current one; the two names given different values is an
// error, whichever source each came from.
func (c *Config) mergeAliases() error {
	old := c.consumerGroupPrefix
	if old == "" {
		return nil
	}
	if c.Kafka.GroupPrefix != "" && c.Kafka.GroupPrefix != old {
		return named(setting.Errorf("consumerGroupPrefix", "%q disagrees with --group-prefix %q; give one", old, c.Kafka.GroupPrefix))
	}
	c.Kafka.GroupPrefix = old
	return nil
}

// fileEntry is one top-level key of the config file.
type fileEntry struct {
	key, value *yaml.Node
}

// loadSources sets the flags from the environment and the file. errs are
// values that could not be used; err is a file that could not be.
func (c *Config) loadSources(fs *pflag.FlagSet) (errs []error, err error) {
	if v, ok := os.LookupEnv(EnvName("config")); ok && !fs.Changed("config") {
		if err := fs.Set("config", v); err != nil {
			return nil, err
		}
	}
	path, _ := fs.GetString("config")
	file, errs, err := readFile(c.all, path)
	if err != nil {
		return nil, err
	}
	// c.all holds the same flags as fs, and the ones the command does not
	// take.
	c.all.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || !(c.bound[f.Name] || selectors[f.Name]) {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := c.all.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("--%s (%s): %s", f.Name, EnvName(f.Name), badValue(f, v)))
			}
			return
		}
		if e, ok := file[f.Name]; ok {
			if err := setFromFile(c.all, f, e.value); err != nil {
				errs = append(errs, fmt.Errorf("--%s (file %s, line %d): %v", f.Name, path, e.key.Line, err))
			}
		}
	})
	return errs, nil
}

// readFile parses the config file at path (none if empty) into its
// top-level entries. Keys must be config flags (known); unknown or repeated
// keys are returned as errs, so they are reported along with everything
// else; err is a file that cannot be used at all.
func readFile(known *pflag.FlagSet, path string) (file map[string]fileEntry, errs []error, err error) {
	file = map[string]fileEntry{}
	if path == "" {
		return file, nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return file, nil, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("config %s: want a mapping of flag names to values", path)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch prev, seen := file[k.Value]; {
		case k.Kind != yaml.ScalarNode:
			errs = append(errs, fmt.Errorf("file %s, line %d: a key must be a flag name", path, k.Line))
		case k.Value == "config" || known.Lookup(k.Value) == nil:
			errs = append(errs, fmt.Errorf("file %s, line %d: unknown setting %q", path, k.Line, k.Value))
		case seen:
			errs = append(errs, fmt.Errorf("file %s, line %d: %q is already set on line %d", path, k.Line, k.Value, prev.key.Line))
		default:
			file[k.Value] = fileEntry{key: k, value: v}
		}
	}
	return file, errs, nil
}

// setFromFile sets f from a YAML value. A YAML list sets a list flag element
// by element, so an element may hold a comma (a "re:" pattern such as
// "re:a{2,3}"); a scalar is parsed as on the command line, where list flags
// split at commas.
func setFromFile(fs *pflag.FlagSet, f *pflag.Flag, v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		if err := fs.Set(f.Name, v.Value); err != nil {
			return errors.New(badValue(f, v.Value))
		}
		return nil
	case yaml.SequenceNode:
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return fmt.Errorf("a list where a single %s is wanted", typeName(f))
		}
		items := make([]string, len(v.Content))
		for i, x := range v.Content {
			if x.Kind != yaml.ScalarNode {
				return fmt.Errorf("element %d of the list is not a single value", i+1)
			}
			items[i] = x.Value
		}
		if err := sv.Replace(items); err != nil {
			return err
		}
		// As fs.Set would: commands check Changed to tell a given value
		// from the default.
		f.Changed = true
		return nil
	}
	return fmt.Errorf("want a single %s or a list", typeName(f))
}

func badValue(f *pflag.Flag, v string) string {
	return fmt.Sprintf("%q is not a valid %s", v, typeName(f))
}

func typeName(f *pflag.Flag) string {
	switch t := f.Value.Type(); t {
	case "int":
		return "integer"
	case "bool":
		return "boolean (true or false)"
	case "duration":
		return "duration (such as 5s, 15m or 720h)"
	case "stringSlice":
		return "list"
	case "limit":
		return "rate limit (<requests>/<window> such as 300/3h, or off)"
	default:
		return t
	}
}
