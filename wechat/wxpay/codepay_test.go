package wxpay_test

import (
	"errors"
	"testing"
	"time"

	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

func TestCodePay(t *testing.T) {
	e := newEnv(t, func(c *wxpayfake.Config) { c.CodePayPolls = 2 })
	ctx := t.Context()
	codePay := func(authCode string) (wxpay.CodePayRequest, wxpay.Transaction, error) {
		req := wxpay.CodePayRequest{AppID: appKiosk, AuthCode: authCode, OutTradeNo: orderNo(), Description: "自助售气终端购气",
			AmountFen: 20000, StoreID: "KIOSK-0007", DeviceIP: "10.1.2.3"}
		tx, err := e.client.CodePay(ctx, req)
		return req, tx, err
	}

	tests := []struct {
		name      string
		outcome   wxpayfake.CodePayOutcome
		first     wxpay.TradeState // state CodePay reports ("" when it fails)
		wantCode  string           // WeChat code of the failure
		unknown   bool             // the failure leaves the outcome unknown
		polls     []wxpay.TradeState
		reverse   bool
		finalWant wxpay.TradeState
	}{
		{name: "paid at once", outcome: wxpayfake.CodePaySuccess, first: wxpay.TradeSuccess, finalWant: wxpay.TradeSuccess},
		{name: "password, then paid", outcome: wxpayfake.CodePayUserPaying, first: wxpay.TradeUserPaying,
			polls: []wxpay.TradeState{wxpay.TradeUserPaying, wxpay.TradeSuccess}, finalWant: wxpay.TradeSuccess},
		{name: "password never entered: reverse", outcome: wxpayfake.CodePayNeverConfirmed, first: wxpay.TradeUserPaying,
			polls: []wxpay.TradeState{wxpay.TradeUserPaying, wxpay.TradeUserPaying, wxpay.TradeUserPaying}, reverse: true, finalWant: wxpay.TradeRevoked},
		{name: "customer cancels", outcome: wxpayfake.CodePayUserCancels, first: wxpay.TradeUserPaying,
			polls: []wxpay.TradeState{wxpay.TradeUserPaying, wxpay.TradePayError}, reverse: true, finalWant: wxpay.TradeRevoked},
		{name: "balance too low", outcome: wxpayfake.CodePayNotEnough, wantCode: "NOT_ENOUGH", reverse: true, finalWant: wxpay.TradeRevoked},
		{name: "system error although paid", outcome: wxpayfake.CodePaySystemErrorPaid, wantCode: "SYSTEM_ERROR", unknown: true, finalWant: wxpay.TradeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, tx, err := codePay(wxpayfake.AuthCode(tt.outcome))
			if tt.wantCode != "" {
				if wxpay.Code(err) != tt.wantCode || wxpay.IsUnknown(err) != tt.unknown {
					t.Fatalf("err = %v (unknown %v), want %s unknown=%v", err, wxpay.IsUnknown(err), tt.wantCode, tt.unknown)
				}
			} else if err != nil || tx.State != tt.first || tx.OutTradeNo != req.OutTradeNo || tx.TotalFen != req.AmountFen {
				t.Fatalf("codepay = %+v, %v; want state %s", tx, err, tt.first)
			}
			for i, want := range tt.polls {
				got, err := e.client.Query(ctx, req.OutTradeNo)
				if err != nil || got.State != want {
					t.Fatalf("poll %d: %+v, %v; want %s", i, got, err, want)
				}
			}
			if tt.reverse {
				for range 2 { // idempotent
					if err := e.client.Reverse(ctx, req.AppID, req.OutTradeNo); err != nil {
						t.Fatal(err)
					}
				}
			}
			final, err := e.client.Query(ctx, req.OutTradeNo)
			if err != nil || final.State != tt.finalWant {
				t.Fatalf("final: %+v, %v; want %s", final, err, tt.finalWant)
			}
			if final.State == wxpay.TradeSuccess && (final.TradeType != "MICROPAY" || final.TransactionID == "" || final.PayerOpenID == "") {
				t.Fatalf("paid payment-code order: %+v", final)
			}
		})
	}

	t.Run("customer confirms while waiting", func(t *testing.T) {
		req, tx, err := codePay(wxpayfake.AuthCode(wxpayfake.CodePayNeverConfirmed))
		if err != nil || tx.State != wxpay.TradeUserPaying {
			t.Fatalf("%+v, %v", tx, err)
		}
		if res, err := e.fake.Pay(ctx, req.OutTradeNo, ""); err != nil || res.Sent {
			t.Fatalf("confirm: %+v, %v (a payment code has no notification)", res, err)
		}
		if got, err := e.client.Query(ctx, req.OutTradeNo); err != nil || got.State != wxpay.TradeSuccess {
			t.Fatalf("%+v, %v", got, err)
		}
	})

	t.Run("a payment code is single use", func(t *testing.T) {
		code := wxpayfake.AuthCode(wxpayfake.CodePaySuccess)
		if _, _, err := codePay(code); err != nil {
			t.Fatal(err)
		}
		if _, _, err := codePay(code); wxpay.Code(err) != "PARAM_ERROR" {
			t.Fatalf("reused code: %v", err)
		}
	})

	t.Run("retry with the same order answers the same", func(t *testing.T) {
		req, first, err := codePay(wxpayfake.AuthCode(wxpayfake.CodePaySuccess))
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.client.CodePay(ctx, req)
		if err != nil || again.TransactionID != first.TransactionID {
			t.Fatalf("%+v, %v", again, err)
		}
	})

	t.Run("reverse a paid order gives the money back", func(t *testing.T) {
		req, _, err := codePay(wxpayfake.AuthCode(wxpayfake.CodePaySuccess))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.client.Reverse(ctx, req.AppID, req.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.client.Query(ctx, req.OutTradeNo); got.State != wxpay.TradeRevoked {
			t.Fatalf("state %s", got.State)
		}
	})

	t.Run("customer pays as the reverse arrives", func(t *testing.T) {
		req, tx, err := codePay(wxpayfake.AuthCode(wxpayfake.CodePayRacesReverse))
		if err != nil || tx.State != wxpay.TradeUserPaying {
			t.Fatalf("%+v, %v", tx, err)
		}
		for range 3 {
			if got, _ := e.client.Query(ctx, req.OutTradeNo); got.State != wxpay.TradeUserPaying {
				t.Fatalf("state %s before the reverse", got.State)
			}
		}
		if err := e.client.Reverse(ctx, req.AppID, req.OutTradeNo); wxpay.Code(err) != "USERPAYING" || wxpay.IsUnknown(err) {
			t.Fatalf("first reverse: %v", err)
		}
		if got, _ := e.client.Query(ctx, req.OutTradeNo); got.State != wxpay.TradeSuccess {
			t.Fatalf("state %s after the refused reverse", got.State)
		}
		if err := e.client.Reverse(ctx, req.AppID, req.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.client.Query(ctx, req.OutTradeNo); got.State != wxpay.TradeRevoked {
			t.Fatalf("state %s after the reverse", got.State)
		}
	})

	t.Run("customer pays after a delay", func(t *testing.T) {
		req, _, err := codePay(wxpayfake.AuthCode(wxpayfake.CodePayAfterDelay))
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if got, _ := e.client.Query(ctx, req.OutTradeNo); got.State != wxpay.TradeUserPaying {
				t.Fatalf("state %s before the delay", got.State)
			}
		}
		e.clock.Advance(20 * time.Second)
		if got, _ := e.client.Query(ctx, req.OutTradeNo); got.State != wxpay.TradeSuccess {
			t.Fatalf("state %s after the delay", got.State)
		}
	})

	t.Run("only payment-code orders can be reversed", func(t *testing.T) {
		paid := e.paidOrder(t, 100)
		if err := e.client.Reverse(ctx, paid.AppID, paid.OutTradeNo); wxpay.Code(err) != "INVALID_REQUEST" {
			t.Fatalf("err = %v", err)
		}
	})

	for _, bad := range []string{"", "12345", "193456789012345678", "13345678901234567a", "1334567890123456789"} {
		t.Run("auth code "+bad+" refused locally", func(t *testing.T) {
			before := e.fake.Requests(wxpayfake.RouteCodePay)
			if _, _, err := codePay(bad); !errors.Is(err, wxpay.ErrInvalidRequest) {
				t.Fatalf("err = %v", err)
			}
			if e.fake.Requests(wxpayfake.RouteCodePay) != before {
				t.Fatal("an invalid code reached WeChat")
			}
		})
	}
}
