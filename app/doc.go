// Package app holds feedsvc's domain: posts, the social graph, home feeds and
// the events that connect them, plus the use cases (create a post, follow,
// read a feed, fan out) and the interfaces those use cases need. It imports no
// driver: adapters in store/ and events/ implement its interfaces and roles/
// drive its use cases.
package app
