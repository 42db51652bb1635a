package alipay

import (
	"context"
	"errors"
	"fmt"

	sdk "github.com/smartwalle/alipay/v3"
)

// WapPayURL returns the signed URL of Alipay's mobile-web cashier for a new
// trade (alipay.trade.wap.pay). Nothing is sent: the browser carries the
// request, so Alipay knows the trade only once the buyer opens the page
// (until then Query answers ErrTradeNotFound). ctx is unused and kept for
// symmetry with the other calls.
func (c *Client) WapPayURL(ctx context.Context, req WapPayRequest) (string, error) {
	op := "wap pay " + req.OutTradeNo
	if err := firstError(
		checkNo("out_trade_no", req.OutTradeNo),
		checkSubject(req.Subject),
		checkAmount(req.AmountFen),
		checkURL("notify URL", req.NotifyURL, true),
		checkURL("return URL", req.ReturnURL, false),
		checkURL("quit URL", req.QuitURL, false),
	); err != nil {
		return "", wrap(op, err)
	}
	p := sdk.TradeWapPay{
		Trade: sdk.Trade{
			NotifyURL:   req.NotifyURL,
			ReturnURL:   req.ReturnURL,
			Subject:     req.Subject,
			OutTradeNo:  req.OutTradeNo,
			TotalAmount: FenToYuan(req.AmountFen),
			ProductCode: productWap,
		},
		QuitURL: req.QuitURL,
		// TradeWapPay declares its own time_expire, which hides the
		// embedded Trade.TimeExpire from encoding/json: setting the inner
		// one would be silently dropped.
		TimeExpire: c.formatTime(req.TimeExpire),
	}
	u, err := c.sdk.TradeWapPay(p)
	if err != nil {
		return "", wrap(op, err)
	}
	return u.String(), nil
}

type createNode struct {
	header
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
}

// Create creates a trade for the Alipay mini-program (alipay.trade.create,
// product JSAPI_PAY) and returns Alipay's trade number, which the
// mini-program passes to my.tradePay.
func (c *Client) Create(ctx context.Context, req CreateRequest) (tradeNo string, err error) {
	op := "create " + req.OutTradeNo
	if err := firstError(
		checkNo("out_trade_no", req.OutTradeNo),
		checkSubject(req.Subject),
		checkAmount(req.AmountFen),
		checkURL("notify URL", req.NotifyURL, true),
	); err != nil {
		return "", wrap(op, err)
	}
	if req.BuyerOpenID == "" {
		return "", wrap(op, fmt.Errorf("%w: buyer open id is empty", ErrInvalidRequest))
	}
	p := sdk.TradeCreate{
		Trade: sdk.Trade{
			NotifyURL:   req.NotifyURL,
			Subject:     req.Subject,
			OutTradeNo:  req.OutTradeNo,
			TotalAmount: FenToYuan(req.AmountFen),
			ProductCode: productJSAPI,
			TimeExpire:  c.formatTime(req.TimeExpire),
		},
		BuyerOpenId: req.BuyerOpenID,
	}
	var rsp createNode
	if err := c.call(ctx, op, p, &rsp); err != nil {
		return "", err
	}
	if rsp.TradeNo == "" || (rsp.OutTradeNo != "" && rsp.OutTradeNo != req.OutTradeNo) {
		return "", unknown(op, errors.New("response names no or another trade"))
	}
	return rsp.TradeNo, nil
}

type payNode struct {
	header
	TradeNo       string `json:"trade_no"`
	OutTradeNo    string `json:"out_trade_no"`
	BuyerLogonID  string `json:"buyer_logon_id"`
	BuyerOpenID   string `json:"buyer_open_id"`
	TotalAmount   string `json:"total_amount"`
	ReceiptAmount string `json:"receipt_amount"`
	GmtPayment    string `json:"gmt_payment"`
}

// PayWithCode charges the buyer's payment code (alipay.trade.pay, scene
// bar_code).
//
//   - nil error: paid; the Trade has Status TradeSuccess.
//   - ErrPending (Alipay's 10003): the buyer must still confirm on the
//     phone. NOT paid. Poll Query every few seconds; Cancel at the
//     deadline. The Trade carries what is known (Status TradeWaitBuyerPay).
//   - *BizError: refused (bad code, insufficient balance…).
//   - IsUnknown: Query, then Cancel if it is not paid by the deadline.
func (c *Client) PayWithCode(ctx context.Context, req CodePayRequest) (Trade, error) {
	op := "pay with code " + req.OutTradeNo
	if err := firstError(
		checkNo("out_trade_no", req.OutTradeNo),
		checkAuthCode(req.AuthCode),
		checkSubject(req.Subject),
		checkAmount(req.AmountFen),
		checkURL("notify URL", req.NotifyURL, true),
	); err != nil {
		return Trade{}, wrap(op, err)
	}
	p := sdk.TradePay{
		Trade: sdk.Trade{
			NotifyURL:   req.NotifyURL,
			Subject:     req.Subject,
			OutTradeNo:  req.OutTradeNo,
			TotalAmount: FenToYuan(req.AmountFen),
			ProductCode: productF2F,
		},
		Scene:    "bar_code",
		AuthCode: req.AuthCode,
	}
	var rsp payNode
	if err := c.send(ctx, op, p, &rsp); err != nil {
		return Trade{}, err
	}
	switch rsp.Code {
	case codeSuccess, codePayInFlight:
	default:
		return Trade{}, fmt.Errorf("alipay: %s: %w", op, rsp.bizError())
	}
	if rsp.OutTradeNo != "" && rsp.OutTradeNo != req.OutTradeNo {
		return Trade{}, unknown(op, errors.New("response names another trade"))
	}
	t := Trade{
		OutTradeNo:   req.OutTradeNo,
		TradeNo:      rsp.TradeNo,
		Status:       TradeWaitBuyerPay,
		TotalFen:     req.AmountFen,
		BuyerOpenID:  rsp.BuyerOpenID,
		BuyerLogonID: rsp.BuyerLogonID,
	}
	if rsp.Code == codePayInFlight {
		return t, fmt.Errorf("alipay: %s: %w", op, ErrPending)
	}
	// Paid: the amount must be the one we asked for, or something is off.
	if total, err := YuanToFen(rsp.TotalAmount); err != nil || total != req.AmountFen {
		return Trade{}, unknown(op, fmt.Errorf("paid amount %q differs from %s", clip(rsp.TotalAmount), FenToYuan(req.AmountFen)))
	}
	t.Status = TradeSuccess
	t.ReceiptFen, _ = YuanToFen(rsp.ReceiptAmount) // informative only
	t.PaidAt = c.parseTime(rsp.GmtPayment)
	return t, nil
}

type precreateNode struct {
	header
	OutTradeNo string `json:"out_trade_no"`
	QRCode     string `json:"qr_code"`
}

// PreCreate creates a trade paid by scanning a QR code
// (alipay.trade.precreate) and returns the code's content (a URL to render
// as a QR image).
func (c *Client) PreCreate(ctx context.Context, req PreCreateRequest) (qrCode string, err error) {
	op := "precreate " + req.OutTradeNo
	if err := firstError(
		checkNo("out_trade_no", req.OutTradeNo),
		checkSubject(req.Subject),
		checkAmount(req.AmountFen),
		checkURL("notify URL", req.NotifyURL, true),
	); err != nil {
		return "", wrap(op, err)
	}
	p := sdk.TradePreCreate{
		Trade: sdk.Trade{
			NotifyURL:   req.NotifyURL,
			Subject:     req.Subject,
			OutTradeNo:  req.OutTradeNo,
			TotalAmount: FenToYuan(req.AmountFen),
			ProductCode: productF2F,
			TimeExpire:  c.formatTime(req.TimeExpire),
		},
	}
	var rsp precreateNode
	if err := c.call(ctx, op, p, &rsp); err != nil {
		return "", err
	}
	if rsp.QRCode == "" || (rsp.OutTradeNo != "" && rsp.OutTradeNo != req.OutTradeNo) {
		return "", unknown(op, errors.New("response names no QR code or another trade"))
	}
	return rsp.QRCode, nil
}

type queryNode struct {
	header
	TradeNo       string `json:"trade_no"`
	OutTradeNo    string `json:"out_trade_no"`
	BuyerLogonID  string `json:"buyer_logon_id"`
	BuyerOpenID   string `json:"buyer_open_id"`
	TradeStatus   string `json:"trade_status"`
	TotalAmount   string `json:"total_amount"`
	ReceiptAmount string `json:"receipt_amount"`
	SendPayDate   string `json:"send_pay_date"`
}

// Query asks Alipay for a trade (alipay.trade.query). ErrTradeNotFound when
// Alipay does not know it.
func (c *Client) Query(ctx context.Context, outTradeNo string) (Trade, error) {
	op := "query " + outTradeNo
	if err := checkNo("out_trade_no", outTradeNo); err != nil {
		return Trade{}, wrap(op, err)
	}
	var rsp queryNode
	if err := c.call(ctx, op, sdk.TradeQuery{OutTradeNo: outTradeNo}, &rsp); err != nil {
		return Trade{}, err
	}
	if rsp.OutTradeNo != outTradeNo {
		return Trade{}, unknown(op, errors.New("response names another trade"))
	}
	// The node is signed, so values that do not parse mean a change on
	// Alipay's side that this code does not understand: unknown, not a
	// guess.
	status, err := ParseTradeStatus(rsp.TradeStatus)
	if err != nil {
		return Trade{}, unknown(op, err)
	}
	total, err := YuanToFen(rsp.TotalAmount)
	if err != nil {
		return Trade{}, unknown(op, err)
	}
	t := Trade{
		OutTradeNo:   rsp.OutTradeNo,
		TradeNo:      rsp.TradeNo,
		Status:       status,
		TotalFen:     total,
		BuyerOpenID:  rsp.BuyerOpenID,
		BuyerLogonID: rsp.BuyerLogonID,
	}
	if rsp.ReceiptAmount != "" {
		t.ReceiptFen, _ = YuanToFen(rsp.ReceiptAmount) // informative only
	}
	if status.Paid() {
		t.PaidAt = c.parseTime(rsp.SendPayDate)
	}
	return t, nil
}

type closeNode struct {
	header
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
}

// Close closes an unpaid trade (alipay.trade.close) so that it can no
// longer be paid. A paid trade answers *BizError ACQ.TRADE_STATUS_ERROR; a
// trade Alipay never saw answers ErrTradeNotFound (a WAP trade whose
// cashier page was never opened: it can still be opened until its
// TimeExpire, so close only expired orders).
func (c *Client) Close(ctx context.Context, outTradeNo string) error {
	op := "close " + outTradeNo
	if err := checkNo("out_trade_no", outTradeNo); err != nil {
		return wrap(op, err)
	}
	var rsp closeNode
	return c.call(ctx, op, sdk.TradeClose{OutTradeNo: outTradeNo}, &rsp)
}

type cancelNode struct {
	header
	TradeNo    string `json:"trade_no"`
	OutTradeNo string `json:"out_trade_no"`
	RetryFlag  string `json:"retry_flag"`
	Action     string `json:"action"`
}

// Cancel reverses a payment-code trade whatever its state
// (alipay.trade.cancel): unpaid, it is closed; paid, the buyer is refunded.
// It is how a kiosk ends a trade whose outcome it does not know at the
// deadline. When Alipay asks for a retry (retry_flag Y) the result has
// Retry set and the error is unknown: call Cancel again.
func (c *Client) Cancel(ctx context.Context, outTradeNo string) (CancelResult, error) {
	op := "cancel " + outTradeNo
	if err := checkNo("out_trade_no", outTradeNo); err != nil {
		return CancelResult{}, wrap(op, err)
	}
	var rsp cancelNode
	if err := c.send(ctx, op, sdk.TradeCancel{OutTradeNo: outTradeNo}, &rsp); err != nil {
		return CancelResult{}, err
	}
	res := CancelResult{Action: rsp.Action, Retry: rsp.RetryFlag == "Y"}
	switch {
	case rsp.Code == codeSuccess && !res.Retry:
		return res, nil
	case rsp.Code == codeSuccess:
		return res, unknown(op, errors.New("alipay asks to retry"))
	case res.Retry:
		return res, fmt.Errorf("alipay: %s: %w: %w", op, ErrUnknown, rsp.bizError())
	}
	return res, fmt.Errorf("alipay: %s: %w", op, rsp.bizError())
}

// firstError returns the first non-nil error, so that argument checks read
// as one list.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
