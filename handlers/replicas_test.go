package handlers_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"

	"gaspay/internal/apptest"
	"gaspay/wechat"
)

// Two replicas on one database and one Redis: a login made on one works on
// the other, and they share one WeChat access token, fetched once.
func TestTwoReplicas(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	a, b := env.Start(), env.Start()

	token := a.Login("alice")
	if r := bind(b, token, "user_number", "031140086", "秦淮"); r.Status != http.StatusCreated {
		t.Fatalf("bind on b with a's token: %d %s", r.Status, r.Body)
	}
	list := a.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: token}).JSON(t)["bindings"].([]any)
	if len(list) != 1 {
		t.Fatalf("a sees %d bindings made on b", len(list))
	}

	// Forty pages opened at once across both replicas need the JS-SDK
	// ticket, which needs the access token.
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 40 {
		srv := []*apptest.Instance{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			page := srv.URL + "/h5/bind?x=1#top"
			r := srv.Do(apptest.Request{Method: "GET", Path: "/api/oa/jssdk-config?url=" + url.QueryEscape(page), Token: token})
			if r.Status != http.StatusOK {
				errs <- string(r.Body)
				return
			}
			c := r.JSON(t)
			want := wechat.JSSDKSignature(env.WX.Ticket(apptest.OAAppID), c["nonceStr"].(string), int64(c["timestamp"].(float64)), srv.URL+"/h5/bind?x=1")
			if c["signature"] != want || c["appId"] != apptest.OAAppID {
				errs <- "bad signature: " + string(r.Body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := env.WX.Calls("/cgi-bin/stable_token"); n != 1 {
		t.Errorf("access token fetched %d times, want once", n)
	}
	if n := env.WX.Calls("/cgi-bin/ticket/getticket"); n != 1 {
		t.Errorf("ticket fetched %d times, want once", n)
	}

	// A logout on b ends the session on a.
	if r := b.Do(apptest.Request{Method: "POST", Path: "/api/logout", Token: token}); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d", r.Status)
	}
	if r := a.Do(apptest.Request{Method: "GET", Path: "/api/bindings", Token: token}); r.Status != http.StatusUnauthorized {
		t.Fatalf("a still honours a token revoked on b: %d", r.Status)
	}
}

func TestJSSDKConfigRefusesForeignPages(t *testing.T) {
	env := apptest.New(t, nil)
	srv := env.Start()
	token := srv.Login("alice")
	for _, page := range []string{"https://evil.example/h5/", "javascript:alert(1)", "", srv.URL + "@evil.example/"} {
		r := srv.Do(apptest.Request{Method: "GET", Path: "/api/oa/jssdk-config?url=" + url.QueryEscape(page), Token: token})
		if r.Status != 400 || r.Code(t) != "invalid_url" {
			t.Errorf("%q: %d %s", page, r.Status, r.Body)
		}
	}
	if n := env.WX.Calls("/cgi-bin/stable_token"); n != 0 {
		t.Errorf("foreign pages fetched a token")
	}
}
