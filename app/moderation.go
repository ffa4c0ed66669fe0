package app

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// Moderation rules.
const (
	RuleBlocklist = "blocklist"
	RuleLinkSpam  = "link_spam"
	RuleRate      = "rate_limit"
)

// ModerationRules are what a post is checked against.
type ModerationRules struct {
	// Blocklist holds blocked terms (matched as whole folded words or, with
	// spaces, as folded phrases) and patterns written "re:<regexp>"
	// (matched against the folded text, see Fold; the pattern itself is not
	// folded, since that would change escapes such as \S, so it should be
	// written lower-case and without accents).
	Blocklist []string
	// MaxLinks is the most links a post may carry (0: no limit).
	MaxLinks int
	// MaxPerMinute is the most posts an author may publish in one minute
	// (0: no limit).
	MaxPerMinute int
}

var linkPattern = regexp.MustCompile(`(?i)\bhttps?://\S+|\bwww\.\S+`)

// Moderator checks each new post against the rules. A post that breaks one
// is hidden: it is marked moderated (so reads hide it from everyone but its
// author; a post deleted meanwhile stays deleted), the decision is recorded
// for operators, and post.moderated is published so fanout, search,
// notifications and analytics drop it. Every step is idempotent, and the
// rate rule looks at the author's posts before this one (by ID), so a replay
// reaches the same verdict.
type Moderator struct {
	Posts     PostStore
	Decisions ModerationLog
	Events    Publisher
	Rules     ModerationRules
	Log       *slog.Logger
	// Now is the clock of decisions and of the pending window (nil: time.Now).
	Now func() time.Time
	// PendingWindow is how long a post.created whose post is not visible
	// yet (and not recorded deleted) is retried (0: DefaultPendingWindow).
	PendingWindow time.Duration

	terms    map[string]bool
	phrases  []string
	patterns []*regexp.Regexp
}

// NewModerator compiles the rules.
func NewModerator(m Moderator) (*Moderator, error) {
	m.terms = map[string]bool{}
	for _, entry := range m.Rules.Blocklist {
		entry = strings.TrimSpace(entry)
		folded := Fold(entry)
		switch {
		case entry == "":
		case strings.HasPrefix(entry, "re:"):
			re, err := regexp.Compile(entry[3:])
			if err != nil {
				return nil, fmt.Errorf("%w: moderation pattern %q: %v", ErrInvalid, entry, err)
			}
			m.patterns = append(m.patterns, re)
		// Classified after folding: a full-width space (U+3000) folds to
		// ' ', so "ＢＵＹ　ＮＯＷ" is a phrase like "buy now".
		case strings.ContainsRune(folded, ' '):
			m.phrases = append(m.phrases, folded)
		default:
			m.terms[folded] = true
		}
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	return &m, nil
}

// Handle implements Handler.
func (m *Moderator) Handle(ctx context.Context, ev Event) error {
	if ev.Type != PostCreated || ev.Post == nil || ev.Post.IsRepost() {
		return nil // a repost has no text; its original is moderated
	}
	p, ok, err := newPostLookup(m.Posts, m.PendingWindow, m.Now, m.Log).get(ctx, ev)
	if err != nil {
		return fmt.Errorf("moderate %s: %w", ev.Post.ID, err)
	}
	if !ok {
		return nil // deleted meanwhile
	}
	if p.Moderated == "" {
		rule, detail, err := m.check(ctx, p)
		if err != nil {
			return fmt.Errorf("moderate %s: %w", p.ID, err)
		}
		if rule == "" {
			return nil
		}
		err = m.Decisions.RecordDecision(ctx, Decision{Post: p.ID, Author: p.Author, Rule: rule, Detail: detail, DecidedAt: m.Now().UTC()})
		if err != nil {
			return fmt.Errorf("moderate %s: %w", p.ID, err)
		}
		// Not a save of p: a delete landing meanwhile would be undone.
		if err := m.Posts.HidePost(ctx, p, rule); err != nil {
			return fmt.Errorf("moderate %s: hide: %w", p.ID, err)
		}
		p.Moderated = rule
		m.Log.Info("post moderated", "post", p.ID, "author", p.Author, "rule", rule, "detail", detail)
	} else if err := m.Posts.HidePost(ctx, p, p.Moderated); err != nil {
		// Hidden again on a redelivery (idempotent): a hide whose rows
		// landed in part (a reply's index entry, which reply counts
		// read) is completed.
		return fmt.Errorf("moderate %s: hide: %w", p.ID, err)
	}
	// Published again on a replay too: a crash after hiding the post but
	// before announcing it must still reach fanout and search.
	// CreatedAt lets analytics find the post's bucket to take it out of.
	hidden := Post{ID: p.ID, Author: p.Author, CreatedAt: p.CreatedAt, Moderated: p.Moderated}
	ev = Event{ID: PostModerated + ":" + p.ID.String(), Type: PostModerated, Time: m.Now(), Post: &hidden}
	if err := m.Events.Publish(ctx, ev); err != nil {
		return fmt.Errorf("moderate %s: %w", p.ID, err)
	}
	return nil
}

// check returns the first rule p breaks, if any.
func (m *Moderator) check(ctx context.Context, p Post) (rule, detail string, err error) {
	folded := Fold(p.Text)
	for _, t := range Terms(p.Text) {
		if m.terms[t] {
			return RuleBlocklist, "blocked term " + t, nil
		}
	}
	for _, ph := range m.phrases {
		if strings.Contains(folded, ph) {
			return RuleBlocklist, "blocked phrase " + ph, nil
		}
	}
	for _, re := range m.patterns {
		if re.MatchString(folded) {
			return RuleBlocklist, "blocked pattern " + re.String(), nil
		}
	}
	if n := len(linkPattern.FindAllString(p.Text, -1)); m.Rules.MaxLinks > 0 && n > m.Rules.MaxLinks {
		return RuleLinkSpam, fmt.Sprintf("%d links, at most %d allowed", n, m.Rules.MaxLinks), nil
	}
	if k := m.Rules.MaxPerMinute; k > 0 {
		// The author's k posts just before this one: if all are within the
		// minute before it, this one is over the ceiling.
		prev, err := m.Posts.AuthorPosts(ctx, p.Author, p.ID, k)
		if err != nil {
			return "", "", err
		}
		if len(prev) == k && prev[k-1].ID >= MinIDAt(p.ID.Time().Add(-time.Minute)) {
			return RuleRate, fmt.Sprintf("more than %d posts in a minute", k), nil
		}
	}
	return "", "", nil
}

// ModerationDecisions pages through decisions, newest post first.
func ModerationDecisions(ctx context.Context, log ModerationLog, cursor string, limit int) ([]Decision, string, error) {
	before, err := parseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	ds, err := log.Decisions(ctx, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("moderation decisions: %w", err)
	}
	ds, next := cutPage(ds, limit, func(d Decision) ID { return d.Post })
	return ds, next, nil
}
