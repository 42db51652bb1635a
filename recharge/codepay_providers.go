package recharge

import (
	"context"
	"errors"
	"fmt"

	"gaspay/alipay"
	"gaspay/models"
	"gaspay/units"
	"gaspay/wechat/wxpay"
)

// WeChatCodes is WeChat Pay taking payment codes at kiosks, under an app
// id of the merchant (codepay needs one; no customer logs in).
type WeChatCodes struct {
	*WeChatPay
	appID string
}

// NewWeChatCodes lets w take payment codes under appID.
func NewWeChatCodes(w *WeChatPay, appID string) *WeChatCodes {
	return &WeChatCodes{WeChatPay: w, appID: appID}
}

// CodeAppID implements CodeProvider.
func (w *WeChatCodes) CodeAppID() string { return w.appID }

// CodePay implements CodeProvider with POST /v3/pay/transactions/codepay.
func (w *WeChatCodes) CodePay(ctx context.Context, o models.Order, authCode, description, kioskID string) (Txn, error) {
	t, err := w.client.CodePay(ctx, wxpay.CodePayRequest{AppID: o.AppID, AuthCode: authCode, OutTradeNo: o.OrderNo,
		Description: description, AmountFen: int64(o.PayableFen), StoreID: kioskID})
	if err != nil {
		return Txn{}, wrap("codepay", err)
	}
	return toTxn(t), nil
}

// Reverse implements CodeProvider with …/out-trade-no/{no}/reverse.
func (w *WeChatCodes) Reverse(ctx context.Context, o models.Order) error {
	err := w.client.Reverse(ctx, o.AppID, o.OrderNo)
	if wxpay.Code(err) == "USERPAYING" {
		return fmt.Errorf("recharge: wechat reverse: %w: %w", errReverseRetry, err)
	}
	return wrap("reverse", err)
}

// AlipayCodes is Alipay taking payment codes at kiosks (face-to-face:
// alipay.trade.pay with scene bar_code, alipay.trade.cancel).
type AlipayCodes struct{ *Alipay }

// NewAlipayCodes lets a take payment codes.
func NewAlipayCodes(a *Alipay) *AlipayCodes { return &AlipayCodes{Alipay: a} }

// CodeAppID implements CodeProvider.
func (a *AlipayCodes) CodeAppID() string { return a.appID }

// CodePay implements CodeProvider. No notify URL: the loop asks.
func (a *AlipayCodes) CodePay(ctx context.Context, o models.Order, authCode, description, kioskID string) (Txn, error) {
	t, err := a.client.PayWithCode(ctx, alipay.CodePayRequest{OutTradeNo: o.OrderNo, AuthCode: authCode, Subject: description,
		AmountFen: int64(o.PayableFen)})
	switch {
	case errors.Is(err, alipay.ErrPending):
		return Txn{State: TxnNotPaid}, nil
	case err != nil:
		return Txn{}, wrapAlipay("codepay", err)
	}
	return Txn{State: TxnPaid, TxnID: t.TradeNo, AppID: a.appID, MchID: a.appID, AmountFen: units.Fen(t.TotalFen),
		Payer: t.BuyerOpenID, PaidAt: t.PaidAt}, nil
}

// Reverse implements CodeProvider with alipay.trade.cancel: Alipay's
// retry_flag Y is asked again.
func (a *AlipayCodes) Reverse(ctx context.Context, o models.Order) error {
	_, err := a.client.Cancel(ctx, o.OrderNo)
	return wrapAlipay("cancel", err)
}
