// Package setting is what an adapter's Config needs to be a setting of a
// process: it registers its fields as flags beside its struct (Flags, with
// the group each belongs to) and reports an invalid value by the field that
// holds it (Error). Package configs binds the whole and, from the Registry
// the flags were recorded in, names each field's flag and environment
// variable; adapters never see pflag or configs.
package setting

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Error is an invalid value of one field of a configuration struct.
type Error struct {
	// Field is the Go field path inside the struct, e.g. "Keyspace" or
	// "Topics.Posts".
	Field string
	// Msg says what is wrong with the value, e.g. "5000 is out of range
	// 0-1023".
	Msg string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// Errorf returns an *Error for field.
func Errorf(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Flatten lists the leaves of err: the errors that errors.Join (and any
// other multi-error) combined, recursively; nil gives none.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	multi, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range multi.Unwrap() {
		out = append(out, Flatten(e)...)
	}
	return out
}

// Prefix returns err with prefix+"." put before the field of every *Error in
// it, so a struct can report the errors of a nested struct by their path.
func Prefix(prefix string, err error) error {
	var out []error
	for _, e := range Flatten(err) {
		var se *Error
		if errors.As(e, &se) {
			e = &Error{Field: prefix + "." + se.Field, Msg: se.Msg}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// HostPort checks that addr is "host:port" with a host and a port number
// 1-65535; the error says what is wrong with addr.
func HostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number 1-65535", addr, port)
	}
	return nil
}
