package app

import (
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// folders pools Fold's transformer chains: a chain (and the cases.Caser in
// it) keeps state between calls, so it must not be shared by concurrent
// handlers, and building one per call allocates its buffers every time.
var folders = sync.Pool{New: func() any {
	return transform.Chain(
		// NFKD first: full-width and ligature forms become plain letters
		// ("ＦＥ" -> "FE", "ﬁ" -> "fi") and accents become separate marks.
		norm.NFKD,
		// Full case folding: "ß" and "ẞ" -> "ss", "İ" -> "i" + U+0307.
		cases.Fold(),
		runes.Remove(runes.In(unicode.Mn)),
		// Recompose what NFKD split into letters, e.g. Hangul syllables.
		norm.NFC,
	)
}}

// Fold case-folds s, maps compatibility forms to their plain letters and
// strips accents ("Straße" -> "strasse", "ＦＥＥＤ" -> "feed", "ﬁle" ->
// "file", "Café" -> "cafe"), so search, hashtags and blocklists match
// regardless of case, width, ligatures and diacritics. Letters that have no
// decomposition stay as they are ("æ", "ø", "ı"). Cherokee does not fold
// consistently in x/text (golang/go#46101).
func Fold(s string) string {
	// Invalid bytes become U+FFFD first: left to the transformers, a stray
	// lead byte kept the accent of the letter after it, so folding twice
	// gave another text (found by FuzzText).
	s = strings.ToValidUTF8(s, "\uFFFD")
	t := folders.Get().(transform.Transformer)
	defer folders.Put(t)
	out, _, err := transform.String(t, s) // String resets t first
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}

// Terms are the searchable words of a text, folded, in order of first
// appearance, without duplicates. A hashtag yields both "#tag" and "tag",
// so a search for "tag" finds it and a search for "#tag" finds only tags.
func Terms(text string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, tok := range tokens(Fold(text)) {
		switch {
		case strings.HasPrefix(tok, "#"):
			add(tok)
			add(tok[1:])
		case strings.HasPrefix(tok, "@"):
			add(tok[1:])
		default:
			add(tok)
		}
	}
	return out
}

// Hashtags returns the folded hashtags of a text ("#Go #go" -> ["go"]).
func Hashtags(text string) []string {
	return prefixed(text, '#')
}

// Mentions returns the user IDs mentioned as @user in a text, deduplicated.
// Only well-formed user IDs count.
func Mentions(text string) []string {
	var out []string
	for _, m := range prefixed(text, '@') {
		if ValidUserID(m) {
			out = append(out, m)
		}
	}
	return out
}

func prefixed(text string, mark byte) []string {
	var out []string
	seen := map[string]bool{}
	for _, tok := range tokens(Fold(text)) {
		if len(tok) > 1 && tok[0] == mark && !seen[tok[1:]] {
			seen[tok[1:]] = true
			out = append(out, tok[1:])
		}
	}
	return out
}

// tokens splits folded text into words; a leading '#' or '@' stays on its
// word. Underscores belong to words (user IDs and tags use them).
func tokens(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if t := cur.String(); t != "" && t != "#" && t != "@" {
			out = append(out, t)
		}
		cur.Reset()
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
			cur.WriteRune(r)
		case (r == '#' || r == '@') && cur.Len() == 0:
			cur.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return out
}
