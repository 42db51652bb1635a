package wxpayfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseAuthorization(t *testing.T) {
	const good = `WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="abc",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",signature="uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XyUgx9FmutKSYTmYtWBZ0+tNvfGmbXU7cob8H/4nLBiCwIUFluw=="`
	tests := []struct {
		name    string
		header  string
		wantErr bool
	}{
		{name: "WeChat's documented example", header: good},
		{name: "fields in another order", header: `WECHATPAY2-SHA256-RSA2048 signature="c2ln",timestamp="1",serial_no="S",nonce_str="n",mchid="m"`},
		{name: "spaces after commas", header: `WECHATPAY2-SHA256-RSA2048 mchid="m", nonce_str="n", timestamp="1", serial_no="S", signature="c2ln"`},
		{name: "empty", header: "", wantErr: true},
		{name: "other scheme", header: strings.Replace(good, "WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SM2-WITH-SM3", 1), wantErr: true},
		{name: "unquoted value", header: `WECHATPAY2-SHA256-RSA2048 mchid=m,nonce_str="n",timestamp="1",serial_no="S",signature="c2ln"`, wantErr: true},
		{name: "missing signature", header: `WECHATPAY2-SHA256-RSA2048 mchid="m",nonce_str="n",timestamp="1",serial_no="S"`, wantErr: true},
		{name: "duplicate mchid", header: `WECHATPAY2-SHA256-RSA2048 mchid="m",mchid="x",nonce_str="n",timestamp="1",serial_no="S",signature="c2ln"`, wantErr: true},
		{name: "unknown field", header: good + `,extra="1"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseAuthorization(tt.header)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (p.MchID == "" || p.Nonce == "" || p.Timestamp == "" || p.SerialNo == "" || p.Signature == "") {
				t.Fatalf("incomplete %+v", p)
			}
		})
	}
	p, _ := parseAuthorization(good)
	if p.MchID != "1900000001" || p.Timestamp != "1554208460" || !strings.HasSuffix(p.Signature, "==") {
		t.Fatalf("parsed %+v", p)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="m",nonce_str="n",timestamp="1",serial_no="S",signature="c2ln"`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 ,,,`)
	f.Add(`WECHATPAY2-SHA256-RSA2048 mchid="`)
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseAuthorization(h)
		if err == nil && (p.MchID == "" || p.Signature == "") {
			t.Fatalf("accepted incomplete %q", h)
		}
	})
}

func TestMoneyFormat(t *testing.T) {
	tests := []struct {
		fen  int64
		yuan string
		fee5 string
	}{
		{fen: 0, yuan: "0.00", fee5: "0.00000"},
		{fen: 1, yuan: "0.01", fee5: "0.00000"},
		{fen: 83, yuan: "0.83", fee5: "0.00000"}, // 0.498 fen rounds down
		{fen: 84, yuan: "0.84", fee5: "0.01000"}, // 0.504 fen rounds up
		{fen: 2550, yuan: "25.50", fee5: "0.15000"},
		{fen: 150000, yuan: "1500.00", fee5: "9.00000"},
		{fen: -1000, yuan: "-10.00", fee5: "-0.06000"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fen), func(t *testing.T) {
			if got := yuan(tt.fen); got != tt.yuan {
				t.Errorf("yuan = %s, want %s", got, tt.yuan)
			}
			if got := feeYuan(fee(tt.fen)); got != tt.fee5 {
				t.Errorf("fee = %s, want %s", got, tt.fee5)
			}
		})
	}
}

func TestAuthCodes(t *testing.T) {
	for o := CodePaySuccess; o <= CodePaySystemErrorPaid; o++ {
		code := AuthCode(o)
		if !validAuthCode(code) || outcomeOf(code) != o {
			t.Errorf("outcome %d: code %s valid=%v outcome=%d", o, code, validAuthCode(code), outcomeOf(code))
		}
	}
	for _, bad := range []string{"", "134567890123456789x", "163456789012345678", "09345678901234567", "13345678901234567a"} {
		if validAuthCode(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if outcomeOf("134567890123456700") != CodePaySuccess {
		t.Error("an ordinary code must pay")
	}
}

func TestOutTradeNoAndNotifyURL(t *testing.T) {
	for no, want := range map[string]bool{
		"GAS001": true, "A|b*c-d_e": true, strings.Repeat("9", 32): true,
		"GAS01": false, strings.Repeat("9", 33): false, "GAS 001": false, "GAS.001": false, "燃气00001": false,
	} {
		if validOutTradeNo(no) != want {
			t.Errorf("validOutTradeNo(%q) != %v", no, want)
		}
	}
	for u, want := range map[string]bool{
		"https://pay.example.com/wx/notify": true, "http://127.0.0.1:8080/n": true,
		"https://pay.example.com/n?x=1": false, "ftp://x/n": false, "/relative": false, "": false,
	} {
		if validNotifyURL(u) != want {
			t.Errorf("validNotifyURL(%q) != %v", u, want)
		}
	}
}

func TestServerPlumbing(t *testing.T) {
	keys, err := NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	s, err := New(keys.Config("1900000001"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	t.Run("unknown route answers JSON 404", func(t *testing.T) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v3/nothing", nil))
		var body map[string]string
		if rec.Code != http.StatusNotFound || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["code"] != "NOT_FOUND" {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("unsigned request is refused and counted", func(t *testing.T) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v3/pay/transactions/jsapi", strings.NewReader("{}")))
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "SIGN_ERROR") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if s.Requests(RouteJSAPI) != 1 || s.AuthFailures() != 1 {
			t.Fatalf("requests %d, auth failures %d", s.Requests(RouteJSAPI), s.AuthFailures())
		}
	})
	t.Run("faults queue in order", func(t *testing.T) {
		s.FailNext(RouteQuery, 500, "A", "", 2)
		s.FailNext(RouteQuery, 400, "B", "", 1)
		s.mu.Lock()
		var got []string
		for range 4 {
			got = append(got, s.popFault(RouteQuery).Code)
		}
		s.mu.Unlock()
		if strings.Join(got, ",") != "A,A,B," {
			t.Fatalf("faults %v", got)
		}
	})
	t.Run("keys print masked", func(t *testing.T) {
		for _, out := range []string{fmt.Sprint(keys), fmt.Sprintf("%+v", keys), fmt.Sprintf("%#v", keys)} {
			if strings.Contains(out, keys.APIv3Key) || strings.Contains(out, keys.PlatformKey.D.String()) {
				t.Fatalf("leak: %s", out)
			}
		}
	})
	t.Run("customer actions on unknown orders", func(t *testing.T) {
		if _, err := s.Pay(t.Context(), "NOPE000001", ""); err == nil {
			t.Fatal("paid an unknown order")
		}
		if err := s.PayQuietly("NOPE000001"); err == nil {
			t.Fatal("paid an unknown order")
		}
		if _, err := s.CompleteRefund(t.Context(), "NOPE"); err == nil {
			t.Fatal("completed an unknown refund")
		}
	})
	t.Run("close waits for background work", func(t *testing.T) {
		s2, _ := New(keys.Config("1900000001"))
		s2.mu.Lock()
		done := make(chan struct{})
		s2.spawnLocked(func(ctx context.Context) {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond)
			close(done)
		})
		s2.mu.Unlock()
		s2.Close()
		select {
		case <-done:
		default:
			t.Fatal("Close returned before background work ended")
		}
	})
}
