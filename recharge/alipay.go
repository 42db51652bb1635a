package recharge

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"gaspay/alipay"
	"gaspay/models"
	"gaspay/units"
)

// Alipay is Alipay as a Provider. For Alipay the merchant is the app: its
// app id is both the order's app id and the "merchant" a payment must name.
type Alipay struct {
	client    *alipay.Client
	appID     string
	notifyURL string
	returnURL string
}

// NewAlipay adapts an Alipay client; notifications come back to publicURL's
// /notify/alipay (with no query string, which would break the signature)
// and the buyer's browser to the service hall's result page for the order.
func NewAlipay(client *alipay.Client, appID, publicURL string) *Alipay {
	return &Alipay{client: client, appID: appID, notifyURL: publicURL + "/notify/alipay", returnURL: publicURL + "/h5/result"}
}

// resultURL is the service hall's page that follows the order: where the
// cashier returns the buyer (Alipay appends its own parameters) and where
// a buyer who leaves the cashier lands.
func (a *Alipay) resultURL(orderNo string) string {
	return a.returnURL + "?" + url.Values{"order_no": {orderNo}}.Encode()
}

// Name implements Provider.
func (a *Alipay) Name() string { return ProviderAlipay }

// MchID implements Provider.
func (a *Alipay) MchID() string { return a.appID }

func wrapAlipay(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case alipay.IsUnknown(err):
		return fmt.Errorf("recharge: alipay %s: %w: %w", op, ErrUnknownOutcome, err)
	case errors.Is(err, alipay.ErrTradeNotFound):
		return fmt.Errorf("recharge: alipay %s: %w", op, errProviderNoOrder)
	}
	return fmt.Errorf("recharge: alipay %s: %w: %w", op, ErrProviderRefused, err)
}

// AlipayWAP is what a phone browser needs to pay: the cashier's URL.
type AlipayWAP struct {
	PayURL string `json:"pay_url"`
}

// AlipayMP is what the Alipay mini-program needs: my.tradePay({tradeNO}).
type AlipayMP struct {
	TradeNo string `json:"trade_no"`
}

// Prepay implements Provider: a signed cashier URL for the browser (the
// trade appears at Alipay when the buyer opens it), or a trade created for
// the mini-program's buyer.
func (a *Alipay) Prepay(ctx context.Context, o Prepay) (any, error) {
	if o.Channel == models.ChannelAlipayMP {
		no, err := a.client.Create(ctx, alipay.CreateRequest{OutTradeNo: o.OrderNo, Subject: o.Description, AmountFen: int64(o.AmountFen),
			BuyerOpenID: o.PayerOpenID, TimeExpire: o.ExpiresAt, NotifyURL: a.notifyURL})
		if err != nil {
			return nil, wrapAlipay("create", err)
		}
		return AlipayMP{TradeNo: no}, nil
	}
	u, err := a.client.WapPayURL(ctx, alipay.WapPayRequest{OutTradeNo: o.OrderNo, Subject: o.Description, AmountFen: int64(o.AmountFen),
		TimeExpire: o.ExpiresAt, NotifyURL: a.notifyURL, ReturnURL: a.resultURL(o.OrderNo), QuitURL: a.resultURL(o.OrderNo)})
	if err != nil {
		return nil, wrapAlipay("wap", err)
	}
	return AlipayWAP{PayURL: u}, nil
}

// Query implements Provider.
func (a *Alipay) Query(ctx context.Context, orderNo string) (Txn, error) {
	t, err := a.client.Query(ctx, orderNo)
	if errors.Is(err, alipay.ErrTradeNotFound) {
		return Txn{State: TxnNotFound}, nil
	}
	if err != nil {
		return Txn{}, wrapAlipay("query", err)
	}
	out := Txn{TxnID: t.TradeNo, AppID: a.appID, MchID: a.appID, AmountFen: units.Fen(t.TotalFen), Payer: t.BuyerOpenID, PaidAt: t.PaidAt}
	switch {
	case t.Status.Paid():
		out.State = TxnPaid
	case t.Status == alipay.TradeWaitBuyerPay:
		out.State = TxnNotPaid
	default:
		out.State = TxnClosed
	}
	return out, nil
}

// Close implements Provider. Alipay refuses to close a paid trade; the
// caller's query then finds it paid.
func (a *Alipay) Close(ctx context.Context, orderNo string) error {
	err := a.client.Close(ctx, orderNo)
	var be *alipay.BizError
	if errors.As(err, &be) && be.SubCode == "ACQ.TRADE_STATUS_ERROR" {
		return fmt.Errorf("recharge: alipay close: %w", errProviderPaid)
	}
	if errors.Is(err, alipay.ErrTradeNotFound) {
		// A WAP trade nobody opened: nothing to close at Alipay.
		return nil
	}
	return wrapAlipay("close", err)
}

// Refund implements Provider; Alipay refunds at once, and the refund number
// (out_request_no) makes a retry safe.
func (a *Alipay) Refund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	res, err := a.client.Refund(ctx, alipay.RefundRequest{OutTradeNo: r.OrderNo, OutRequestNo: r.RefundNo, RefundFen: int64(r.AmountFen), Reason: r.Reason})
	if err != nil {
		return RefundResult{}, wrapAlipay("refund", err)
	}
	return RefundResult{Status: models.RefundSucceeded, ProviderRefundID: res.TradeNo}, nil
}

// QueryRefund implements Provider: a refund Alipay does not have did not
// happen (yet), so it is asked again with the same number.
func (a *Alipay) QueryRefund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	res, err := a.client.QueryRefund(ctx, r.OrderNo, r.RefundNo)
	if errors.Is(err, alipay.ErrRefundNotFound) {
		return RefundResult{Status: models.RefundPending}, nil
	}
	if err != nil {
		return RefundResult{}, wrapAlipay("refund query", err)
	}
	return RefundResult{Status: models.RefundSucceeded, ProviderRefundID: res.TradeNo}, nil
}

// ParsePayment implements Provider: the signature is checked first; a
// notification of a refund, or of a trade not paid, is not a payment.
func (a *Alipay) ParsePayment(ctx context.Context, in Notification) (PaidEvent, error) {
	n, err := a.client.ParseNotification(ctx, in.request(ctx))
	if err != nil {
		return PaidEvent{}, err
	}
	if !n.Status.Paid() || n.HasRefund {
		return PaidEvent{}, fmt.Errorf("recharge: alipay notification %s: %w", n.Status, errNotAPayment)
	}
	return PaidEvent{Provider: a.Name(), OrderNo: n.OutTradeNo, TxnID: n.TradeNo, AppID: n.AppID, MchID: n.AppID,
		AmountFen: units.Fen(n.TotalFen), Payer: n.BuyerOpenID, PaidAt: n.GmtPayment, Source: "notify"}, nil
}

// ParseRefund implements Provider: Alipay refunds synchronously and has no
// separate refund notification.
func (a *Alipay) ParseRefund(ctx context.Context, in Notification) (RefundEvent, error) {
	return RefundEvent{}, errors.New("recharge: alipay sends no refund notifications")
}
