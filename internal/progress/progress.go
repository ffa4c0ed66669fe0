// Package progress draws a progress line for long commands on a terminal:
// one line on stderr, rewritten in place ("migrate: cassandra 3/9"), and
// nothing at all when stderr is not a terminal (a log file, a pipe, CI).
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Line is a progress line. A nil *Line draws nothing, so callers need not
// check whether there is a terminal.
type Line struct {
	w     io.Writer
	every time.Duration

	mu    sync.Mutex
	last  time.Time
	text  string // drawn last ("" after Done)
	width int    // of text, to blank it out
}

// OnTerminal returns a Line drawing on f, or nil when f is not a terminal.
func OnTerminal(f *os.File) *Line {
	if f == nil || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil
	}
	return To(f)
}

// Stderr is the progress line of the process's stderr (nil when stderr is
// not a terminal): one, since there is one stderr, which the logger writes
// through (Writer).
func Stderr() *Line { return stderr() }

var stderr = sync.OnceValue(func() *Line { return OnTerminal(os.Stderr) })

// To returns a Line drawing on w whatever it is (for tests).
func To(w io.Writer) *Line { return &Line{w: w, every: 100 * time.Millisecond} }

// Show draws text in place of what was drawn before. Redrawing is limited to
// ten times a second, except for the last step: Show with final set (as
// Count does when done == total) always draws.
func (l *Line) Show(text string, final bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !final && now.Sub(l.last) < l.every {
		return
	}
	l.last = now
	pad := ""
	if n := l.width - len(text); n > 0 {
		pad = fmt.Sprintf("%*s", n, "")
	}
	fmt.Fprintf(l.w, "\r%s%s", text, pad)
	l.text, l.width = text, len(text)
}

// Count draws "what: done/total".
func (l *Line) Count(what string, done, total int) {
	l.Show(fmt.Sprintf("%s: %d/%d", what, done, total), done == total)
}

// Done ends the line (the next output starts on a line of its own); a Line
// that drew nothing writes nothing.
func (l *Line) Done() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.width > 0 {
		fmt.Fprintln(l.w)
		l.text, l.width = "", 0
	}
}

// Writer returns w for other output on the same terminal (log lines): each
// write blanks the progress line, writes, and draws the line again after it.
// Without a Line (nil), it is w.
func (l *Line) Writer(w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return lineWriter{l: l, w: w}
}

type lineWriter struct {
	l *Line
	w io.Writer
}

func (lw lineWriter) Write(p []byte) (int, error) {
	l := lw.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.width > 0 {
		fmt.Fprintf(l.w, "\r%*s\r", l.width, "")
	}
	n, err := lw.w.Write(p)
	if l.width > 0 {
		fmt.Fprint(l.w, l.text)
	}
	return n, err
}
