package wxpay_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gaspay/internal/beijing"
	"gaspay/wechat/wxpay"
	"gaspay/wechat/wxpay/wxpayfake"
)

func TestDownloadTradeBill(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cst := beijing.Location()
	day := time.Now().In(cst).AddDate(0, 0, -3)
	day = time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, cst)
	e.clock.Set(day)
	a := e.paidOrder(t, 10000)
	b := e.paidOrder(t, 2550)
	if _, err := e.client.Refund(ctx, wxpay.RefundRequest{OutTradeNo: a.OutTradeNo, OutRefundNo: "B-" + a.OutTradeNo, RefundFen: 1000, TotalFen: 10000}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(day.Add(24 * time.Hour))
	dir := t.TempDir()
	bill, err := e.client.DownloadTradeBill(ctx, day, dir)
	if err != nil {
		t.Fatal(err)
	}
	var rows []wxpay.BillRow
	sum, err := bill.Rows(func(r wxpay.BillRow) error { rows = append(rows, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// Fees: 0.60 + 0.15 - 0.06 yuan = 0.69 yuan = 69,000 thousandths of a fen.
	if sum != (wxpay.BillSummary{Rows: 3, SettledFen: 12550, RefundFen: 1000, FeeMilliFen: 69_000}) {
		t.Errorf("summary %+v", sum)
	}
	got := map[string]wxpay.BillRow{}
	for _, r := range rows {
		got[r.OutTradeNo+"/"+r.TradeState] = r
	}
	if r := got[a.OutTradeNo+"/SUCCESS"]; r.SettledFen != 10000 || r.FeeMilliFen != 60_000 || r.MchID != testMchID || r.TransactionID == "" {
		t.Errorf("payment %+v", r)
	}
	if r := got[b.OutTradeNo+"/SUCCESS"]; r.SettledFen != 2550 || r.FeeMilliFen != 15_000 {
		t.Errorf("payment %+v", r)
	}
	if r := got[a.OutTradeNo+"/REFUND"]; !r.IsRefund() || r.RefundFen != 1000 || r.OutRefundNo != "B-"+a.OutTradeNo || r.FeeMilliFen != -6_000 {
		t.Errorf("refund %+v", r)
	}
	if err := bill.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	t.Run("corrupted download refused and removed", func(t *testing.T) {
		e.fake.InjectFault(wxpayfake.RouteDownload, wxpayfake.Fault{Corrupt: true}, 1)
		if _, err := e.client.DownloadTradeBill(ctx, day, dir); !errors.Is(err, wxpay.ErrBillCorrupt) {
			t.Fatalf("err = %v", err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// A bill as WeChat writes it: a payment, its refund, and the summary.
const goldenBill = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n" +
	"`2026-11-20 09:15:02,`wxd678efh567hg6787,`1900000109,`0,`,`4200000001202611200000000001,`G20261120A1,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`86.40,`0.00,`0,`0,`0.00,`0.00,`,`,`燃气费 031120001,`,`0.52000,`0.60%,`86.40,`0.00,`\r\n" +
	"`2026-11-20 17:40:11,`wxd678efh567hg6787,`1900000109,`0,`,`4200000001202611200000000001,`G20261120A1,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000012026112000000001,`R20261120A1,`86.40,`0.00,`ORIGINAL,`SUCCESS,`燃气费 031120001,`,`-0.52000,`0.60%,`0.00,`86.40,`\r\n" +
	"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n" +
	"`2,`86.40,`86.40,`0.00,`0.00000,`86.40,`86.40\r\n"

func TestParseTradeBillGolden(t *testing.T) {
	var rows []wxpay.BillRow
	sum, err := wxpay.ParseTradeBill(strings.NewReader(goldenBill), func(r wxpay.BillRow) error { rows = append(rows, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sum != (wxpay.BillSummary{Rows: 2, SettledFen: 8640, RefundFen: 8640, FeeMilliFen: 0}) || len(rows) != 2 {
		t.Fatalf("summary %+v rows %d", sum, len(rows))
	}
	want := time.Date(2026, 11, 20, 9, 15, 2, 0, beijing.Location())
	if r := rows[0]; !r.Time.Equal(want) || r.OutTradeNo != "G20261120A1" || r.SettledFen != 8640 || r.FeeMilliFen != 52_000 || r.AppID != "wxd678efh567hg6787" {
		t.Errorf("row 0 %+v", r)
	}
	if r := rows[1]; !r.IsRefund() || r.OutRefundNo != "R20261120A1" || r.RefundFen != 8640 || r.FeeMilliFen != -52_000 || r.Line != 3 {
		t.Errorf("row 1 %+v", r)
	}

	for name, bad := range map[string]string{
		"summary disagrees": strings.Replace(goldenBill, "`2,`86.40,`86.40", "`2,`86.41,`86.40", 1),
		"count disagrees":   strings.Replace(goldenBill, "`2,`86.40,`86.40", "`3,`86.40,`86.40", 1),
		"no summary":        goldenBill[:strings.Index(goldenBill, "总交易单数")],
		"float amount":      strings.Replace(goldenBill, "`86.40,`0.00,`0,`0", "`8.64e1,`0.00,`0,`0", 1),
		"missing column":    strings.Replace(goldenBill, "商户订单号", "订单号", 1),
		"empty":             "",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := wxpay.ParseTradeBill(strings.NewReader(bad), func(wxpay.BillRow) error { return nil })
			if !errors.Is(err, wxpay.ErrBillFormat) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func FuzzParseTradeBill(f *testing.F) {
	f.Add(goldenBill)
	f.Add(strings.Replace(goldenBill, "`", "", -1))
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		sum, err := wxpay.ParseTradeBill(strings.NewReader(s), func(wxpay.BillRow) error { n++; return nil })
		if err == nil && sum.Rows != n {
			t.Fatalf("summary says %d rows, %d seen", sum.Rows, n)
		}
	})
}

// The sandbox's fake serves today's bill at once; WeChat (and the fake by
// default) only after the day.
func TestSameDayBillInTheSandbox(t *testing.T) {
	ctx := t.Context()
	for _, sameDay := range []bool{false, true} {
		e := newEnv(t, func(c *wxpayfake.Config) { c.BillsSameDay = sameDay })
		e.paidOrder(t, 4321)
		bill, err := e.client.DownloadTradeBill(ctx, time.Now(), t.TempDir())
		if !sameDay {
			if !errors.Is(err, wxpay.ErrNoBill) {
				t.Fatalf("today's bill without BillsSameDay: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sum, err := bill.Rows(func(wxpay.BillRow) error { return nil })
		bill.Close()
		if err != nil || sum.Rows != 1 || sum.SettledFen != 4321 {
			t.Fatalf("today's bill: %+v %v", sum, err)
		}
	}
}
