package wxpay_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

func TestAPIErrors(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tests := []struct {
		status      int
		code        string
		wantUnknown bool
	}{
		{status: 400, code: "PARAM_ERROR"},
		{status: 403, code: "RULE_LIMIT"},
		{status: 429, code: "FREQUENCY_LIMITED"},
		{status: 500, code: "SYSTEM_ERROR", wantUnknown: true},
		{status: 502, code: "BANK_ERROR", wantUnknown: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.code), func(t *testing.T) {
			e.fake.FailNext(wxpayfake.RouteJSAPI, tt.status, tt.code, "测试错误", 1)
			_, err := e.client.PrepayJSAPI(ctx, e.jsapiOrder(100))
			var ae *wxpay.APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != tt.status || ae.Code != tt.code || ae.Message != "测试错误" {
				t.Fatalf("err = %v", err)
			}
			if wxpay.IsUnknown(err) != tt.wantUnknown {
				t.Fatalf("IsUnknown = %v, want %v", !tt.wantUnknown, tt.wantUnknown)
			}
			if !strings.HasPrefix(err.Error(), "wxpay: prepay GAS") {
				t.Errorf("error %q lacks its prefix", err)
			}
		})
	}
}

func TestUnknownOutcomes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tests := []struct {
		name  string
		fault wxpayfake.Fault
	}{
		{name: "answer with a bad signature", fault: wxpayfake.Fault{BadSignature: true}},
		{name: "answer altered after signing", fault: wxpayfake.Fault{Corrupt: true}},
		{name: "answer signed 6 minutes ago", fault: wxpayfake.Fault{Skew: -6 * time.Minute}},
		{name: "answer signed 6 minutes ahead", fault: wxpayfake.Fault{Skew: 6 * time.Minute}},
		{name: "connection dropped after the order was created", fault: wxpayfake.Fault{Drop: true, AfterApply: true}},
		{name: "500 after the order was created", fault: wxpayfake.Fault{Status: 500, Code: "SYSTEM_ERROR", Message: "系统超时", AfterApply: true}},
		{name: "timeout", fault: wxpayfake.Fault{Delay: 700 * time.Millisecond}},
	}
	client := e.newClient(t, func(c *wxpay.Config) { c.HTTPClient = &http.Client{Timeout: 500 * time.Millisecond} })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fake.InjectFault(wxpayfake.RouteJSAPI, tt.fault, 1)
			req := e.jsapiOrder(100)
			p, err := client.PrepayJSAPI(ctx, req)
			if !wxpay.IsUnknown(err) {
				t.Fatalf("err = %v, params %+v: want an unknown outcome", err, p)
			}
			if p != (wxpay.PaymentParams{}) {
				t.Fatalf("params returned with an unknown outcome: %+v", p)
			}
			// Unknown means: ask. A retry with the same parameters is safe.
			if _, err := client.PrepayJSAPI(ctx, req); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}

	t.Run("bad signature on a query", func(t *testing.T) {
		paid := e.paidOrder(t, 100)
		e.fake.InjectFault(wxpayfake.RouteQuery, wxpayfake.Fault{BadSignature: true}, 1)
		tx, err := e.client.Query(ctx, paid.OutTradeNo)
		if !wxpay.IsUnknown(err) || tx.State != "" {
			t.Fatalf("%+v, %v: a forged SUCCESS must not be believed", tx, err)
		}
	})

	t.Run("bad signature on an empty 204", func(t *testing.T) {
		req := e.jsapiOrder(100)
		if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
			t.Fatal(err)
		}
		e.fake.InjectFault(wxpayfake.RouteClose, wxpayfake.Fault{BadSignature: true}, 1)
		if err := e.client.Close(ctx, req.OutTradeNo); !wxpay.IsUnknown(err) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("server gone", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		c := e.newClient(t, func(c *wxpay.Config) { c.BaseURL = gone.URL })
		_, err := c.Query(ctx, orderNo())
		if !wxpay.IsUnknown(err) || errors.Is(err, wxpay.ErrOrderNotFound) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("answer by another WeChat Pay key", func(t *testing.T) {
		other := newEnv(t)
		c := e.newClient(t, func(c *wxpay.Config) { c.PlatformPublicKey = &other.keys.PlatformKey.PublicKey })
		if _, err := c.Query(ctx, e.paidOrder(t, 100).OutTradeNo); !wxpay.IsUnknown(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestRequestAuthentication checks both halves of the protocol by hand: the
// fake accepts only requests signed by the merchant key, and its answers
// verify with the platform key.
func TestRequestAuthentication(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	stranger, err := wxpayfake.NewKeys()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("client with another merchant key", func(t *testing.T) {
		c := e.newClient(t, func(c *wxpay.Config) { c.MerchantKey = stranger.MerchantKey })
		_, err := c.PrepayJSAPI(ctx, e.jsapiOrder(100))
		var ae *wxpay.APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusUnauthorized || ae.Code != "SIGN_ERROR" || wxpay.IsUnknown(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("client with another serial", func(t *testing.T) {
		c := e.newClient(t, func(c *wxpay.Config) { c.MerchantSerialNo = stranger.MerchantSerialNo })
		if _, err := c.Query(ctx, orderNo()); wxpay.Code(err) != "SIGN_ERROR" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("client with another mchid", func(t *testing.T) {
		c := e.newClient(t, func(c *wxpay.Config) { c.MchID = "1900000999" })
		if _, err := c.Query(ctx, orderNo()); wxpay.Code(err) != "SIGN_ERROR" {
			t.Fatalf("err = %v", err)
		}
	})

	body := `{"mchid":"` + testMchID + `"}`
	uri := "/v3/pay/transactions/out-trade-no/" + e.paidOrder(t, 100).OutTradeNo + "?mchid=" + testMchID
	tests := []struct {
		name       string
		key        *rsa.PrivateKey
		age        time.Duration
		signedBody string // what the signature covers, if not the body sent
		wantStatus int
	}{
		{name: "genuine", key: e.keys.MerchantKey, wantStatus: http.StatusOK},
		{name: "four minutes old", key: e.keys.MerchantKey, age: 4 * time.Minute, wantStatus: http.StatusOK},
		{name: "other merchant key", key: stranger.MerchantKey, wantStatus: http.StatusUnauthorized},
		{name: "five minutes old", key: e.keys.MerchantKey, age: 5 * time.Minute, wantStatus: http.StatusUnauthorized},
		{name: "body changed after signing", key: e.keys.MerchantKey, signedBody: `{"mchid":"x"}`, wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := strconv.FormatInt(time.Now().Add(-tt.age).Unix(), 10)
			nonce := "N" + ts
			signed := body
			if tt.signedBody != "" {
				signed = tt.signedBody
			}
			sum := sha256.Sum256([]byte("GET\n" + uri + "\n" + ts + "\n" + nonce + "\n" + signed + "\n"))
			sig, err := rsa.SignPKCS1v15(rand.Reader, tt.key, crypto.SHA256, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.api.URL+uri, strings.NewReader(body))
			req.Header.Set("Authorization", fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",timestamp="%s",serial_no="%s",signature="%s"`,
				testMchID, nonce, ts, e.keys.MerchantSerialNo, base64.StdEncoding.EncodeToString(sig)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, answer)
			}
			if resp.StatusCode != http.StatusOK {
				if !bytes.Contains(answer, []byte(`"SIGN_ERROR"`)) || resp.Header.Get("Wechatpay-Signature") != "" {
					t.Fatalf("refusal %s with signature %q", answer, resp.Header.Get("Wechatpay-Signature"))
				}
				return
			}
			h := resp.Header
			if h.Get("Wechatpay-Serial") != e.keys.PlatformPublicKeyID || h.Get("Request-ID") == "" {
				t.Fatalf("headers %v", h)
			}
			msg := h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(answer) + "\n"
			rsig, err := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
			if err != nil {
				t.Fatal(err)
			}
			rsum := sha256.Sum256([]byte(msg))
			if err := rsa.VerifyPKCS1v15(&e.keys.PlatformKey.PublicKey, crypto.SHA256, rsum[:], rsig); err != nil {
				t.Fatalf("answer signature: %v", err)
			}
		})
	}
	if e.fake.AuthFailures() < 6 {
		t.Errorf("auth failures = %d", e.fake.AuthFailures())
	}
}

func TestNewConfig(t *testing.T) {
	keys, err := wxpayfake.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	valid := wxpay.Config{
		MchID: testMchID, MerchantSerialNo: keys.MerchantSerialNo, MerchantKey: keys.MerchantKey,
		PlatformPublicKeyID: keys.PlatformPublicKeyID, PlatformPublicKey: &keys.PlatformKey.PublicKey, APIv3Key: keys.APIv3Key,
	}
	tests := []struct {
		name   string
		change func(*wxpay.Config)
		ok     bool
	}{
		{name: "valid, real host, default client", change: func(*wxpay.Config) {}, ok: true},
		{name: "valid, sandbox", change: func(c *wxpay.Config) { c.BaseURL = "http://127.0.0.1:18080" }, ok: true},
		{name: "no mchid", change: func(c *wxpay.Config) { c.MchID = "" }},
		{name: "no merchant key", change: func(c *wxpay.Config) { c.MerchantKey = nil }},
		{name: "empty merchant key", change: func(c *wxpay.Config) { c.MerchantKey = &rsa.PrivateKey{} }},
		{name: "1024-bit merchant key", change: func(c *wxpay.Config) {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			c.MerchantKey = k
		}},
		{name: "no public key", change: func(c *wxpay.Config) { c.PlatformPublicKey = nil }},
		{name: "no public key id", change: func(c *wxpay.Config) { c.PlatformPublicKeyID = "" }},
		{name: "16-byte APIv3 key", change: func(c *wxpay.Config) { c.APIv3Key = c.APIv3Key[:16] }},
		{name: "client without timeout", change: func(c *wxpay.Config) { c.HTTPClient = &http.Client{} }},
		{name: "base URL with a path", change: func(c *wxpay.Config) { c.BaseURL = "http://127.0.0.1:18080/wxpay" }},
		{name: "base URL without scheme", change: func(c *wxpay.Config) { c.BaseURL = "127.0.0.1:18080" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			_, err := wxpay.New(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), keys.APIv3Key) {
				t.Fatal("error leaks the APIv3 key")
			}
		})
	}
	for _, s := range []string{fmt.Sprint(valid), fmt.Sprintf("%+v", valid), fmt.Sprintf("%#v", valid), fmt.Sprint(keys), fmt.Sprintf("%#v", keys)} {
		if strings.Contains(s, keys.APIv3Key) || strings.Contains(s, keys.MerchantKey.D.String()) {
			t.Fatalf("printing leaks a secret: %s", s)
		}
	}
}
