package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gaspay/internal/testenv"
	"gaspay/rediskv"
	"gaspay/wechat"
	"gaspay/wechat/wxfake"
)

const secret = "s3cr3t-app-secret-do-not-leak"

var app = wechat.App{AppID: "wxappid0001", Secret: secret}

func newClient(t *testing.T, base string, rdb *rediskv.Client) *wechat.Client {
	return wechat.NewClient(base, 2*time.Second, rediskv.KV{C: rdb}, testenv.Logger())
}

func fake(t *testing.T) (*wxfake.Server, string) {
	f := wxfake.New(map[string]string{app.AppID: app.Secret})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestLogins(t *testing.T) {
	f, base := fake(t)
	c := newClient(t, base, testenv.Redis(t))
	ctx := context.Background()

	s, err := c.Code2Session(ctx, app, "test:alice")
	if err != nil || s.OpenID != wxfake.OpenID(app.AppID, "alice") || s.SessionKey == "" {
		t.Fatalf("Code2Session = %+v, %v", s, err)
	}
	code := f.IssueCode(app.AppID, "openid-1", false)
	if _, err := c.Code2Session(ctx, app, code); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Code2Session(ctx, app, code); !errors.Is(err, wechat.ErrInvalidCode) {
		t.Fatalf("used code: %v", err)
	}
	if _, err := c.Code2Session(ctx, app, "forged"); !errors.Is(err, wechat.ErrInvalidCode) {
		t.Fatalf("forged code: %v", err)
	}
	snap := f.IssueCode(app.AppID, "openid-2", true)
	u, err := c.OAuthExchange(ctx, app, snap)
	if err != nil || !u.Snapshot || u.OpenID != "openid-2" {
		t.Fatalf("OAuthExchange snapshot = %+v, %v", u, err)
	}
	if _, err := c.Code2Session(ctx, wechat.App{AppID: app.AppID, Secret: "wrong"}, "test:a"); !wechat.IsCode(err, 40125) {
		t.Fatalf("wrong secret: %v", err)
	}
}

// Replicas share one token: however many ask at once, WeChat is asked once.
func TestAccessTokenFetchedOnceAcrossReplicas(t *testing.T) {
	f, base := fake(t)
	rdb := testenv.Redis(t)
	replicas := []*wechat.Client{newClient(t, base, rdb), newClient(t, base, testenv.ReopenRedis(t, rdb))}
	var wg sync.WaitGroup
	tokens := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := replicas[i%2].AccessToken(context.Background(), app)
			if err != nil {
				t.Error(err)
			}
			tokens <- tok
		}()
	}
	wg.Wait()
	close(tokens)
	first := <-tokens
	for tok := range tokens {
		if tok != first {
			t.Fatalf("replicas got different tokens")
		}
	}
	if n := f.Calls("/cgi-bin/stable_token"); n != 1 {
		t.Fatalf("stable_token called %d times", n)
	}
	ttl := rdb.TTL(context.Background(), rediskv.KV{C: rdb}.KeyOf("wechat:token:"+app.AppID)).Val()
	if ttl <= 6800*time.Second || ttl > 6900*time.Second {
		t.Fatalf("token cached for %s, want expires_in - 300s", ttl)
	}
}

// A token WeChat no longer accepts is dropped and the call retried once.
func TestInvalidTokenRetriedOnce(t *testing.T) {
	f, base := fake(t)
	c := newClient(t, base, testenv.Redis(t))
	ctx := context.Background()
	msg := wechat.TemplateMessage{ToUser: "openid-1", TemplateID: "tpl", Data: map[string]wechat.TemplateValue{"a": {Value: "1"}}}
	if err := c.SendTemplate(ctx, app, msg); err != nil {
		t.Fatal(err)
	}
	f.RevokeTokens() // another party forced a refresh: our cached token is now 40001
	if err := c.SendTemplate(ctx, app, msg); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if n := f.Calls("/cgi-bin/stable_token"); n != 2 {
		t.Errorf("stable_token calls = %d, want 2", n)
	}
	if n := len(f.SentMessages()); n != 2 {
		t.Errorf("messages sent = %d, want 2", n)
	}
	// Expired twice in a row: one retry only, then the error.
	f.Fail("/cgi-bin/message/template/send", wxfake.Fault{ErrCode: 42001, ErrMsg: "expired"}, wxfake.Fault{ErrCode: 42001, ErrMsg: "expired"})
	if err := c.SendTemplate(ctx, app, msg); !wechat.IsCode(err, 42001) {
		t.Fatalf("twice expired: %v", err)
	}
	if n := f.Calls("/cgi-bin/message/template/send"); n != 5 {
		t.Errorf("template sends = %d, want 5", n)
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	ctx := context.Background()
	// Nothing listens here.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c := newClient(t, base, testenv.Redis(t))
	_, err := c.Code2Session(ctx, app, "test:a")
	if err == nil || !errors.Is(err, wechat.ErrUnavailable) || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), url.QueryEscape(secret)) {
		t.Fatalf("error = %v", err)
	}
	_, err = c.OAuthExchange(ctx, app, "x")
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error = %v", err)
	}
	_, err = c.AccessToken(ctx, app)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error = %v", err)
	}
}

func TestCallsTimeOut(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	c := wechat.NewClient(slow.URL, 200*time.Millisecond, rediskv.KV{C: testenv.Redis(t)}, testenv.Logger())
	start := time.Now()
	_, err := c.Code2Session(context.Background(), app, "test:a")
	if !errors.Is(err, wechat.ErrUnavailable) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func TestAuthorizeURL(t *testing.T) {
	got := wechat.AuthorizeURL("https://open.weixin.qq.com/connect/oauth2/authorize", "wx123", "https://pay.example.com/oa/callback", "abc123")
	want := "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx123&redirect_uri=https%3A%2F%2Fpay.example.com%2Foa%2Fcallback&response_type=code&scope=snsapi_base&state=abc123#wechat_redirect"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// The example of WeChat's JS-SDK documentation (附录1).
func TestJSSDKSignatureVector(t *testing.T) {
	got := wechat.JSSDKSignature("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		"Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value")
	if want := "0f9de62fce790f9a083d5c99e95740ceb90c27ed"; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}
