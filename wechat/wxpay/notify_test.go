package wxpay_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

// captured is a notification as it reached a merchant endpoint.
type captured struct {
	header http.Header
	body   []byte
}

func (c captured) request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(c.body))
	r.Header = c.header.Clone()
	return r
}

// captureServer records notifications and acknowledges them, so that a test
// can parse each one itself and look at the error.
func captureServer(t *testing.T) (string, <-chan captured) {
	ch := make(chan captured, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- captured{header: r.Header.Clone(), body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

func TestPaymentNotificationVariants(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	paid := e.paidOrder(t, 1500)
	url, got := captureServer(t)

	tests := []struct {
		name   string
		opts   wxpayfake.NotifyOptions
		wantOK bool
	}{
		{name: "genuine", wantOK: true},
		{name: "genuine, 200 s old", opts: wxpayfake.NotifyOptions{StaleTimestamp: 200 * time.Second}, wantOK: true},
		{name: "tampered body", opts: wxpayfake.NotifyOptions{Tamper: true}},
		{name: "wrong APIv3 key", opts: wxpayfake.NotifyOptions{WrongAPIv3Key: true}},
		{name: "wrong signature", opts: wxpayfake.NotifyOptions{WrongSignature: true}},
		{name: "unknown public key id", opts: wxpayfake.NotifyOptions{WrongSerial: true}},
		{name: "timestamp 301 s old", opts: wxpayfake.NotifyOptions{StaleTimestamp: 301 * time.Second}},
		{name: "SIGNTEST probe", opts: wxpayfake.NotifyOptions{SignTest: true}},
		{name: "16-byte GCM nonce (the SDK panics)", opts: wxpayfake.NotifyOptions{BadNonceLength: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.URL = url
			if _, err := e.fake.SendPaymentNotification(ctx, paid.OutTradeNo, opts); err != nil {
				t.Fatal(err)
			}
			n, err := e.client.ParsePaymentNotification((<-got).request())
			if tt.wantOK {
				if err != nil || n.Resource.OutTradeNo != paid.OutTradeNo || n.Resource.State != wxpay.TradeSuccess {
					t.Fatalf("genuine notification: %+v, %v", n, err)
				}
				return
			}
			if !errors.Is(err, wxpay.ErrBadNotification) {
				t.Fatalf("err = %v, want ErrBadNotification", err)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error too long for a log line (%d bytes): %s", len(err.Error()), err)
			}
		})
	}
}

func TestForgedNotifications(t *testing.T) {
	e := newEnv(t)
	tx := map[string]any{"appid": appMini, "mchid": testMchID, "out_trade_no": orderNo(), "transaction_id": "4200000000000000000000000001",
		"trade_type": "JSAPI", "trade_state": "SUCCESS", "success_time": "2024-05-01T10:00:00+08:00",
		"payer": map[string]string{"openid": "o1"}, "amount": map[string]any{"total": 100, "payer_total": 100, "currency": "CNY"}}
	other := map[string]any{}
	for k, v := range tx {
		other[k] = v
	}
	other["mchid"] = "1900000999"
	refund := map[string]any{"mchid": testMchID, "out_trade_no": "GAS000001", "out_refund_no": "R1", "refund_status": "SUCCESS"}

	tests := []struct {
		name string
		body []byte
	}{
		{name: "no resource (the SDK dereferences nil)", body: []byte(`{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}`)},
		{name: "not JSON", body: []byte(`<xml>`)},
		{name: "empty body", body: nil},
		{name: "other algorithm", body: notificationBody(t, e.keys.APIv3Key, "TRANSACTION.SUCCESS", "transaction", tx, "AEAD_SM4_GCM")},
		{name: "plaintext not JSON", body: notificationBody(t, e.keys.APIv3Key, "TRANSACTION.SUCCESS", "transaction", "not json", "")},
		{name: "another merchant's payment", body: notificationBody(t, e.keys.APIv3Key, "TRANSACTION.SUCCESS", "transaction", other, "")},
		{name: "refund event sent to the payment endpoint", body: notificationBody(t, e.keys.APIv3Key, "REFUND.SUCCESS", "refund", refund, "")},
		{name: "larger than 64 KiB", body: bytes.Repeat([]byte(" "), 65<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.ParsePaymentNotification(signedRequest(t, e.keys, tt.body))
			if !errors.Is(err, wxpay.ErrBadNotification) {
				t.Fatalf("err = %v, want ErrBadNotification", err)
			}
		})
	}
	t.Run("genuine forged by the test itself", func(t *testing.T) {
		n, err := e.client.ParsePaymentNotification(signedRequest(t, e.keys, notificationBody(t, e.keys.APIv3Key, "TRANSACTION.SUCCESS", "transaction", tx, "")))
		if err != nil || n.Resource.TotalFen != 100 || n.Resource.SuccessTime.IsZero() {
			t.Fatalf("%+v, %v", n, err)
		}
	})
}

// notificationBody builds a notification body with the resource encrypted
// under key; algorithm "" means AEAD_AES_256_GCM.
func notificationBody(tb testing.TB, key, eventType, originalType string, resource any, algorithm string) []byte {
	tb.Helper()
	plain, err := json.Marshal(resource)
	if err != nil {
		tb.Fatal(err)
	}
	if s, ok := resource.(string); ok {
		plain = []byte(s)
	}
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		tb.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	nonce := "0123456789ab"
	if algorithm == "" {
		algorithm = "AEAD_AES_256_GCM"
	}
	body, err := json.Marshal(map[string]any{
		"id": "EV-2024050110000012345678", "create_time": "2024-05-01T10:00:01+08:00", "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": "forged",
		"resource": map[string]string{
			"original_type": originalType, "algorithm": algorithm, "associated_data": originalType, "nonce": nonce,
			"ciphertext": base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plain, []byte(originalType))),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// signedRequest wraps body in a notification request genuinely signed with
// the platform key.
func signedRequest(tb testing.TB, keys wxpayfake.Keys, body []byte) *http.Request {
	tb.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := "n0nce" + ts
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, keys.PlatformKey, crypto.SHA256, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Wechatpay-Timestamp", ts)
	r.Header.Set("Wechatpay-Nonce", nonce)
	r.Header.Set("Wechatpay-Serial", keys.PlatformPublicKeyID)
	r.Header.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	r.Header.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return r
}

func TestConcurrentDuplicateNotifications(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	req := e.jsapiOrder(6600)
	if _, err := e.client.PrepayJSAPI(ctx, req); err != nil {
		t.Fatal(err)
	}
	if res, err := e.fake.Pay(ctx, req.OutTradeNo, ""); err != nil || !res.Acknowledged() {
		t.Fatalf("pay: %+v, %v", res, err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res, err := e.fake.SendPaymentNotification(ctx, req.OutTradeNo, wxpayfake.NotifyOptions{})
			if err != nil || !res.Acknowledged() {
				t.Errorf("duplicate: %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	notes, errs := e.paymentNotes()
	if len(errs) != 0 || len(notes) != 21 {
		t.Fatalf("%d notifications, errors %v", len(notes), errs)
	}
	for _, n := range notes {
		if n.ID != notes[0].ID || n.Resource != notes[0].Resource {
			t.Fatalf("duplicates differ: %+v vs %+v", n, notes[0])
		}
	}
}

func TestRefundNotification(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	paid := e.paidOrder(t, 5000)
	r, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: paid.OutTradeNo, OutRefundNo: "R" + paid.OutTradeNo,
		Reason: "多充退回", NotifyURL: e.refundURL, RefundFen: 2000, TotalFen: 5000})
	if err != nil || r.Status != wxpay.RefundProcessing {
		t.Fatalf("refund: %+v, %v", r, err)
	}
	res, err := e.fake.CompleteRefund(ctx, r.OutRefundNo)
	if err != nil || !res.Acknowledged() {
		t.Fatalf("complete: %+v, %v", res, err)
	}
	notes, errs := e.refundNotes()
	if len(errs) != 0 || len(notes) != 1 {
		t.Fatalf("notes %v, errs %v", notes, errs)
	}
	n := notes[0]
	want := wxpay.Refund{OutRefundNo: r.OutRefundNo, RefundID: r.RefundID, OutTradeNo: paid.OutTradeNo, TransactionID: r.TransactionID,
		Status: wxpay.RefundSuccess, RefundFen: 2000, TotalFen: 5000, PayerRefundFen: 2000, UserReceivedAccount: "支付用户零钱"}
	got := n.Resource
	got.SuccessTime = time.Time{}
	if n.EventType != "REFUND.SUCCESS" || got != want || n.Resource.SuccessTime.IsZero() {
		t.Fatalf("notification %+v\nwant resource %+v", n, want)
	}

	url, ch := captureServer(t)
	for _, opts := range []wxpayfake.NotifyOptions{{Tamper: true}, {WrongAPIv3Key: true}, {BadNonceLength: true}, {SignTest: true}} {
		opts.URL = url
		if _, err := e.fake.SendRefundNotification(ctx, r.OutRefundNo, opts); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.ParseRefundNotification((<-ch).request()); !errors.Is(err, wxpay.ErrBadNotification) {
			t.Fatalf("%+v: err = %v", opts, err)
		}
	}
	// A payment notification is not a refund.
	if _, err := e.fake.SendPaymentNotification(ctx, paid.OutTradeNo, wxpayfake.NotifyOptions{URL: url}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ParseRefundNotification((<-ch).request()); !errors.Is(err, wxpay.ErrBadNotification) {
		t.Fatalf("payment event accepted as refund: %v", err)
	}
}

// FuzzParsePaymentNotification feeds arbitrary bodies, genuinely signed so
// that they reach decryption and parsing, and requires a clean result or
// ErrBadNotification: never a panic, never another error.
func FuzzParsePaymentNotification(f *testing.F) {
	e := newEnv(f)
	tx := map[string]any{"mchid": testMchID, "out_trade_no": "GAS000000001", "trade_state": "SUCCESS"}
	f.Add(notificationBody(f, e.keys.APIv3Key, "TRANSACTION.SUCCESS", "transaction", tx, ""))
	f.Add([]byte(`{"id":"1","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"short","ciphertext":"AAAA"}}`))
	f.Add([]byte(`{"resource":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := e.client.ParsePaymentNotification(signedRequest(t, e.keys, body))
		if err != nil && !errors.Is(err, wxpay.ErrBadNotification) {
			t.Fatalf("err = %v, want ErrBadNotification", err)
		}
		if err == nil && (n.Resource.MchID != testMchID || n.Resource.OutTradeNo == "") {
			t.Fatalf("accepted %+v", n)
		}
	})
}

func ExampleClient_ParsePaymentNotification() {
	var client *wxpay.Client // built with wxpay.New at start-up
	handler := func(w http.ResponseWriter, r *http.Request) {
		n, err := client.ParsePaymentNotification(r)
		if err != nil {
			// WeChat retries: a genuine notification comes again.
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprint(w, `{"code":"FAIL","message":"bad notification"}`)
			return
		}
		_ = n.Resource // record the payment (idempotently, by out_trade_no), then acknowledge
		w.WriteHeader(http.StatusNoContent)
	}
	_ = handler
}
