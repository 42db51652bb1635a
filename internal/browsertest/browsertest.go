// Package browsertest drives the system's Chromium (Debian's `chromium`)
// from tests with chromedp, against whole gaspay servers: the service hall
// and the staff console are tested as a person uses them, in a phone-sized
// window (414×896), with a screenshot of the page written to an artifacts
// folder whenever a test fails.
//
// Without Chromium a test is skipped, but only outside CI: with CI set (as
// .ci/run is run), a missing Chromium fails the test, so that a green CI
// always means the pages were really driven.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Width and Height are the window of every test: a large phone's screen in
// CSS pixels.
const (
	Width  = 414
	Height = 896
)

// Timeout bounds one Run: a page that never shows what a test waits for
// fails in this time rather than hanging the suite.
const Timeout = 20 * time.Second

// ChromiumPath finds the browser: $GASPAY_CHROMIUM, else the first of
// chromium, chromium-browser, google-chrome on PATH. ok is false when there
// is none.
func ChromiumPath() (path string, ok bool) {
	if p := os.Getenv("GASPAY_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
		return p, false
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// inCI reports whether the tests run in CI, where skipping is not allowed.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "0" && v != "false"
}

// Require skips t when there is no Chromium outside CI, and fails it when
// there is none in CI. It returns the browser's path.
func Require(t testing.TB) string {
	t.Helper()
	p, ok := ChromiumPath()
	switch missing(ok, inCI()) {
	case fail:
		t.Fatalf("browsertest: Chromium not found (CI is set, so this is a failure): install Debian's chromium (.ci/run does) or set GASPAY_CHROMIUM")
	case skip:
		t.Skip("browsertest: Chromium not found; install Debian's chromium to run the browser tests")
	}
	return p
}

type verdict int

const (
	run verdict = iota
	skip
	fail
)

// missing decides what a test does about the browser: run it when found;
// when not, skip on a developer's machine, fail in CI.
func missing(found, ci bool) verdict {
	switch {
	case found:
		return run
	case ci:
		return fail
	}
	return skip
}

// ArtifactsDir is where screenshots go: $GASPAY_TEST_ARTIFACTS, else
// test-artifacts/ at the module's root.
func ArtifactsDir() string {
	if d := os.Getenv("GASPAY_TEST_ARTIFACTS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return "test-artifacts"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "test-artifacts")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "test-artifacts")
		}
	}
}

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	t   testing.TB
	ctx context.Context
	// UserAgent is what the tab sends; WeChat's in-app browser adds
	// "MicroMessenger/…" to a phone's (see Options.WeChat).
	UserAgent string
	shots     int

	mu sync.Mutex
	// exceptions collects the page's uncaught JavaScript exceptions.
	exceptions []string
}

// Options change how the browser presents itself.
type Options struct {
	// WeChat makes the user agent WeChat's in-app browser's.
	WeChat bool
}

const baseUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"

// WeChatUA is appended to the user agent by Options.WeChat: what WeChat's
// in-app browser adds.
const WeChatUA = " MicroMessenger/8.0.50.2701(0x28003252) WeChat/arm64 NetType/WIFI Language/zh_CN"

// New starts Chromium for t (or skips, see Require) with a phone-sized,
// touch-enabled tab, and closes it when the test ends. If the test failed,
// the page as it was is saved first, and the page's uncaught exceptions are
// logged.
func New(t testing.TB, opts ...Options) *Browser {
	t.Helper()
	path := Require(t)
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ua := baseUA
	if o.WeChat {
		ua += WeChatUA
	}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.WindowSize(Width, Height),
		chromedp.UserAgent(ua),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b := &Browser{t: t, ctx: ctx, UserAgent: ua}
	// The first Do starts the browser; it must have no timeout of its own,
	// or the browser would end with it.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Do(ctx, chromedp.EmulateViewport(Width, Height, chromedp.EmulateScale(1),
			chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	}()
	var err error
	select {
	case err = <-started:
	case <-time.After(60 * time.Second):
		err = errors.New("Chromium did not start within 60s")
	}
	if err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("browsertest: start Chromium %s: %v", path, err)
	}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			msg := ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil && ex.Description != "" {
				msg += " " + ex.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, msg)
			b.mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Logf("browsertest: runtime.enable: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if p, err := b.save("final"); err == nil {
				t.Logf("browsertest: screenshot of the page at the failure: %s", p)
			}
			for _, e := range b.Exceptions() {
				t.Logf("browsertest: page exception: %s", e)
			}
		}
		cancelCtx()
		cancelAlloc()
	})
	return b
}

// Context is the tab's context, for chromedp calls a test makes itself
// (without a timeout of its own: derive one from it).
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs actions in the tab, in order, within Timeout; on an error it
// saves a screenshot and fails the test, naming the step.
func (b *Browser) Do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	_ = Get(b, step, chromedp.Steps(actions...))
}

// Get runs one action that answers a value, as Do does.
func Get[T any](b *Browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := Try(b, a)
	if err != nil {
		if p, serr := b.save(step); serr == nil {
			b.t.Logf("browsertest: screenshot: %s", p)
		}
		b.t.Fatalf("browsertest: %s: %v", step, err)
	}
	return v
}

// Try runs one action within Timeout and returns its value and error.
func Try[T any](b *Browser, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", Timeout, err)
	}
	return v, err
}

// WaitText waits until the element the CSS selector matches is shown and
// its text contains want, and answers its text. It keeps asking across page
// loads (a click that navigates is fine), and fails the test with a
// screenshot when the text has not come within Timeout.
func (b *Browser) WaitText(step, css, want string) string {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e || !(e.offsetWidth || e.offsetHeight || e.getClientRects().length)) return ""; return e.innerText; })()`, css)
	deadline := time.Now().Add(Timeout)
	var last string
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		cancel()
		if err == nil && strings.Contains(text, want) {
			return text
		}
		last, lastErr = text, err
		time.Sleep(50 * time.Millisecond)
	}
	if p, err := b.save(step); err == nil {
		b.t.Logf("browsertest: screenshot: %s", p)
	}
	b.t.Fatalf("browsertest: %s: %q never showed %q within %s (last text %q, last error %v)", step, css, want, Timeout, last, lastErr)
	return ""
}

// Click clicks the element the CSS selector matches, once it is visible.
func (b *Browser) Click(step, css string) {
	b.t.Helper()
	b.Do(step, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// Fill replaces the value of the input the CSS selector matches with
// text, typed as a person would (input events fire).
func (b *Browser) Fill(step, css, text string) {
	b.t.Helper()
	b.Do(step, chromedp.Clear(chromedp.CSS(css), chromedp.NodeVisible), chromedp.SendKeys(chromedp.CSS(css), text, chromedp.NodeVisible))
}

// Navigate opens url in the tab and waits for it to load.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Do("open "+url, chromedp.Navigate(url))
}

// OnNewDocument runs script in every page the tab opens from now on,
// before the page's own scripts: a test stands in for what the real
// environment provides (WeChat's WeixinJSBridge, for one).
func (b *Browser) OnNewDocument(script string) {
	b.t.Helper()
	b.Do("add a script to every page", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	}))
}

// Eval evaluates a JavaScript expression in the page and answers its value.
func Eval[T any](b *Browser, step, expression string) T {
	b.t.Helper()
	return Get(b, step, chromedp.Evaluate[T](expression))
}

// Screenshot saves the page as it is now (the window, 414×896) under the
// artifacts folder and returns the file's path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	p, err := b.save(name)
	if err != nil {
		b.t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	return p
}

// ScreenshotTo saves the window as a PNG at path (for documentation).
func (b *Browser) ScreenshotTo(path string) error {
	buf, err := Try(b, chromedp.CaptureScreenshot())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf, 0o644)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (b *Browser) save(name string) (string, error) {
	b.shots++
	dir := ArtifactsDir()
	file := fmt.Sprintf("%s-%02d-%s.png", unsafeName.ReplaceAllString(b.t.Name(), "_"), b.shots,
		unsafeName.ReplaceAllString(name, "_"))
	p := filepath.Join(dir, file)
	// A failing page may be why the tab hangs: bound the capture.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, buf, 0o644)
}

// Exceptions are the JavaScript exceptions the pages threw so far.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}
