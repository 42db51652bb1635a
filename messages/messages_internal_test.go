package messages

import (
	"context"
	"testing"
	"time"

	"gaspay/customer"
	"gaspay/internal/testenv"
	"gaspay/models"
	"gaspay/wechat"
)

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00元", 5: "0.05元", 1000: "10.00元", 20960: "209.60元", -150: "-1.50元"} {
		if got := yuan(fen); got != want {
			t.Errorf("yuan(%d) = %s, want %s", fen, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := backoff(i); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i, got, w)
		}
	}
}

// scripted answers each send with the next error.
type scripted struct {
	errs []error
	sent int
}

func (s *scripted) next() error {
	if len(s.errs) == 0 {
		s.sent++
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	if err == nil {
		s.sent++
	}
	return err
}

func (s *scripted) SendTemplate(context.Context, wechat.App, wechat.TemplateMessage) error {
	return s.next()
}
func (s *scripted) SendSubscribe(context.Context, wechat.App, wechat.SubscribeMessage) error {
	return s.next()
}

// The outcome of one message per WeChat answer, as a table.
func TestSendOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		app     models.AppKind
		accept  bool
		err     error
		state   string
		credits int
	}{
		{"template sent", models.AppOfficialAccount, false, nil, StateSent, 0},
		{"subscribe sent, acceptance spent", models.AppMiniProgram, true, nil, StateSent, 0},
		{"subscribe without acceptance", models.AppMiniProgram, false, nil, StateQuota, 0},
		{"43101: WeChat counts none", models.AppMiniProgram, true, &wechat.APIError{Code: 43101}, StateRefused, 0},
		{"43004: the user refuses", models.AppOfficialAccount, false, &wechat.APIError{Code: 43004}, StateRefused, 0},
		{"45009: daily quota", models.AppOfficialAccount, false, &wechat.APIError{Code: 45009}, StateQuota, 0},
		{"system busy: retried, acceptance kept", models.AppMiniProgram, true, &wechat.APIError{Code: -1}, StatePending, 1},
		{"unreachable: retried", models.AppOfficialAccount, false, wechat.ErrUnavailable, StatePending, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := testenv.DB(t)
			store := models.NewStore(db)
			ctx := context.Background()
			now := time.Now().UTC()
			if err := customer.SeedDemo(ctx, store, now); err != nil {
				t.Fatal(err)
			}
			sender := &scripted{errs: []error{c.err}}
			s := New(store, sender, Config{MPTemplates: map[Event]string{PaymentReceived: "mp-t"}, OATemplates: map[Event]string{PaymentReceived: "oa-t"}},
				testenv.Logger())
			u, err := store.UpsertUser(ctx, c.app, "wxapp", "openid-1", nil, now)
			if err != nil {
				t.Fatal(err)
			}
			acc, _ := store.AccountByUserNumber(ctx, "031130001")
			if _, _, err := store.Bind(ctx, u.ID, acc.ID, 5, now); err != nil {
				t.Fatal(err)
			}
			if c.accept {
				if _, err := s.Accept(ctx, u.ID, models.AppMiniProgram, map[string]string{"mp-t": "accept"}); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.enqueue(ctx, event{event: PaymentReceived, key: "paid:X1", accountID: acc.ID, data: map[string]string{"amount2": "1.00元"}}, now)
			if err != nil || n != 1 {
				t.Fatalf("enqueue %d %v", n, err)
			}
			if _, err := s.enqueue(ctx, event{event: PaymentReceived, key: "paid:X1", accountID: acc.ID}, now); err != nil {
				t.Fatal(err)
			}
			var rows int64
			db.Model(&Message{}).Where("event_key = ?", "paid:X1").Count(&rows)
			if rows != 1 {
				t.Fatalf("the same event queued %d times", rows)
			}
			s.SendPass(ctx)
			var m Message
			db.Where("event_key = ?", "paid:X1").Take(&m)
			var credits int
			db.Raw("SELECT COALESCE(MAX(credits), 0) FROM message_subscriptions WHERE user_id = ?", u.ID).Scan(&credits)
			if m.State != c.state || credits != c.credits {
				t.Fatalf("state %s credits %d; want %s %d", m.State, credits, c.state, c.credits)
			}
			if c.state == StatePending && (m.Attempts != 1 || !m.NextAt.After(now)) {
				t.Fatalf("retry not scheduled: attempts %d next %s", m.Attempts, m.NextAt)
			}
		})
	}
}
