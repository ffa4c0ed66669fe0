// Package apptest provides in-memory fakes of app's ports for unit tests:
// Store (posts, users and follows, notifications, moderation decisions),
// Feeds, Celebrities, Bus, Analytics, Search and NodeLeases. They are safe for
// concurrent use, keep everything in maps and make no attempt at the
// adapters' performance. Store, NodeLeases, Feeds (its unfollows
// included), Analytics and Search pass the adapters' conformance suites
// (conformance_test.go), so a unit test on them describes behaviour the
// adapters have; NewCappedFeeds and NewCappedSearch give them the
// adapters' caps.
package apptest
