package wxpay_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gaspay/internal/beijing"
	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

func TestRefund(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	paid := e.paidOrder(t, 10000)
	refund := func(no string, fen int64) wxpay.RefundRequest {
		return wxpay.RefundRequest{OutTradeNo: paid.OutTradeNo, OutRefundNo: no, Reason: "退余额", RefundFen: fen, TotalFen: 10000}
	}

	first, err := e.client.Refund(ctx, refund("R1-"+paid.OutTradeNo, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != wxpay.RefundProcessing || first.RefundFen != 3000 || first.TotalFen != 10000 || first.RefundID == "" || first.CreateTime.IsZero() {
		t.Fatalf("refund = %+v", first)
	}

	tests := []struct {
		name     string
		req      wxpay.RefundRequest
		wantErr  error
		wantCode string
		wantID   string
	}{
		{name: "retry with the same out_refund_no refunds once", req: refund("R1-"+paid.OutTradeNo, 3000), wantID: first.RefundID},
		{name: "same out_refund_no, other amount", req: refund("R1-"+paid.OutTradeNo, 3100), wantCode: "INVALID_REQUEST"},
		{name: "more than is left", req: refund("R2-"+paid.OutTradeNo, 7001), wantCode: "INVALID_REQUEST"},
		{name: "exactly what is left", req: refund("R3-"+paid.OutTradeNo, 7000)},
		{name: "nothing left", req: refund("R4-"+paid.OutTradeNo, 1), wantCode: "INVALID_REQUEST"},
		{name: "unpaid order", req: wxpay.RefundRequest{OutTradeNo: orderNo(), OutRefundNo: "R5", RefundFen: 1, TotalFen: 1}, wantCode: "RESOURCE_NOT_EXISTS"},
		{name: "refund above total refused locally", req: refund("R6", 10001), wantErr: wxpay.ErrInvalidRequest},
		{name: "bad out_refund_no refused locally", req: refund("R#7", 1), wantErr: wxpay.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.client.Refund(ctx, tt.req)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if wxpay.Code(err) != tt.wantCode {
				t.Fatalf("err = %v, want code %q", err, tt.wantCode)
			}
			if tt.wantErr == nil && tt.wantCode == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantID != "" && r.RefundID != tt.wantID {
				t.Fatalf("refund id %s, want %s", r.RefundID, tt.wantID)
			}
		})
	}

	t.Run("query", func(t *testing.T) {
		r, err := e.client.QueryRefund(ctx, first.OutRefundNo)
		if err != nil || r.Status != wxpay.RefundProcessing {
			t.Fatalf("%+v, %v", r, err)
		}
		if _, err := e.fake.CompleteRefund(ctx, first.OutRefundNo); err != nil {
			t.Fatal(err)
		}
		r, err = e.client.QueryRefund(ctx, first.OutRefundNo)
		if err != nil || r.Status != wxpay.RefundSuccess || r.SuccessTime.IsZero() {
			t.Fatalf("%+v, %v", r, err)
		}
		if _, err := e.fake.CompleteRefund(ctx, first.OutRefundNo); !errors.Is(err, wxpayfake.ErrRefundFinal) {
			t.Fatalf("completing twice: %v", err)
		}
	})

	t.Run("query unknown refund", func(t *testing.T) {
		_, err := e.client.QueryRefund(ctx, "NOPE-1")
		if !errors.Is(err, wxpay.ErrRefundNotFound) || wxpay.Code(err) != "RESOURCE_NOT_EXISTS" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("order shows REFUND and still counts as paid", func(t *testing.T) {
		tx, err := e.client.Query(ctx, paid.OutTradeNo)
		if err != nil || tx.State != wxpay.TradeRefund || !tx.State.Paid() {
			t.Fatalf("%+v, %v", tx, err)
		}
	})

	t.Run("a closed refund gives the amount back", func(t *testing.T) {
		p := e.paidOrder(t, 500)
		r, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: p.OutTradeNo, OutRefundNo: "C1-" + p.OutTradeNo, RefundFen: 500, TotalFen: 500})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.FinishRefund(ctx, r.OutRefundNo, wxpayfake.RefundClosed); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: p.OutTradeNo, OutRefundNo: "C2-" + p.OutTradeNo, RefundFen: 500, TotalFen: 500}); err != nil {
			t.Fatalf("refund after a closed one: %v", err)
		}
	})

	t.Run("at most 50 refunds per order", func(t *testing.T) {
		p := e.paidOrder(t, 100)
		for i := range 50 {
			if _, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: p.OutTradeNo, OutRefundNo: fmt.Sprintf("M%d-%s", i, p.OutTradeNo), RefundFen: 1, TotalFen: 100}); err != nil {
				t.Fatalf("refund %d: %v", i, err)
			}
		}
		_, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: p.OutTradeNo, OutRefundNo: "M50-" + p.OutTradeNo, RefundFen: 1, TotalFen: 100})
		if wxpay.Code(err) != "INVALID_REQUEST" {
			t.Fatalf("51st refund: %v", err)
		}
	})

	t.Run("no refund after a year", func(t *testing.T) {
		e2 := newEnv(t)
		p := e2.paidOrder(t, 100)
		e2.clock.Advance(366 * 24 * time.Hour)
		_, err := e2.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: p.OutTradeNo, OutRefundNo: "Y1", RefundFen: 1, TotalFen: 100})
		if wxpay.Code(err) != "INVALID_REQUEST" {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestAutoCompleteRefunds(t *testing.T) {
	e := newEnv(t, func(c *wxpayfake.Config) {
		c.AutoCompleteRefunds = true
		c.RefundDelay = 10 * time.Millisecond
	})
	ctx := t.Context()
	p := e.paidOrder(t, 800)
	r, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: p.OutTradeNo, OutRefundNo: "A-" + p.OutTradeNo, NotifyURL: e.refundURL, RefundFen: 800, TotalFen: 800})
	if err != nil || r.Status != wxpay.RefundProcessing {
		t.Fatalf("%+v, %v", r, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		notes, errs := e.refundNotes()
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if len(notes) == 1 {
			if notes[0].Resource.Status != wxpay.RefundSuccess {
				t.Fatalf("%+v", notes[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no refund notification")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTradeBill(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cst := beijing.Location()
	day := time.Now().In(cst).AddDate(0, 0, -3)
	day = time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, cst)
	e.clock.Set(day)

	a := e.paidOrder(t, 10000) // 100.00 yuan, fee 0.60
	b := e.paidOrder(t, 2550)  // 25.50 yuan, fee 0.15 (0.153)
	if _, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: a.OutTradeNo, OutRefundNo: "B-" + a.OutTradeNo, RefundFen: 1000, TotalFen: 10000}); err != nil {
		t.Fatal(err)
	}

	t.Run("not ready the same day", func(t *testing.T) {
		if _, err := e.client.TradeBill(ctx, day); !errors.Is(err, wxpay.ErrNoBill) {
			t.Fatalf("err = %v", err)
		}
	})

	e.clock.Set(day.Add(24 * time.Hour))
	bill, err := e.client.TradeBill(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(bill), "\r\n"), "\r\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines:\n%s", len(lines), bill)
	}
	if !strings.HasPrefix(lines[0], "交易时间,公众账号ID,商户号") || !strings.HasPrefix(lines[4], "总交易单数,") {
		t.Fatalf("headers:\n%s", bill)
	}
	for _, l := range []string{lines[1], lines[2], lines[3], lines[5]} {
		for _, f := range strings.Split(l, ",") {
			if !strings.HasPrefix(f, "`") {
				t.Fatalf("field %q without backtick in %q", f, l)
			}
		}
	}
	for _, want := range []string{"`" + a.OutTradeNo, "`" + b.OutTradeNo, "`100.00", "`25.50", "`0.60000", "`0.15000", "`REFUND", "`-0.06000", "`10.00"} {
		if !strings.Contains(string(bill), want) {
			t.Errorf("bill lacks %s:\n%s", want, bill)
		}
	}
	if lines[5] != "`3,`125.50,`10.00,`0.00,`0.69000,`125.50,`10.00" {
		t.Errorf("summary %q", lines[5])
	}

	t.Run("corrupted download refused", func(t *testing.T) {
		e.fake.InjectFault(wxpayfake.RouteDownload, wxpayfake.Fault{Corrupt: true}, 1)
		if _, err := e.client.TradeBill(ctx, day); !errors.Is(err, wxpay.ErrBillCorrupt) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("no trade that day", func(t *testing.T) {
		if _, err := e.client.TradeBill(ctx, day.AddDate(0, 0, -1)); !errors.Is(err, wxpay.ErrNoBill) {
			t.Fatalf("err = %v", err)
		}
	})
}
