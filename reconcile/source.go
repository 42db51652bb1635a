package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gaspay/alipay"
	"gaspay/internal/beijing"
	"gaspay/recharge"
	"gaspay/wechat/wxpay"
)

// Errors opening a bill.
var (
	// ErrBillNotReady: the provider has no bill for the day yet (bills are
	// ready after 10:00 the next day, Beijing time). Try again later.
	ErrBillNotReady = errors.New("reconcile: bill not ready")
	// ErrBillRefused: the bill failed its check (WeChat's SHA1) or does not
	// parse, or its summary disagrees with its lines. Nothing in it was
	// used; download it again later.
	ErrBillRefused = errors.New("reconcile: bill refused")
	// ErrProviderUnavailable: the provider did not answer, or not in a
	// way that could be used (transport, timeout, unverifiable answer).
	ErrProviderUnavailable = errors.New("reconcile: provider unavailable")
)

// LineKind says whether a bill line is a payment or a refund.
type LineKind string

// Line kinds.
const (
	LinePayment LineKind = "payment"
	LineRefund  LineKind = "refund"
)

// Line is one payment or refund of a provider's bill, whichever provider.
type Line struct {
	No          int // line number in the file
	Kind        LineKind
	OrderNo     string // our order number (out_trade_no)
	TxnID       string // the provider's transaction id
	RefundNo    string // our refund number (refunds)
	AmountFen   int64  // the payment, or the refund, positive
	FeeMilliFen int64  // the provider's fee, thousandths of a fen
	AppID       string // "" when the bill does not say per line
	MchID       string
	At          time.Time
}

// Source fetches a provider's bills.
type Source interface {
	// Provider is the provider's name in payments ("wechat", "alipay").
	Provider() string
	// Merchant is who the bill must be for: the WeChat Pay merchant id,
	// the Alipay account its bill names.
	Merchant() string
	// Open fetches the bill of a day (its date in Beijing time). Errors:
	// ErrBillNotReady, ErrBillRefused, or another error (transport,
	// storage), all worth a later retry.
	Open(ctx context.Context, day time.Time) (Bill, error)
}

// Bill is an opened bill, read as a stream.
type Bill interface {
	// Lines calls fn for every line in file order. Errors wrapping
	// ErrBillRefused mean the bill failed its own checks.
	Lines(fn func(Line) error) error
	// Close releases the bill's temporary file.
	Close() error
}

// WeChatBills reads WeChat Pay's ALL trade bills (gzip, SHA1-checked).
type WeChatBills struct {
	Client *wxpay.Client
	MchID  string
	// Dir holds the temporary files; "" for the system's.
	Dir string
}

// Provider implements Source.
func (w WeChatBills) Provider() string { return recharge.ProviderWeChat }

// Merchant implements Source.
func (w WeChatBills) Merchant() string { return w.MchID }

// Open implements Source.
func (w WeChatBills) Open(ctx context.Context, day time.Time) (Bill, error) {
	f, err := w.Client.DownloadTradeBill(ctx, day, w.Dir)
	switch {
	case errors.Is(err, wxpay.ErrNoBill):
		return nil, fmt.Errorf("%w: %w", ErrBillNotReady, err)
	case errors.Is(err, wxpay.ErrBillCorrupt):
		return nil, fmt.Errorf("%w: %w", ErrBillRefused, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	return wechatBill{f}, nil
}

type wechatBill struct{ f *wxpay.TradeBillFile }

func (b wechatBill) Close() error { return b.f.Close() }

func (b wechatBill) Lines(fn func(Line) error) error {
	_, err := b.f.Rows(func(r wxpay.BillRow) error {
		l := Line{No: r.Line, OrderNo: r.OutTradeNo, TxnID: r.TransactionID, FeeMilliFen: r.FeeMilliFen,
			AppID: r.AppID, MchID: r.MchID, At: r.Time}
		switch {
		case r.IsRefund():
			l.Kind, l.RefundNo, l.AmountFen = LineRefund, r.OutRefundNo, r.RefundFen
		case r.TradeState == "SUCCESS":
			l.Kind, l.AmountFen = LinePayment, r.SettledFen
		default:
			// Revoked payment codes and the like moved no money.
			return nil
		}
		return fn(l)
	})
	if errors.Is(err, wxpay.ErrBillFormat) {
		return fmt.Errorf("%w: %w", ErrBillRefused, err)
	}
	return err
}

// AlipayBills reads Alipay's trade bills (a zip of GBK CSV files).
type AlipayBills struct {
	Client *alipay.Client
	// Account is the account Alipay's bill names (the app id in the
	// sandbox; the merchant's 2088… partner id in production).
	Account string
	Dir     string
}

// Provider implements Source.
func (a AlipayBills) Provider() string { return recharge.ProviderAlipay }

// Merchant implements Source.
func (a AlipayBills) Merchant() string { return a.Account }

// Open implements Source. The link Alipay gives lives 30 seconds: the
// file is fetched at once.
func (a AlipayBills) Open(ctx context.Context, day time.Time) (Bill, error) {
	u, err := a.Client.BillURL(ctx, "trade", day.In(beijing.Location()).Format(time.DateOnly))
	switch {
	case errors.Is(err, alipay.ErrNoBill):
		return nil, fmt.Errorf("%w: %w", ErrBillNotReady, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	f, err := a.Client.DownloadBillFile(ctx, u, a.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	return alipayBill{f}, nil
}

type alipayBill struct{ f *alipay.BillFile }

func (b alipayBill) Close() error { return b.f.Close() }

func (b alipayBill) Lines(fn func(Line) error) error {
	_, err := b.f.Rows(func(r alipay.BillRow) error {
		l := Line{No: r.Line, OrderNo: r.OutTradeNo, TxnID: r.TradeNo, FeeMilliFen: r.FeeFen * 1000,
			MchID: r.Account, At: r.FinishedAt}
		if r.IsRefund() {
			l.Kind, l.RefundNo, l.AmountFen = LineRefund, r.RefundNo, -r.AmountFen
		} else {
			l.Kind, l.AmountFen = LinePayment, r.AmountFen
		}
		return fn(l)
	})
	if errors.Is(err, alipay.ErrBillFormat) {
		return fmt.Errorf("%w: %w", ErrBillRefused, err)
	}
	return err
}
