package progress

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// TestNotATerminal: on a file (or a pipe), there is no line, and a nil Line
// draws nothing and passes other output through.
func TestNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := OnTerminal(f)
	if l != nil {
		t.Fatal("a line on a file")
	}
	l.Count("x", 1, 2)
	l.Show("y", true)
	l.Done()
	if _, err := l.Writer(f).Write([]byte("log line\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "log line\n" {
		t.Fatalf("wrote %q", b)
	}
}

// TestLine: a line is redrawn in place (the last step always), blanks what
// a longer text left, keeps below other output, and Done ends it.
func TestLine(t *testing.T) {
	var buf bytes.Buffer
	l := To(&buf)
	l.every = time.Hour // no redraw but the first and the last
	l.Count("seed", 1, 100)
	l.Count("seed", 2, 100) // too soon: skipped
	l.Count("seed", 100, 100)
	l.Show("ok", true)
	want := "\rseed: 1/100\rseed: 100/100\rok           "
	if buf.String() != want {
		t.Fatalf("drew %q, want %q", buf.String(), want)
	}
	buf.Reset()
	if _, err := l.Writer(&buf).Write([]byte("a log line\n")); err != nil {
		t.Fatal(err)
	}
	if want := "\r  \ra log line\nok"; buf.String() != want {
		t.Fatalf("log through the line: %q, want %q", buf.String(), want)
	}
	buf.Reset()
	l.Done()
	l.Done()
	if buf.String() != "\n" {
		t.Fatalf("Done wrote %q, want one newline", buf.String())
	}
}
