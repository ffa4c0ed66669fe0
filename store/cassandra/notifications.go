package cassandra

import (
	"context"
	"errors"
	"time"

	"github.com/gocql/gocql"

	"github.com/feedsvc/feedsvc/app"
)

var (
	_ app.NotificationStore = (*Store)(nil)
	_ app.ModerationLog     = (*Store)(nil)
)

// AddNotification implements app.NotificationStore; (user, id) is the key,
// so a repeat overwrites the same row. A notification about a post is
// listed under the post first, so every notification that exists can be
// found by its post (a crash in between leaves only a harmless listing).
func (s *Store) AddNotification(ctx context.Context, n app.Notification) error {
	if n.Post != 0 {
		err := s.query(`INSERT INTO notifications_by_post (post_id, user, id) VALUES (?, ?, ?)`,
			int64(n.Post), n.User, int64(n.ID)).WithContext(ctx).Exec()
		if err != nil {
			return failf("cassandra: list notification of %s under post %s: %w", n.User, n.Post, err)
		}
	}
	err := s.query(`INSERT INTO notifications (user, id, kind, actor, post_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		n.User, int64(n.ID), n.Kind, n.Actor, int64(n.Post), n.CreatedAt.UTC()).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: add notification for %s: %w", n.User, err)
	}
	return nil
}

// RemovePostNotifications implements app.NotificationStore. The listing
// goes last, so a failure half-way leaves it for the retry.
func (s *Store) RemovePostNotifications(ctx context.Context, post app.ID) error {
	iter := s.query(`SELECT user, id FROM notifications_by_post WHERE post_id = ?`, int64(post)).WithContext(ctx).Iter()
	type note struct {
		user string
		id   int64
	}
	var (
		notes []note
		n     note
	)
	for iter.Scan(&n.user, &n.id) {
		notes = append(notes, n)
	}
	if err := iter.Close(); err != nil {
		return failf("cassandra: notifications of post %s: %w", post, err)
	}
	for _, n := range notes {
		if err := s.query(`DELETE FROM notifications WHERE user = ? AND id = ?`, n.user, n.id).WithContext(ctx).Exec(); err != nil {
			return failf("cassandra: remove notification of %s about post %s: %w", n.user, post, err)
		}
	}
	if len(notes) > 0 {
		if err := s.query(`DELETE FROM notifications_by_post WHERE post_id = ?`, int64(post)).WithContext(ctx).Exec(); err != nil {
			return failf("cassandra: notifications of post %s: %w", post, err)
		}
	}
	return nil
}

// Notifications implements app.NotificationStore.
func (s *Store) Notifications(ctx context.Context, user string, before app.ID, limit int) (_ []app.Notification, err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var upTo int64
	err = s.query(`SELECT up_to FROM notification_reads WHERE user = ?`, user).WithContext(ctx).Scan(&upTo)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return nil, failf("cassandra: read marker of %s: %w", user, err)
	}
	q := s.query(`SELECT id, kind, actor, post_id, created_at FROM notifications WHERE user = ? LIMIT ?`, user, limit)
	if before > 0 {
		q = s.query(`SELECT id, kind, actor, post_id, created_at FROM notifications WHERE user = ? AND id < ? LIMIT ?`,
			user, int64(before), limit)
	}
	iter := q.WithContext(ctx).Iter()
	var (
		out         []app.Notification
		id, post    int64
		kind, actor string
		created     time.Time
	)
	for iter.Scan(&id, &kind, &actor, &post, &created) {
		out = append(out, app.Notification{ID: app.ID(id), User: user, Kind: kind, Actor: actor, Post: app.ID(post),
			CreatedAt: created.UTC(), Read: id <= upTo})
	}
	if err := iter.Close(); err != nil {
		return nil, failf("cassandra: notifications of %s: %w", user, err)
	}
	return out, nil
}

// MarkRead implements app.NotificationStore. The marker only moves forward:
// a lightweight transaction would cost a Paxos round per call, so the
// read-compare-write below accepts that two racing calls may leave the
// smaller marker (the user marks again).
func (s *Store) MarkRead(ctx context.Context, user string, upTo app.ID) (err error) {
	ctx, end := s.bound(ctx)
	defer func() { err = end(err) }()
	var cur int64
	err = s.query(`SELECT up_to FROM notification_reads WHERE user = ?`, user).WithContext(ctx).Scan(&cur)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return failf("cassandra: read marker of %s: %w", user, err)
	}
	if int64(upTo) <= cur {
		return nil
	}
	if err := s.query(`INSERT INTO notification_reads (user, up_to) VALUES (?, ?)`, user, int64(upTo)).
		WithContext(ctx).Exec(); err != nil {
		return failf("cassandra: mark read for %s: %w", user, err)
	}
	return nil
}

// RecordDecision implements app.ModerationLog.
func (s *Store) RecordDecision(ctx context.Context, d app.Decision) error {
	err := s.query(`INSERT INTO moderation_decisions (month, post_id, author, rule, detail, decided_at) VALUES (?, ?, ?, ?, ?, ?)`,
		month(d.Post), int64(d.Post), d.Author, d.Rule, d.Detail, d.DecidedAt.UTC()).WithContext(ctx).Exec()
	if err != nil {
		return failf("cassandra: record decision on %s: %w", d.Post, err)
	}
	return nil
}

// decisionMonths bounds how far back Decisions looks.
const decisionMonths = 24

// Decisions implements app.ModerationLog, walking month partitions back
// from the month of before (or now).
func (s *Store) Decisions(ctx context.Context, before app.ID, limit int) ([]app.Decision, error) {
	start := time.Now().UTC()
	if before > 0 {
		start = before.Time().UTC()
	}
	var out []app.Decision
	for i := 0; i < decisionMonths && len(out) < limit; i++ {
		m := time.Date(start.Year(), start.Month()-time.Month(i), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
		q := s.query(`SELECT post_id, author, rule, detail, decided_at FROM moderation_decisions WHERE month = ? LIMIT ?`,
			m, limit-len(out))
		if before > 0 {
			q = s.query(`SELECT post_id, author, rule, detail, decided_at FROM moderation_decisions WHERE month = ? AND post_id < ? LIMIT ?`,
				m, int64(before), limit-len(out))
		}
		iter := q.WithContext(ctx).Iter()
		var (
			id                   int64
			author, rule, detail string
			at                   time.Time
		)
		for iter.Scan(&id, &author, &rule, &detail, &at) {
			out = append(out, app.Decision{Post: app.ID(id), Author: author, Rule: rule, Detail: detail, DecidedAt: at.UTC()})
		}
		if err := iter.Close(); err != nil {
			return nil, failf("cassandra: decisions of %s: %w", m, err)
		}
	}
	return out, nil
}
