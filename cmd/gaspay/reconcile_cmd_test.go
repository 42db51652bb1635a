package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gaspay/internal/apptest"
	"gaspay/internal/beijing"
	"gaspay/wechat/wxpay/wxpayfake"
)

func TestReconcileCommand(t *testing.T) {
	world := apptest.New(t, nil) // the fake providers
	own := environment(t, nil)   // the command's own database
	getenv := func(k string) string {
		if v := own(k); v != "" {
			return v
		}
		return world.Getenv(k)
	}
	ctx := context.Background()
	cst := beijing.Location()
	y := time.Now().In(cst).AddDate(0, 0, -1)
	yesterday := time.Date(y.Year(), y.Month(), y.Day(), 12, 0, 0, 0, cst)
	date := yesterday.Format(time.DateOnly)
	var out bytes.Buffer

	for _, args := range [][]string{
		{"reconcile", "--provider", "paypal", "--date", date},
		{"reconcile", "--provider", "wechat"},
		{"reconcile", "--provider", "wechat", "--date", date, "extra"},
	} {
		if err := run(ctx, args, getenv, &out, &out); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	// No trade that day: no bill yet.
	err := run(ctx, []string{"reconcile", "--provider", "wechat", "--date", date}, getenv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "bill not ready") {
		t.Fatalf("empty day: %v", err)
	}

	// WeChat's bill has a payment for an order gaspay never made.
	world.Pay.PlantBillDifference(wxpayfake.BillPlant{Kind: wxpayfake.PlantExtra, OutTradeNo: "G000000000000GHOST", Fen: 1234, At: yesterday})
	out.Reset()
	err = run(ctx, []string{"reconcile", "--provider", "wechat", "--date", date}, getenv, &out, &out)
	if !errors.Is(err, errOpenDifferences) {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"wechat bill of " + date + ": done after 2 attempt(s)",
		"bill:   1 payments 12.34 yuan, 0 refunds 0.00 yuan, fees 7000/1000 fen",
		"gaspay: 0 payments 0.00 yuan",
		"matched 0 lines; 1 differences, 1 open",
		"missing_here           open     G000000000000GHOST | bill: ",
		"| gaspay: no such order — the provider does not say paid",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
