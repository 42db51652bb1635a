package recharge

import (
	"context"
	"errors"
	"fmt"

	"gaspay/models"
	"gaspay/units"
	"gaspay/wechat/wxpay"
)

// WeChatPay is WeChat Pay as a Provider.
type WeChatPay struct {
	client          *wxpay.Client
	mchID           string
	notifyURL       string
	refundNotifyURL string
}

// NewWeChatPay adapts a WeChat Pay client; notifications come back to
// publicURL's /notify/wechat/pay and /notify/wechat/refund.
func NewWeChatPay(client *wxpay.Client, mchID, publicURL string) *WeChatPay {
	return &WeChatPay{client: client, mchID: mchID,
		notifyURL: publicURL + "/notify/wechat/pay", refundNotifyURL: publicURL + "/notify/wechat/refund"}
}

// Name implements Provider.
func (w *WeChatPay) Name() string { return ProviderWeChat }

// MchID implements Provider.
func (w *WeChatPay) MchID() string { return w.mchID }

// wrap sorts a wxpay error into the kinds the service acts on.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case wxpay.IsUnknown(err):
		return fmt.Errorf("recharge: wechat %s: %w: %w", op, ErrUnknownOutcome, err)
	case errors.Is(err, wxpay.ErrOrderNotFound):
		return fmt.Errorf("recharge: wechat %s: %w", op, errProviderNoOrder)
	case errors.Is(err, wxpay.ErrOrderPaid):
		return fmt.Errorf("recharge: wechat %s: %w", op, errProviderPaid)
	}
	return fmt.Errorf("recharge: wechat %s: %w: %w", op, ErrProviderRefused, err)
}

// Prepay implements Provider with a JSAPI prepay under the order's app id.
func (w *WeChatPay) Prepay(ctx context.Context, o Prepay) (any, error) {
	params, err := w.client.PrepayJSAPI(ctx, wxpay.PrepayRequest{
		AppID: o.AppID, OpenID: o.PayerOpenID, OutTradeNo: o.OrderNo, Description: o.Description,
		AmountFen: int64(o.AmountFen), TimeExpire: o.ExpiresAt, NotifyURL: w.notifyURL,
	})
	if err != nil {
		return nil, wrap("prepay", err)
	}
	return params, nil
}

// Query implements Provider.
func (w *WeChatPay) Query(ctx context.Context, orderNo string) (Txn, error) {
	t, err := w.client.Query(ctx, orderNo)
	if errors.Is(err, wxpay.ErrOrderNotFound) {
		return Txn{State: TxnNotFound}, nil
	}
	if err != nil {
		return Txn{}, wrap("query", err)
	}
	return toTxn(t), nil
}

func toTxn(t wxpay.Transaction) Txn {
	out := Txn{TxnID: t.TransactionID, AppID: t.AppID, MchID: t.MchID, AmountFen: units.Fen(t.TotalFen),
		Payer: t.PayerOpenID, PaidAt: t.SuccessTime}
	switch {
	case t.State.Paid():
		out.State = TxnPaid
	case t.State == wxpay.TradeNotPay || t.State == wxpay.TradeUserPaying:
		out.State = TxnNotPaid
	default:
		out.State = TxnClosed
	}
	return out
}

// Close implements Provider.
func (w *WeChatPay) Close(ctx context.Context, orderNo string) error {
	return wrap("close", w.client.Close(ctx, orderNo))
}

// Refund implements Provider; the refund number makes a retry safe.
func (w *WeChatPay) Refund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	res, err := w.client.Refund(ctx, wxpay.RefundRequest{
		OutTradeNo: r.OrderNo, OutRefundNo: r.RefundNo, Reason: r.Reason, NotifyURL: w.refundNotifyURL,
		RefundFen: int64(r.AmountFen), TotalFen: int64(r.TotalFen),
	})
	if err != nil {
		return RefundResult{}, wrap("refund", err)
	}
	return toRefundResult(res), nil
}

// QueryRefund implements Provider.
func (w *WeChatPay) QueryRefund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	res, err := w.client.QueryRefund(ctx, r.RefundNo)
	if err != nil {
		return RefundResult{}, wrap("refund query", err)
	}
	return toRefundResult(res), nil
}

func toRefundResult(r wxpay.Refund) RefundResult {
	out := RefundResult{ProviderRefundID: r.RefundID, Status: models.RefundProcessing}
	switch r.Status {
	case wxpay.RefundSuccess:
		out.Status = models.RefundSucceeded
	case wxpay.RefundClosed, wxpay.RefundAbnormal:
		out.Status = models.RefundFailed
	}
	return out
}

// ParsePayment implements Provider: signature, time window and decryption
// are the SDK's; a TRANSACTION.SUCCESS becomes a PaidEvent.
func (w *WeChatPay) ParsePayment(ctx context.Context, in Notification) (PaidEvent, error) {
	n, err := w.client.ParsePaymentNotification(in.request(ctx))
	if err != nil {
		return PaidEvent{}, err
	}
	t := n.Resource
	if n.EventType != "TRANSACTION.SUCCESS" || !t.State.Paid() {
		return PaidEvent{}, fmt.Errorf("recharge: wechat notification %s (%s): %w", n.EventType, t.State, errNotAPayment)
	}
	return PaidEvent{Provider: w.Name(), OrderNo: t.OutTradeNo, TxnID: t.TransactionID, AppID: t.AppID,
		MchID: t.MchID, AmountFen: units.Fen(t.TotalFen), Payer: t.PayerOpenID, PaidAt: t.SuccessTime, Source: "notify"}, nil
}

// ParseRefund implements Provider.
func (w *WeChatPay) ParseRefund(ctx context.Context, in Notification) (RefundEvent, error) {
	n, err := w.client.ParseRefundNotification(in.request(ctx))
	if err != nil {
		return RefundEvent{}, err
	}
	res := toRefundResult(n.Resource)
	return RefundEvent{RefundNo: n.Resource.OutRefundNo, OrderNo: n.Resource.OutTradeNo,
		ProviderRefundID: res.ProviderRefundID, Status: res.Status, AmountFen: units.Fen(n.Resource.RefundFen)}, nil
}

// errNotAPayment: a genuine notification that reports no payment.
var errNotAPayment = errors.New("recharge: notification reports no payment")

// IsNotAPayment reports a genuine notification that is not a payment, to
// be acknowledged and ignored.
func IsNotAPayment(err error) bool { return errors.Is(err, errNotAPayment) }
