package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"gaspay/app"
	"gaspay/config"
	"gaspay/recharge"
	"gaspay/reconcile"
)

// errOpenDifferences makes the command exit 1 when a run leaves
// differences open, so that a scheduler or a shell script sees it.
var errOpenDifferences = errors.New("differences remain open")

// reconcileCmd runs one provider's reconciliation of one day, prints the
// summary and the differences, and fails when differences stay open.
func reconcileCmd(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	provider := fs.String("provider", "", "wechat or alipay")
	date := fs.String("date", "", "the bill's day, YYYY-MM-DD (Beijing time)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return fmt.Errorf("reconcile: --provider wechat|alipay --date YYYY-MM-DD\n%s", usage)
	}
	if *provider != recharge.ProviderWeChat && *provider != recharge.ProviderAlipay {
		return errors.New("--provider: wechat or alipay")
	}
	a, err := app.New(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	res, err := a.Reconcile.Run(ctx, *provider, *date)
	if err != nil {
		return fmt.Errorf("reconcile %s %s: %w", *provider, *date, err)
	}
	printResult(stdout, res)
	if n := res.Open(); n > 0 {
		return fmt.Errorf("%s %s: %d %w", *provider, *date, n, errOpenDifferences)
	}
	return nil
}

func printResult(w io.Writer, res reconcile.Result) {
	r := res.Run
	fmt.Fprintf(w, "%s bill of %s: %s after %d attempt(s)\n", r.Provider, r.BillDate, r.Status, r.Attempts)
	fmt.Fprintf(w, "  bill:   %d payments %s yuan, %d refunds %s yuan, fees %d/1000 fen\n",
		r.BillPayments, reconcile.Yuan(r.BillPaymentFen), r.BillRefunds, reconcile.Yuan(r.BillRefundFen), r.BillFeeMilliFen)
	fmt.Fprintf(w, "  gaspay: %d payments %s yuan, %d refunds %s yuan\n",
		r.OurPayments, reconcile.Yuan(r.OurPaymentFen), r.OurRefunds, reconcile.Yuan(r.OurRefundFen))
	fmt.Fprintf(w, "  matched %d lines; %d differences, %d open\n", r.Matched, r.Differences, res.Open())
	for _, d := range res.Differences {
		note := ""
		if d.Note != nil {
			note = " — " + *d.Note
		}
		fmt.Fprintf(w, "  #%d %-22s %-8s %s | bill: %s | gaspay: %s%s\n", d.ID, d.Kind, d.State, d.Ref, orDash(d.BillValue), orDash(d.OurValue), note)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
