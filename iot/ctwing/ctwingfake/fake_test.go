package ctwingfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"gaspay/iot/ctwing"
	"gaspay/iot/ctwing/ctwingfake"
)

const (
	appKey    = "dAaFG7DiPt8"
	appSecret = "test-app-secret"
	masterKey = "a7131673e84842178d56a704511c40ef"
	productID = 10000577
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type world struct {
	fake   *ctwingfake.Server
	client *ctwing.Client
	clock  *clock
	pushes chan []byte
}

func newWorld(t *testing.T, secret string) *world {
	t.Helper()
	w := &world{clock: &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}, pushes: make(chan []byte, 100)}
	sub := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var b json.RawMessage
		json.NewDecoder(r.Body).Decode(&b)
		w.pushes <- b
	}))
	t.Cleanup(sub.Close)
	w.fake = ctwingfake.New(ctwingfake.Config{AppKey: appKey, AppSecret: appSecret, MasterKey: masterKey, ProductID: productID,
		PushURL: sub.URL, Now: w.clock.Now})
	srv := httptest.NewServer(w.fake)
	t.Cleanup(srv.Close)
	w.client = ctwing.New(ctwing.Config{BaseURL: srv.URL, AppKey: appKey, AppSecret: secret, MasterKey: masterKey,
		ProductID: productID, Now: w.clock.Now})
	return w
}

// The canonical string of the AEP SDK, as a golden value: application,
// timestamp, the query parameters in name order, then the body.
func TestSignGolden(t *testing.T) {
	q := url.Values{"productId": {"10000577"}, "deviceId": {"dev1"}, "commandId": {"674"}}
	got := ctwing.Sign("secret", "dAaFG7DiPt8", "1515752817580", q, nil)
	// base64(HMAC-SHA1("secret", "application:dAaFG7DiPt8\ntimestamp:1515752817580\ncommandId:674\ndeviceId:dev1\nproductId:10000577\n"))
	const want = "zSnq7C80eOHolqeYTMaCrYCJGuI="
	if got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if ctwing.Sign("secret", "dAaFG7DiPt8", "1515752817580", nil, []byte(`{"a":1}`)) == ctwing.Sign("secret", "dAaFG7DiPt8", "1515752817580", nil, []byte(`{"a":2}`)) {
		t.Fatal("the body is not signed")
	}
}

func TestCreateQueryCancel(t *testing.T) {
	w := newWorld(t, appSecret)
	ctx := context.Background()
	c, err := w.client.CreateCommand(ctx, "dev1", []byte{0x47, 0x4d}, time.Hour, "d1")
	if err != nil || c.CommandStatus != ctwing.StatusSaved || c.CommandID == "" {
		t.Fatalf("create %+v %v", c, err)
	}
	q, err := w.client.QueryCommand(ctx, "dev1", c.CommandID)
	if err != nil || q.CommandStatus != ctwing.StatusSaved {
		t.Fatalf("query %+v %v", q, err)
	}
	if err := w.client.CancelCommand(ctx, "dev1", c.CommandID); err != nil {
		t.Fatal(err)
	}
	if q, _ := w.client.QueryCommand(ctx, "dev1", c.CommandID); q.CommandStatus != ctwing.StatusCancelled {
		t.Fatalf("after cancel %s", q.CommandStatus)
	}
	if d, _ := w.fake.Uplink(ctx, "dev1", []byte{1}); d != nil {
		t.Fatal("a cancelled command was delivered")
	}
	if _, err := w.client.QueryCommand(ctx, "dev2", c.CommandID); !errors.Is(err, ctwing.ErrRefused) {
		t.Fatalf("another device's command: %v", err)
	}
}

func TestWrongSignatureRefused(t *testing.T) {
	w := newWorld(t, "not-the-secret")
	_, err := w.client.CreateCommand(context.Background(), "dev1", []byte{1}, time.Hour, "")
	var ae *ctwing.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %v", err)
	}
	if len(w.fake.Commands("dev1")) != 0 {
		t.Fatal("a refused request cached a command")
	}
}

func TestOneAtATimeAfterAck(t *testing.T) {
	w := newWorld(t, appSecret)
	ctx := context.Background()
	a, _ := w.client.CreateCommand(ctx, "dev1", []byte{0xa}, time.Hour, "")
	b, _ := w.client.CreateCommand(ctx, "dev1", []byte{0xb}, time.Hour, "")
	d, err := w.fake.Uplink(ctx, "dev1", []byte{1})
	if err != nil || d == nil || d.CommandID != a.CommandID {
		t.Fatalf("first uplink %+v %v", d, err)
	}
	if p := <-w.pushes; !json.Valid(p) {
		t.Fatal("no data report pushed")
	}
	// Not acknowledged: the next wake hands the same command again.
	if d2 := w.fake.Wake("dev1"); d2 == nil || d2.CommandID != a.CommandID {
		t.Fatalf("unacknowledged command not handed again: %+v", d2)
	}
	if err := w.fake.Ack(ctx, "dev1", a.CommandID); err != nil {
		t.Fatal(err)
	}
	var resp ctwing.Push
	json.Unmarshal(<-w.pushes, &resp)
	if resp.MessageType != ctwing.MessageCommandResponse || resp.TaskID.String() != a.CommandID {
		t.Fatalf("command response %+v", resp)
	}
	if q, _ := w.client.QueryCommand(ctx, "dev1", a.CommandID); q.CommandStatus != ctwing.StatusDelivered {
		t.Fatalf("acked command is %s", q.CommandStatus)
	}
	if d3 := w.fake.Wake("dev1"); d3 == nil || d3.CommandID != b.CommandID {
		t.Fatalf("second command %+v", d3)
	}
}

func TestTTLAndCacheLimit(t *testing.T) {
	w := newWorld(t, appSecret)
	ctx := context.Background()
	c, _ := w.client.CreateCommand(ctx, "dev1", []byte{1}, time.Hour, "")
	w.clock.Add(time.Hour + time.Second)
	if q, _ := w.client.QueryCommand(ctx, "dev1", c.CommandID); q.CommandStatus != ctwing.StatusExpired {
		t.Fatalf("past its TTL: %s", q.CommandStatus)
	}
	if err := w.client.CancelCommand(ctx, "dev1", c.CommandID); !errors.Is(err, ctwing.ErrRefused) {
		t.Fatalf("cancel of an expired command: %v", err)
	}
	for i := 0; i < ctwingfake.MaxCached; i++ {
		if _, err := w.client.CreateCommand(ctx, "dev1", []byte{byte(i)}, time.Hour, ""); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := w.client.CreateCommand(ctx, "dev1", []byte{99}, time.Hour, ""); !errors.Is(err, ctwing.ErrRefused) {
		t.Fatalf("21st command: %v", err)
	}
}

func TestLostAnswerIsUnknown(t *testing.T) {
	w := newWorld(t, appSecret)
	w.fake.LoseNextAnswer()
	_, err := w.client.CreateCommand(context.Background(), "dev1", []byte{1}, time.Hour, "")
	if !errors.Is(err, ctwing.ErrUnknownOutcome) {
		t.Fatalf("lost answer: %v", err)
	}
	if len(w.fake.Commands("dev1")) != 1 {
		t.Fatal("the command should be saved although its answer was lost")
	}
}

func TestParsePush(t *testing.T) {
	p, b, err := ctwing.ParsePush([]byte(`{"messageType":"dataReport","deviceId":"d","productId":"1","timestamp":1,"payload":{"APPdata":"R00="}}`))
	if err != nil || string(b) != "GM" || p.DeviceID != "d" {
		t.Fatalf("%+v %q %v", p, b, err)
	}
	for _, bad := range []string{`{}`, `{"messageType":"dataReport","deviceId":"d"}`, `{"messageType":"dataReport","deviceId":"d","payload":{"APPdata":"!!"}}`,
		`{"messageType":"commandResponse","deviceId":"d"}`, `{"messageType":"other","deviceId":"d"}`, `not json`} {
		if _, _, err := ctwing.ParsePush([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParsePush(f *testing.F) {
	f.Add([]byte(`{"messageType":"dataReport","deviceId":"d","productId":"1","timestamp":1,"payload":{"APPdata":"R00="}}`))
	f.Add([]byte(`{"messageType":"commandResponse","deviceId":"d","taskId":12,"result":{"resultCode":"DELIVERED"}}`))
	f.Add([]byte(`{"messageType":"deviceOnlineOfflineReport","deviceId":"d","eventType":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, payload, err := ctwing.ParsePush(b)
		if err != nil {
			return
		}
		if p.DeviceID == "" || (p.MessageType == ctwing.MessageDataReport) != (payload != nil) {
			t.Fatalf("accepted push %+v payload %v", p, payload)
		}
	})
}
