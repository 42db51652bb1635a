package handlers_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/wechat/wxfake"
)

// A stranger who bound a meter by its number and left an Alipay WAP order
// open (a trade Alipay has not heard of until the buyer opens the URL)
// does not hold the owner off: the owner's order supersedes it at once.
func TestAnotherUsersUnpaidOrderIsSuperseded(t *testing.T) {
	env := apptest.New(t, nil)
	env.SeedDemo()
	srv := env.Start()
	owner := newBuyer(t, env, srv, "owner", "031130001", "李娜")
	stranger := srv.Login("stranger")
	if r := bind(srv, stranger, "meter_number", "20231100001", ""); r.Status != http.StatusCreated {
		t.Fatalf("stranger bind: %d %s", r.Status, r.Body)
	}
	s := buyer{t: t, srv: srv, token: stranger, account: owner.account}
	blocking := orderNo(t, s.order(map[string]any{"amount_fen": 100, "channel": "alipay_wap"}))

	// The stranger's own second order, moments later, still waits: that is
	// a double tap, not a block.
	if r := s.order(map[string]any{"amount_fen": 100, "channel": "alipay_wap"}); r.Status != http.StatusConflict || r.Code(t) != "order_in_progress" {
		t.Fatalf("stranger's second order: %d %s", r.Status, r.Body)
	}
	no := orderNo(t, owner.order(map[string]any{"amount_fen": 2000}))
	if env.Count("orders", "order_no = ? AND status = ?", blocking, "closed") != 1 {
		t.Fatal("the stranger's order was not closed")
	}
	if res, err := env.Pay.Pay(context.Background(), no, ""); err != nil || !res.Acknowledged() {
		t.Fatalf("owner pays: %+v %v", res, err)
	}
	if o := owner.get(no); o["status"] != "paid" {
		t.Fatalf("owner's order = %v", o)
	}
}

// Order creation is limited per user, refusals counted in aggregate.
func TestOrderCreationRateLimited(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_ORDER_RATE_LIMIT": "3"})
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "busy", "031120002", "阿依古丽·买买提")
	for i := 0; i < 3; i++ {
		r := b.orderWithKey("ratelimit-"+strconv.Itoa(i), map[string]any{"amount_fen": 100 + i})
		if r.Status != http.StatusCreated {
			t.Fatalf("order %d: %d %s", i, r.Status, r.Body)
		}
	}
	// A repeat answered from its idempotency key is not a new order.
	if r := b.orderWithKey("ratelimit-2", map[string]any{"amount_fen": 102}); r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s", r.Status, r.Body)
	}
	for i := 0; i < 4; i++ {
		r := b.order(map[string]any{"amount_fen": 200})
		if r.Status != http.StatusTooManyRequests || r.Code(t) != "too_many_orders" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("order over the limit: %d %s", r.Status, r.Body)
		}
	}
	if n := env.Count("refusal_counts", "kind = ? AND times = ?", "order_rate", 4); n != 1 {
		t.Fatalf("refusal rows with 4 refusals: %d", n)
	}
	// Another user is not affected.
	other := newBuyer(t, env, srv, "calm", "031120001", "王洪")
	if r := other.order(map[string]any{"amount_fen": 100}); r.Status != http.StatusCreated {
		t.Fatalf("another user: %d %s", r.Status, r.Body)
	}
	r := srv.Do(apptest.Request{Method: "GET", Path: "/api/admin/refusals", Token: apptest.AdminToken})
	list, _ := r.JSON(t)["refusals"].([]any)
	if r.Status != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["times"] != 4.0 {
		t.Fatalf("admin refusals: %d %s", r.Status, r.Body)
	}
}

// Forged HELLOs are limited per user (any box id) and per box (for users
// the box has not opened a session for); refusals add to one row each, and
// the box's own user still gets in.
func TestHelloFloodLimited(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_BOX_OPEN_LIMIT": "3"})
	env.SeedDemo()
	srv := env.Start()
	owner := &phone{t: t, srv: srv, token: newBuyer(t, env, srv, "owner", "031140086", "秦淮").token, box: newBox(t, "0102030405060708")}
	owner.box.InsertCard(demoCard(t, 0))
	owner.connect()

	events := func() int64 {
		srv.App.Cards.Recorder().Flush(context.Background())
		return env.Count("box_events", "")
	}
	mallory := srv.Login("mallory")
	flood := func(token string, box *phoneBox) apptest.Response {
		return srv.Do(apptest.Request{Method: "POST", Path: "/api/box/sessions", Token: token,
			Body: map[string]string{"hello": box.replayedHello(t)}})
	}
	victim := &phoneBox{id: "0102030405060708"}
	// Mallory replays HELLOs of the owner's box: refused by the relay (and
	// recorded), until the box's budget for strangers (3, one used by the
	// owner's first session) is spent.
	for i := 0; i < 2; i++ {
		if r := flood(mallory, victim); r.Status != http.StatusConflict || r.Code(t) != "frame_replayed" {
			t.Fatalf("replayed HELLO %d: %d %s", i, r.Status, r.Body)
		}
	}
	before := events()
	for i := 0; i < 21; i++ {
		if r := flood(mallory, victim); r.Status != http.StatusTooManyRequests || r.Code(t) != "too_many_box_sessions" {
			t.Fatalf("flood %d: %d %s", i, r.Status, r.Body)
		}
	}
	if after := events(); after != before {
		t.Fatalf("the flood added %d box events", after-before)
	}
	// The first refusal was the box's, the next 20 the user's.
	if n := env.Count("refusal_counts", "kind = ? AND subject = ? AND times = ?", "box_open_user", "user:"+strconv.FormatInt(userID(t, env, "mallory"), 10), 20); n != 1 {
		t.Fatal("the user's refusals are not one row of 20")
	}
	// Another stranger finds the box's budget spent.
	if r := flood(srv.Login("trudy"), victim); r.Status != http.StatusTooManyRequests {
		t.Fatalf("another stranger on a flooded box: %d %s", r.Status, r.Body)
	}
	if n := env.Count("refusal_counts", "kind = ? AND subject = ? AND times = ?", "box_open_box", "box:0102030405060708", 2); n != 1 {
		t.Fatal("the box's refusals are not one row of 2")
	}
	// The owner, whom the box opened a session for, still connects.
	owner.connect()
}

// phoneBox makes HELLO frames of a box the attacker does not have the key
// of: a copy of a genuine one, replayed.
type phoneBox struct{ id string }

func (p *phoneBox) replayedHello(t *testing.T) string {
	b := newBox(t, p.id)
	h, err := b.Hello()
	if err != nil {
		t.Fatal(err)
	}
	return b64(h)
}

// userID is the id of the sandbox user logged in as name.
func userID(t *testing.T, env *apptest.Env, name string) int64 {
	t.Helper()
	var id int64
	if err := env.DB.Raw("SELECT id FROM users WHERE open_id = ?", wxfake.OpenID(apptest.MPAppID, name)).Scan(&id).Error; err != nil || id == 0 {
		t.Fatalf("user %s: %d %v", name, id, err)
	}
	return id
}

// The shortest order life the configuration accepts is one WeChat Pay
// accepts too (time_expire at least a minute ahead when it arrives).
func TestShortestOrderTTLAcceptedByWeChatPay(t *testing.T) {
	env := apptest.New(t, map[string]string{"GASPAY_ORDER_TTL": "2m"})
	env.SeedDemo()
	srv := env.Start()
	b := newBuyer(t, env, srv, "alice", "031130001", "李娜")
	no := orderNo(t, b.order(map[string]any{"amount_fen": 100, "channel": "wechat_mp"}))
	if fo, ok := env.Pay.Order(no); !ok || fo.ExpiresAt.Sub(fo.CreatedAt) < time.Minute+50*time.Second {
		t.Fatalf("WeChat Pay order = %+v", fo)
	}
}
