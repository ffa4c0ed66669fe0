// Package browser_test drives the web app and the operator's view in a
// real browser (Debian's chromium, through chromedp) against the built
// binary, as a person would use them: on the embedded default, and for
// the operator's view also as separate processes on the real servers.
package browser_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/feedsvc/feedsvc/internal/testenv"
	"github.com/feedsvc/feedsvc/roles"
)

// deadline bounds each wait for something the app shows, or for feedsvc
// to start: the limit the other tests give a loaded machine, where 30 s
// was within reach of a race-built serve starting on the real servers.
const deadline = testenv.EventuallyLimit

// TestBrowser: two users in two browser contexts. Bob follows alice, alice
// posts with @bob, and bob's open feed shows the post without a reload
// while his unread count goes up; search finds the post; alice deletes it
// and it leaves bob's feed. Then likes, mutes and blocks (see social),
// and with a third user reposts, threads and lists (see sharing).
// The operator's view of the process shows every group caught up. No page
// logs an error. Each page is screenshotted.
func TestBrowser(t *testing.T) {
	chromium := testenv.RequireProgram(t, "chromium", "apt-get install chromium")
	srv := startFeedsvc(t, testenv.ChildEnv(), "--role=all", "--data-dir", filepath.Join(t.TempDir(), "data"))
	base := srv.url
	t.Logf("feedsvc serves %s", base)
	shots := screenshotDir(t)
	browser := newBrowser(t, chromium)
	errs := &pageErrors{}
	alice := newUser(t, browser, "alice", errs, 1100, 900)
	bob := newUser(t, browser, "bob", errs, 390, 844) // a phone's width

	alice.run(chromedp.Navigate(base+"/"), visible("#dev-login"))
	alice.shot(shots, "signin")
	alice.signIn()
	bob.run(chromedp.Navigate(base + "/"))
	bob.signIn()

	// Bob follows alice from her page.
	bob.run(chromedp.Navigate(base+"/#/u/alice"), visible(`#follow[aria-pressed="false"]`))
	bob.run(click("#follow"), visible(`#follow[aria-pressed="true"]`), visible(`#followers a[href="#/u/bob"]`))
	bob.shot(shots, "user")

	// Bob's feed is open, and stays open: a reload would clear the mark.
	bob.run(click("#nav-feed"), visible("#feed-empty"), mark)

	// An empty post: the API's problem detail is shown (the browser logs
	// the 400 it answers).
	errs.expect("alice: error: Failed to load resource: the server responded with a status of 400 (Bad Request) at " + base + "/v1/posts")
	alice.run(click("#compose-submit"), visible("#compose-error"))
	if msg := get(alice, chromedp.Text(chromedp.CSS("#compose-error"))); !strings.Contains(msg, "text") {
		t.Fatalf("compose error %q, want the API's detail about the text", msg)
	}

	// Alice posts, with the live count of characters.
	const text = "Hello @bob, this is #feedsvc in a browser"
	alice.run(chromedp.SendKeys(chromedp.CSS("#compose-text"), text))
	if count, want := get(alice, chromedp.Text(chromedp.CSS("#compose-count"))), fmt.Sprintf("%d / 500", len(text)); count != want {
		t.Fatalf("compose count %q, want %q", count, want)
	}
	alice.shot(shots, "compose")
	alice.run(click("#compose-submit"), visible("#status a"))
	href := get(alice, chromedp.AttributeValue(chromedp.CSS("#status a"), "href")).Value
	id := strings.TrimPrefix(href, "#/p/")
	post := fmt.Sprintf(`#feed-list li[data-id="%s"]`, id)

	// Bob sees it without a reload, and his unread count goes up.
	bob.run(visible(post), visible(`#unread:not([hidden])`))
	if unread := get(bob, chromedp.Text(chromedp.CSS("#unread"))); unread != "1" {
		t.Fatalf("bob's unread count %q, want 1", unread)
	}
	bob.noReload()
	bob.shot(shots, "feed")
	// The mention links to bob's page and the tag to its search; the
	// text reads as written.
	bob.run(visible(post+` p.text a.mention[href="#/u/bob"]`), visible(post+` p.text a.tag[href="#/search?q=%23feedsvc"]`))
	if got := get(bob, chromedp.Text(chromedp.CSS(post+" p.text"))); got != text {
		t.Fatalf("the post reads %q, want %q", got, text)
	}

	// His notifications: the mention; reading them clears the count.
	bob.run(click("#nav-notifications"), visible(`#notifications li a[href="#/p/`+id+`"]`),
		chromedp.WaitNotVisible(chromedp.CSS("#unread")))
	if quote := get(bob, chromedp.Text(chromedp.CSS(`#notifications li blockquote.quote`))); quote != text {
		t.Fatalf("the mention's notification quotes %q, want the post, %q", quote, text)
	}
	bob.shot(shots, "notifications")

	// Search finds the post once the search consumer indexed it.
	bob.run(click("#nav-search"), visible("#search-q"), chromedp.SendKeys(chromedp.CSS("#search-q"), "browser"))
	bob.eventually("search finds the post", fmt.Sprintf(`#search-results li[data-id="%s"]`, id),
		click(`#search button[type="submit"]`))
	bob.shot(shots, "search")

	// Trends count the hashtag once the analytics consumer has it.
	bob.run(click("#nav-trends"), visible("#view-trends"))
	bob.eventually("trends show #feedsvc", `#trends a[href="#/search?q=%23feedsvc"]`,
		js(`document.getElementById("trends-window").dispatchEvent(new Event("change"))`))
	bob.shot(shots, "trends")

	// Back on his feed, bob watches alice delete the post from her page.
	bob.run(click("#nav-feed"), visible(post), mark)
	mine := `#user-posts li[data-id="` + id + `"]`
	alice.run(click("#nav-me"), visible(mine+" button.delete"))
	alice.shot(shots, "own-page")
	alice.run(click(mine+" button.delete"), chromedp.WaitNotPresent(chromedp.CSS(mine)))
	bob.run(chromedp.WaitNotPresent(chromedp.CSS(post)))
	bob.noReload()
	bob.shot(shots, "feed-after-delete")

	social(t, base, shots, errs, alice, bob)
	sharing(t, base, shots, errs, alice, bob, newUser(t, browser, "carol", errs, 800, 900))
	retriedPost(t, alice)

	if e := errs.list(); len(e) > 0 {
		t.Fatalf("the pages logged errors:\n%s", strings.Join(e, "\n"))
	}
	// The operator's view of the same process, on its admin listener:
	// every group caught up.
	op := newUser(t, browser, "operator", errs, 1100, 900)
	op.run(chromedp.Navigate(srv.admin+"/ops"), visible(`#ready[data-ready="true"]`))
	for _, g := range roles.Table.Consumers() {
		op.waitLag(g, "0", func(lag int64) bool { return lag == 0 }, deadline)
	}
	// The charts have axes: the highest value and 0, the window's start
	// and now.
	if start := get(op, chromedp.Text(chromedp.CSS("#group-fanout .x-axis span"))); !regexp.MustCompile(`^\d+ s ago$`).MatchString(start) {
		t.Fatalf("fanout's chart starts at %q, want \"N s ago\"", start)
	}
	if top := get(op, chromedp.Text(chromedp.CSS("#group-fanout .y-top"))); !regexp.MustCompile(`^[\d,.]+[kM]?$`).MatchString(top) {
		t.Fatalf("fanout's chart tops at %q, want a number", top)
	}
	op.shot(shots, "ops")

	if e := errs.list(); len(e) > 0 {
		t.Fatalf("the pages logged errors:\n%s", strings.Join(e, "\n"))
	}
	// Shut down with bob's stream still open: it must not hold the
	// server's shutdown.
	srv.stop()
}

// retriedPost: a post whose answer is lost (the page's fetch fails after
// the server made the post) is sent again with the same Idempotency-Key
// and made once; once a post is answered, the same text is a new post.
func retriedPost(t *testing.T, u *user) {
	t.Helper()
	script := `(async () => {
  const api = await import("/app/api.js");
  const real = window.fetch, keys = [];
  let lose = true;
  window.fetch = async (path, init) => {
    keys.push(init.headers["Idempotency-Key"] || "");
    const res = await real(path, init);
    if (lose) { lose = false; throw new TypeError("the answer was lost"); }
    return res;
  };
  const body = { text: "sent twice, made once " + Date.now() };
  let lost = -1;
  try { await api.createPost(body); } catch (e) { lost = e.status; }
  const again = await api.createPost(body);
  const next = await api.createPost(body);
  window.fetch = real;
  const mine = await api.call("GET", "/v1/users/" + api.session.user + "/posts?limit=100");
  const made = mine.items.filter((p) => p.text === body.text).map((p) => p.id);
  return JSON.stringify({ keys, lost, again: again.id, next: next.id, made });
})()`
	var got struct {
		Keys        []string
		Lost        int
		Again, Next string
		Made        []string
	}
	if err := json.Unmarshal([]byte(get(u, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))), &got); err != nil {
		t.Fatal(err)
	}
	switch {
	case len(got.Keys) != 3 || got.Keys[0] == "" || got.Keys[1] != got.Keys[0] || got.Keys[2] == got.Keys[0]:
		t.Fatalf("Idempotency-Keys sent %q: want one key for a post and its retry, a new one for the next post", got.Keys)
	case got.Lost != 0:
		t.Fatalf("the lost answer surfaced as status %d, want 0 (no answer)", got.Lost)
	case len(got.Made) != 2 || !slices.Contains(got.Made, got.Again) || !slices.Contains(got.Made, got.Next) || got.Again == got.Next:
		t.Fatalf("a post sent twice and one sent again after its answer made %v (answered %s, %s), want 2 posts", got.Made, got.Again, got.Next)
	}
}

// social: alice posts again, and bob likes the post from his open feed
// (the count goes up, alice is notified) and takes the like back. From
// alice's page he mutes her (her post leaves his feed), unmutes her (it
// comes back), and blocks her (it leaves again, and the follow ends): the
// follow button is disabled while he blocks her, and hers on his page
// shows the API's 403 detail. His blocks and mutes page lists both, and
// unblocks and unmutes. All without a reload of bob's page.
func social(t *testing.T, base, shots string, errs *pageErrors, alice, bob *user) {
	t.Helper()
	alice.run(click("#nav-feed"), visible("#compose-text"),
		chromedp.SendKeys(chromedp.CSS("#compose-text"), "A post to like"), click("#compose-submit"), visible("#status a"))
	id := strings.TrimPrefix(get(alice, chromedp.AttributeValue(chromedp.CSS("#status a"), "href")).Value, "#/p/")
	post := fmt.Sprintf(`#feed-list li[data-id="%s"]`, id)
	likes := func(u *user, post, want string) {
		t.Helper()
		if got := get(u, chromedp.Text(chromedp.CSS(post+" .likes"))); got != want {
			t.Fatalf("%s sees %q on %s, want %q", u.name, got, post, want)
		}
	}

	// Bob likes it from his feed, without a reload.
	bob.run(visible(post + ` button.like[aria-pressed="false"]`))
	likes(bob, post, "0 likes")
	bob.run(click(post+" button.like"), visible(post+` button.like[aria-pressed="true"]`))
	likes(bob, post, "1 like")
	bob.noReload()
	bob.shot(shots, "feed-liked")

	// Alice is notified once the notifications consumer has the like, and
	// sees the count on her post.
	alice.run(click("#nav-notifications"), visible("#view-notifications"))
	alice.eventually("alice's like notification", `#notifications li[data-kind="like"] a[href="#/p/`+id+`"]`, reroute)
	if text := get(alice, chromedp.Text(chromedp.CSS(`#notifications li[data-kind="like"] p`))); !strings.Contains(text, "@bob liked your post") {
		t.Fatalf("alice's like notification reads %q", text)
	}
	alice.run(chromedp.WaitNotVisible(chromedp.CSS("#unread")))
	alice.shot(shots, "notifications-like")
	mine := `#post-one li[data-id="` + id + `"]`
	alice.run(click(`#notifications li[data-kind="like"] a[href="#/p/`+id+`"]`), visible(mine+` button.like[aria-pressed="false"]`))
	likes(alice, mine, "1 like")

	// Bob takes his like back.
	bob.run(click(post+" button.like"), visible(post+` button.like[aria-pressed="false"]`))
	likes(bob, post, "0 likes")

	// Bob mutes alice for an hour from her page: her post leaves his feed.
	bob.run(hash("#/u/alice"), visible(`#mute[aria-pressed="false"]:enabled`), visible(`#block[aria-pressed="false"]:enabled`),
		chromedp.SetValue(chromedp.CSS("#mute-for"), "1h"), click("#mute"),
		visible(`#mute[aria-pressed="true"]:enabled`), visible("#mute-note time"), chromedp.WaitNotVisible(chromedp.CSS("#mute-for")))
	bob.shot(shots, "muted")
	bob.run(click("#nav-feed"), visible("#view-feed"))
	bob.eventuallyGone("a muted user's post leaves the feed", post, reroute)

	// He unmutes her: it comes back.
	bob.run(hash("#/u/alice"), visible(`#mute[aria-pressed="true"]:enabled`), click("#mute"),
		visible(`#mute[aria-pressed="false"]:enabled`), visible("#mute-for"))
	bob.run(click("#nav-feed"), visible("#view-feed"))
	bob.eventually("an unmuted user's post comes back", post, reroute)

	// He blocks her (the confirmation is accepted): the follow ends, the
	// follow button is disabled with a note, and her post leaves his feed.
	bob.run(hash("#/u/alice"), visible(`#block[aria-pressed="false"]:enabled`), visible(`#follow[aria-pressed="true"]:enabled`),
		click("#block"), visible(`#block[aria-pressed="true"]:enabled`), visible(`#follow[aria-pressed="false"]:disabled`),
		visible("#block-note"), chromedp.WaitNotPresent(chromedp.CSS(`#followers a[href="#/u/bob"]`)))
	bob.shot(shots, "blocked")
	bob.run(click("#nav-feed"), visible("#view-feed"))
	bob.eventuallyGone("a blocked user's post leaves the feed", post, reroute)

	// Alice cannot follow him back: the API's 403 detail is shown.
	errs.expect("alice: error: Failed to load resource: the server responded with a status of 403 (Forbidden) at " + base + "/v1/following/bob")
	alice.run(hash("#/u/bob"), visible(`#follow[aria-pressed="false"]:enabled`), visible(`#block[aria-pressed="false"]:enabled`),
		click("#follow"), visible("#user-error"))
	if msg := get(alice, chromedp.Text(chromedp.CSS("#user-error"))); !strings.Contains(msg, "has blocked you") {
		t.Fatalf("alice's follow error %q, want the API's detail about the block", msg)
	}
	alice.shot(shots, "follow-blocked")

	// Bob mutes her too (until unmuted); his blocks and mutes page lists
	// both, and lifts each.
	bob.run(hash("#/u/alice"), visible(`#mute[aria-pressed="false"]:enabled`),
		chromedp.SetValue(chromedp.CSS("#mute-for"), ""), click("#mute"), visible(`#mute[aria-pressed="true"]:enabled`))
	if note := get(bob, chromedp.Text(chromedp.CSS("#mute-note"))); !strings.Contains(note, "until you unmute") {
		t.Fatalf("bob's mute note %q, want a mute until unmuted", note)
	}
	blocked, muted := `#blocks li[data-user="alice"]`, `#mutes li[data-user="alice"]`
	bob.run(click("#nav-settings"), visible(blocked+" button.undo"), visible(muted+" button.undo"))
	bob.shot(shots, "blocks-mutes")
	bob.run(click(blocked+" button.undo"), chromedp.WaitNotPresent(chromedp.CSS(blocked)), visible("#blocks-empty"),
		click(muted+" button.undo"), chromedp.WaitNotPresent(chromedp.CSS(muted)), visible("#mutes-empty"))
	bob.run(reroute, visible("#blocks-empty"), visible("#mutes-empty"))
	bob.run(hash("#/u/alice"), visible(`#block[aria-pressed="false"]:enabled`), visible(`#mute[aria-pressed="false"]:enabled`),
		visible(`#follow[aria-pressed="false"]:enabled`))
	bob.noReload()
}

// sharing: carol follows bob (not alice). Alice posts, bob reposts it
// from her page, and carol's open feed shows it without a reload as
// reposted by bob, with its count. From there carol opens its thread,
// where an empty reply shows the API's detail and a reply appears, the
// post's reply count going up (there and in her feed), and the reply's
// own thread links back to it. Alice is notified of both. Bob takes the
// repost back and it leaves carol's feed. Then carol makes a list, fails
// to add an unknown user (the API's 404 detail), adds alice (her post
// shows in the list's timeline), removes her (it leaves) and deletes the
// list.
func sharing(t *testing.T, base, shots string, errs *pageErrors, alice, bob, carol *user) {
	t.Helper()
	text := func(u *user, css string) string {
		t.Helper()
		return get(u, chromedp.Text(chromedp.CSS(css)))
	}
	// want waits until css reads want: a page shown again (the feed, after
	// a thread) shows what it had until its new read lands.
	want := func(u *user, css, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(u.ctx, deadline)
		defer cancel()
		if _, err := chromedp.Run(ctx, hasText(css, want)); err != nil {
			t.Fatalf("%s sees %q at %s, want %q: %v", u.name, text(u, css), css, want, err)
		}
	}

	carol.run(chromedp.Navigate(base + "/"))
	carol.signIn()
	carol.run(hash("#/u/bob"), visible(`#block[aria-pressed="false"]:enabled`), visible(`#follow[aria-pressed="false"]:enabled`),
		click("#follow"), visible(`#follow[aria-pressed="true"]`))
	carol.run(click("#nav-feed"), visible("#feed-empty"), mark)

	alice.run(click("#nav-feed"), visible("#compose-text"),
		chromedp.SendKeys(chromedp.CSS("#compose-text"), "A post to share"), click("#compose-submit"), visible("#status a"))
	id := strings.TrimPrefix(get(alice, chromedp.AttributeValue(chromedp.CSS("#status a"), "href")).Value, "#/p/")

	// Bob reposts it from alice's page.
	onPage := `#user-posts li[data-id="` + id + `"]`
	bob.run(hash("#/u/alice"), reroute, visible(onPage+` button.repost[aria-pressed="false"]`)) // he may be there already
	want(bob, onPage+" .reposts", "0 reposts")
	bob.run(click(onPage+" button.repost"), visible(onPage+` button.repost[aria-pressed="true"]`))
	want(bob, onPage+" .reposts", "1 repost")
	bob.shot(shots, "reposting")

	// Carol's open feed shows it as bob's repost, without a reload.
	post := `#feed-list li[data-id="` + id + `"]`
	carol.run(visible(post + " .reposted-by"))
	if by := text(carol, post+" .reposted-by"); !strings.Contains(by, "@bob reposted") {
		t.Fatalf("carol's feed says %q above the post, want it reposted by @bob", by)
	}
	want(carol, post+" .meta a.user", "@alice")
	want(carol, post+" .reposts", "1 repost")
	carol.run(visible(post + ` button.repost[aria-pressed="false"]`))
	want(carol, post+" a.replies", "0 replies")
	carol.noReload()
	carol.shot(shots, "feed-reposted")

	// Its thread: an empty reply shows the API's detail; a reply appears
	// under the post, whose count goes up.
	one := `#post-one li[data-id="` + id + `"]`
	carol.run(click(post+" a.replies"), visible(one), visible("#replies-empty"))
	errs.expect("carol: error: Failed to load resource: the server responded with a status of 400 (Bad Request) at " + base + "/v1/posts")
	carol.run(click("#reply-submit"), visible("#reply-error"))
	if msg := text(carol, "#reply-error"); !strings.Contains(msg, "text") {
		t.Fatalf("reply error %q, want the API's detail about the text", msg)
	}
	const reply = "Shared it with my followers"
	carol.run(chromedp.SendKeys(chromedp.CSS("#reply-text"), reply), chromedp.WaitNotVisible(chromedp.CSS("#reply-error")),
		click("#reply-submit"), visible("#replies li"), chromedp.WaitNotVisible(chromedp.CSS("#replies-empty")))
	want(carol, "#replies li .text", reply)
	want(carol, one+" a.replies", "1 reply")
	replyID := get(carol, chromedp.AttributeValue(chromedp.CSS("#replies li"), "data-id")).Value
	carol.shot(shots, "thread")

	// The reply's own thread says what it replies to, and links back.
	carol.run(click(`#replies li[data-id="`+replyID+`"] a.replies`), visible(`#post-one li[data-id="`+replyID+`"]`),
		visible(`#post-parent a[href="#/p/`+id+`"]`))
	want(carol, "#post-parent", "Replying to @alice")
	carol.run(click("#post-parent a"), visible(one), visible(`#replies li[data-id="`+replyID+`"]`))
	want(carol, one+" a.replies", "1 reply")

	// Back in her feed, the count is there too.
	carol.run(click("#nav-feed"), visible(post+" .reposted-by"))
	want(carol, post+" a.replies", "1 reply")
	carol.noReload()

	// Alice is notified of the repost and the reply.
	alice.run(click("#nav-notifications"), visible("#view-notifications"))
	alice.eventually("alice's repost notification", `#notifications li[data-kind="repost"] a[href="#/p/`+id+`"]`, reroute)
	alice.eventually("alice's reply notification", `#notifications li[data-kind="reply"] a[href="#/p/`+replyID+`"]`, reroute)
	if note := text(alice, `#notifications li[data-kind="repost"] p`); !strings.Contains(note, "@bob reposted your post") {
		t.Fatalf("alice's repost notification reads %q", note)
	}
	if note := text(alice, `#notifications li[data-kind="reply"] p`); !strings.Contains(note, "@carol replied to your post") {
		t.Fatalf("alice's reply notification reads %q", note)
	}
	alice.shot(shots, "notifications-shared")

	// Bob takes the repost back: it leaves carol's open feed.
	bob.run(click(onPage+" button.repost"), visible(onPage+` button.repost[aria-pressed="false"]`))
	want(bob, onPage+" .reposts", "0 reposts")
	carol.run(chromedp.WaitNotPresent(chromedp.CSS(post)))
	carol.noReload()

	// Carol makes a list.
	carol.run(click("#nav-lists"), visible("#lists-empty"),
		chromedp.SendKeys(chromedp.CSS("#list-name"), "Friends"), click("#list-create"), visible("#lists li a"))
	want(carol, "#lists li a", "Friends")
	listHref := get(carol, chromedp.AttributeValue(chromedp.CSS("#lists li a"), "href")).Value
	listID := strings.TrimPrefix(listHref, "#/l/")
	carol.shot(shots, "lists")

	// On its page, adding an unknown user shows the API's 404 detail.
	carol.run(click(`#lists li a[href="`+listHref+`"]`), visible("#list-body"), visible("#members-empty"), visible("#list-feed-empty"))
	want(carol, "#list-title", "Friends")
	errs.expect("carol: error: Failed to load resource: the server responded with a status of 404 (Not Found) at " +
		base + "/v1/lists/" + listID + "/members/nobody")
	carol.run(chromedp.SendKeys(chromedp.CSS("#member-name"), "nobody"), click("#member-submit"), visible("#list-error"))
	if msg := text(carol, "#list-error"); !strings.Contains(msg, "nobody") {
		t.Fatalf("carol's list error %q, want the API's detail about the unknown user", msg)
	}

	// She adds alice: alice's post shows in the list's timeline.
	member, inList := `#members li[data-user="alice"]`, `#list-feed li[data-id="`+id+`"]`
	carol.run(js(`document.getElementById("member-name").value = ""`), chromedp.SendKeys(chromedp.CSS("#member-name"), "alice"),
		click("#member-submit"), visible(member), visible(inList), chromedp.WaitNotVisible(chromedp.CSS("#list-error")),
		chromedp.WaitNotVisible(chromedp.CSS("#members-empty")))
	want(carol, inList+" .text", "A post to share")
	want(carol, inList+" a.replies", "1 reply")
	carol.shot(shots, "list")

	// She removes alice: the post leaves the timeline.
	carol.run(click(member+" button.undo"), chromedp.WaitNotPresent(chromedp.CSS(member)), visible("#members-empty"),
		chromedp.WaitNotPresent(chromedp.CSS(inList)), visible("#list-feed-empty"))

	// And deletes the list (the confirmation is accepted).
	carol.run(click("#nav-lists"), visible(`#lists li[data-id="`+listID+`"] button.delete`),
		click(`#lists li[data-id="`+listID+`"] button.delete`), chromedp.WaitNotPresent(chromedp.CSS(`#lists li[data-id="`+listID+`"]`)),
		visible("#lists-empty"))
	carol.run(reroute, visible("#lists-empty"))
	carol.noReload()
}

func visible(css string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(css))
}
func click(css string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(css)) }

// js runs a script in the page.
func js(script string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](script)(ctx, tg)
		return err
	})
}

// hasText waits until the first element matching css has the text want.
func hasText(css, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector(%q)?.textContent === %q`, css, want))
}

// hash goes to an app page by its hash, without a reload.
func hash(h string) chromedp.Action[chromedp.Void] {
	return js(fmt.Sprintf("location.hash = %q", h))
}

// reroute shows the app's current page again (as the app routes it anew
// on any change of the hash), without a reload: a query on the hash
// changes it and leaves the page the same.
var reroute = js(`location.hash = location.hash.split("?")[0] + "?t=" + Date.now()`)

// mark sets window.noReload, which a reload of the page would clear.
var mark = js(`window.noReload = true`)

// user is one person's browser context (its own storage: its own token).
type user struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func newUser(t *testing.T, browser context.Context, name string, errs *pageErrors, width, height int64) *user {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab, which lives as long as that run's
	// context: this one, not one with a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab for %s: %v", name, err)
	}
	u := &user{t: t, name: name, ctx: ctx}
	u.run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{}) // browser log entries: failed loads
		return err
	}), chromedp.EmulateViewport(width, height))
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				errs.add(name, m.String()+" at "+m.URL)
			}
		}
	}()
	// The delete button asks for confirmation; a dialog blocks the page
	// until answered.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				errs.add(name, "answer a dialog: "+err.Error())
			}
		}
	}()
	return u
}

// run runs actions, failing the test if they do not finish within deadline.
func (u *user) run(actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	get(u, chromedp.Steps(actions...))
}

// get runs a, failing the test if it does not finish within deadline, and
// returns its value.
func get[T any](u *user, a chromedp.Action[T]) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, deadline)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(u.ctx, chromedp.Location())
		u.t.Fatalf("%s (at %s): %v", u.name, loc, err)
	}
	return v
}

// eventually runs retry until an element matches css, or deadline passes:
// for what a consumer shows some time after the write (search, trends).
func (u *user) eventually(what, css string, retry chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	u.poll(what, retry, chromedp.WaitVisible(chromedp.CSS(css)))
}

// eventuallyGone runs retry until no element matches css, or deadline
// passes: for what a consumer takes away some time after the write.
func (u *user) eventuallyGone(what, css string, retry chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	u.poll(what, retry, chromedp.WaitNotPresent(chromedp.CSS(css)))
}

// poll runs retry, then wait for up to 2 s, until wait succeeds or
// deadline passes.
func (u *user) poll(what string, retry, wait chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	end := time.Now().Add(deadline)
	for {
		ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
		_, err := chromedp.Run(ctx, retry)
		if err == nil {
			_, err = chromedp.Run(ctx, wait)
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			u.t.Fatalf("%s: %s: %v", u.name, what, err)
		}
	}
}

// signIn picks the user's name on the dev login form.
func (u *user) signIn() {
	u.t.Helper()
	u.run(visible("#dev-login"), chromedp.SendKeys(chromedp.CSS("#dev-user"), u.name+"\r"),
		visible("#view-feed"))
	if me := get(u, chromedp.Text(chromedp.CSS("#me"))); me != u.name {
		u.t.Fatalf("signed in as %q, want %q", me, u.name)
	}
}

// noReload checks the page was not reloaded since mark.
func (u *user) noReload() {
	u.t.Helper()
	if !get(u, chromedp.Evaluate[bool](`window.noReload === true`)) {
		u.t.Fatalf("%s's page was reloaded", u.name)
	}
}

// shot writes a screenshot of the whole page to dir/NAME-USER.png.
func (u *user) shot(dir, name string) {
	u.t.Helper()
	png := get(u, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name+"-"+u.name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// pageErrors collects what the pages logged as errors.
type pageErrors struct {
	mu       sync.Mutex
	errs     []string
	expected []string // each excuses one error, the first logged
}

func (p *pageErrors) add(user, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := user + ": " + msg
	if i := slices.Index(p.expected, e); i >= 0 {
		p.expected = slices.Delete(p.expected, i, i+1)
		return
	}
	p.errs = append(p.errs, e)
}

// expect excuses one error the test provokes on purpose.
func (p *pageErrors) expect(e string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = append(p.expected, e)
}

func (p *pageErrors) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// screenshotDir is FEEDSVC_SCREENSHOT_DIR (kept) or a temporary directory
// (removed after the test), logged either way.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("FEEDSVC_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
		t.Logf("screenshots in %s (removed after the test; set FEEDSVC_SCREENSHOT_DIR to keep them)", dir)
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// binary is the feedsvc built for the tests (TestMain).
var binary string

func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinary(m, &binary, true, "")) }

// proc is a running `feedsvc serve`.
type proc struct {
	t          *testing.T
	url, admin string // the public and the operator's listeners
	cmd        *exec.Cmd
	logs       *syncBuffer
	exited     chan struct{}
}

// startFeedsvc runs `feedsvc serve` with args (a --role and a --data-dir
// at least) and env, until it is ready. Its listeners bind port 0 and its
// "feedsvc started" log line says which ports they got (a port picked free
// beforehand could be taken by another process before the child binds
// it). It is killed at cleanup; stop shuts it down gracefully.
func startFeedsvc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"serve", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--log-format", "json", "--shutdown-drain", "0", "--shutdown-timeout", "30s"}, args...)...)
	// Only the settings given: not the run's (scripts/test exports the
	// real servers' addresses).
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("feedsvc %v log:\n%s", args, p.logs.String())
		}
	})
	end := time.Now().Add(deadline)
	for {
		select {
		case <-p.exited:
			t.Fatalf("feedsvc %v exited during startup:\n%s", args, p.logs.String())
		default:
		}
		if p.url == "" {
			if addr, admin, ok := testenv.StartedAddrs(p.logs.String()); ok {
				p.url, p.admin = "http://"+addr, "http://"+admin
			}
		}
		if p.url != "" {
			if resp, err := http.Get(p.url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return p
				}
			}
		}
		if time.Now().After(end) {
			t.Fatalf("feedsvc %v not ready within %s:\n%s", args, deadline, p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the process down with SIGTERM and checks it exits cleanly.
func (p *proc) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("feedsvc did not stop on SIGTERM:\n%s", p.logs.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("feedsvc exited with %d:\n%s", code, p.logs.String())
	}
}

// newBrowser starts chromium (ended at cleanup) and returns its context.
func newBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Log("chromium started")
	return browser
}

// syncBuffer is a bytes.Buffer the child process and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
