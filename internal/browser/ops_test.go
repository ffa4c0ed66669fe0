package browser_test

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/feedsvc/feedsvc/internal/testenv"
)

// catchUp bounds the wait for a restarted fanout to join its group and
// handle what waited.
const catchUp = 2 * time.Minute

// TestOpsBrowser: the operator's view in a real browser, on a deployment
// of its own on the real servers, in two processes: A runs every role but
// fanout, B fanout. With B stopped, posts made through A's API raise the
// fanout group's lag on A's /ops page (its chart and figures) without a
// reload; with B started again, the lag falls to 0 and the page shows a
// processing rate. The replay plan and the dead-letter list (with a poison
// event's error) are asked for from the keyboard. No page logs an error; the page is screenshotted at
// desktop and phone widths.
func TestOpsBrowser(t *testing.T) {
	chromium := testenv.RequireProgram(t, "chromium", "apt-get install chromium")
	d := testenv.NewDeployment(t, "ops"+testenv.RandomID(4), "FEEDSVC_GROUP_PREFIX")
	d.Migrate(t, binary)
	env := testenv.ChildEnv(d.Env...)
	serve := func(roles string) *proc {
		return startFeedsvc(t, env, "--role="+roles, "--data-dir", t.TempDir())
	}
	a := serve("api,notifications,analytics,search,moderation")
	b := serve("fanout")
	shots := screenshotDir(t)
	browser := newBrowser(t, chromium)
	errs := &pageErrors{}
	op := newUser(t, browser, "operator", errs, 1100, 900)

	op.run(chromedp.Navigate(a.admin+"/ops"), visible(`#ready[data-ready="true"]`), visible("#group-fanout"), mark)
	if roles := get(op, chromedp.Text(chromedp.CSS("#roles tbody"))); strings.Contains(roles, "fanout") || !strings.Contains(roles, "moderation") {
		t.Fatalf("A's roles table:\n%s", roles)
	}
	op.waitLag("fanout", "0 before the posts", func(lag int64) bool { return lag == 0 }, deadline)

	// B stops; alice posts through A.
	b.stop()
	token := strings.TrimSpace(command(t, env, "token", "alice", "--data-dir", t.TempDir()))
	const posts = 5
	for i := range posts {
		req, _ := http.NewRequest("POST", a.url+"/v1/posts", strings.NewReader(fmt.Sprintf(`{"text":"ops post %d #ops"}`, i)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("post %d: %d", i, resp.StatusCode)
		}
	}
	op.waitLag("fanout", fmt.Sprintf("%d with fanout stopped", posts), func(lag int64) bool { return lag == posts }, deadline)
	if label := get(op, chromedp.AttributeValue(chromedp.CSS("#group-fanout svg"), "aria-label")).Value; !strings.Contains(label, fmt.Sprintf("now %d in all", posts)) {
		t.Fatalf("fanout's chart is labelled %q", label)
	}
	if n := get(op, chromedp.Evaluate[int](`document.querySelectorAll("#group-fanout polyline").length`)); n == 0 {
		t.Fatal("fanout's chart has no lines")
	}
	op.shot(shots, "ops-lag-rising")

	// B again: the lag falls, and fanout handled events at some rate.
	b = serve("fanout")
	op.waitLag("fanout", "0 once fanout runs again", func(lag int64) bool { return lag == 0 }, catchUp)
	rate := get(op, chromedp.AttributeValue(chromedp.CSS("#group-fanout"), "data-rate")).Value
	// The lag fell as the committed offsets rose, within the rate's span.
	if r, err := strconv.ParseFloat(rate, 64); err != nil || r <= 0 {
		t.Fatalf("fanout's rate %q once it caught up, want above 0", rate)
	}
	op.noReload()
	op.shot(shots, "ops-caught-up")

	// The replay plan from an hour ago (the form's default), from the
	// keyboard: the five posts again, and B is a live member.
	op.run(chromedp.SetValue(chromedp.CSS("#replay-group"), "fanout"),
		chromedp.SendKeys(chromedp.CSS("#replay-time"), "\r"), visible("#replay-summary"))
	if s := get(op, chromedp.Text(chromedp.CSS("#replay-summary"))); !strings.Contains(s, fmt.Sprintf("%d events to reprocess", posts)) {
		t.Fatalf("replay plan: %q", s)
	}
	if cmd := get(op, chromedp.Text(chromedp.CSS("#replay-command"))); !strings.HasPrefix(cmd, "feedsvc replay --group fanout --to-datetime ") {
		t.Fatalf("replay command %q", cmd)
	}
	if live := get(op, chromedp.Text(chromedp.CSS("#replay-live"))); !strings.Contains(live, "refused") {
		t.Fatalf("replay plan while fanout runs: %q, want a note that --execute refuses", live)
	}
	op.run(chromedp.SetValue(chromedp.CSS("#dlq-group"), "fanout"),
		chromedp.SendKeys(chromedp.CSS("#dlq-limit"), "\r"), visible("#dlq-summary:not(:empty)"))
	if s := get(op, chromedp.Text(chromedp.CSS("#dlq-summary"))); !strings.Contains(s, "no dead letters") {
		t.Fatalf("dead letters: %q", s)
	}

	// An event no consumer can decode: notifications dead-letters it, and
	// the page lists it with its error.
	kafka, err := testenv.KafkaConfig(d.Brokers).Cluster()
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.PublishPoison(kafka, d.Posts, "poison-"+d.ID); err != nil {
		t.Fatal(err)
	}
	op.run(chromedp.SetValue(chromedp.CSS("#dlq-group"), "notifications"))
	op.eventually("the dead letter is listed", "#dlq tbody tr", chromedp.SendKeys(chromedp.CSS("#dlq-limit"), "\r"))
	row := get(op, chromedp.Text(chromedp.CSS("#dlq tbody tr")))
	if !strings.Contains(row, "poison-"+d.ID) || !strings.Contains(row, "post.created") || !strings.Contains(row, d.Posts) {
		t.Fatalf("dead letter row %q", row)
	}
	if e := get(op, chromedp.Text(chromedp.CSS("#dlq tbody tr .err"))); e == "" {
		t.Fatal("the dead letter shows no error")
	}
	op.shot(shots, "ops-tools")

	phone := newUser(t, browser, "phone", errs, 390, 844)
	phone.run(chromedp.Navigate(a.admin+"/ops"), visible("#group-fanout"))
	phone.waitLag("fanout", "0", func(lag int64) bool { return lag == 0 }, deadline)
	if wide := get(phone, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > innerWidth`)); wide {
		t.Error("the ops page scrolls sideways at phone width")
	}
	phone.shot(shots, "ops")

	if e := errs.list(); len(e) > 0 {
		t.Fatalf("the pages logged errors:\n%s", strings.Join(e, "\n"))
	}
	b.stop()
	a.stop()
}

// waitLag waits until the lag the ops page shows for role's group
// satisfies ok, for up to timeout.
func (u *user) waitLag(role, what string, ok func(int64) bool, timeout time.Duration) {
	u.t.Helper()
	script := fmt.Sprintf(`document.getElementById(%q)?.dataset.lag ?? ""`, "group-"+role)
	end := time.Now().Add(timeout)
	last := ""
	for {
		ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](script))
		cancel()
		if err == nil {
			last = v
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && ok(n) {
				return
			}
		}
		if time.Now().After(end) {
			u.t.Fatalf("%s: %s's lag on the ops page is %q after %s, want %s", u.name, role, last, timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// command runs a feedsvc command with env and returns its stdout.
func command(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("feedsvc %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}
