package app

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Fold lower-cases s and strips accents ("Café" -> "cafe"), so search,
// hashtags and blocklists match regardless of case and diacritics.
func Fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
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
