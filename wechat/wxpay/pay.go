package wxpay

import (
	"context"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"

	"gaspay/internal/beijing"
)

// PrepayRequest is a JSAPI order: the customer pays inside WeChat, on an
// official-account page or in the mini-program.
type PrepayRequest struct {
	// AppID is the app the OpenID belongs to: the official account's for
	// H5 pages, the mini-program's for the mini-program. WeChat refuses an
	// openid of the other app.
	AppID string
	// OpenID is the payer, as known to AppID.
	OpenID string
	// OutTradeNo is our order number, 6–32 of [0-9A-Za-z_-|*]. Retrying with
	// the same number and parameters returns the same prepay_id.
	OutTradeNo  string
	Description string // at most 127 characters
	AmountFen   int64  // positive, computed by the server, never by the client
	// TimeExpire, if set, must be at least one minute ahead; it is sent in
	// +08:00. Zero: the prepay_id's own two hours.
	TimeExpire time.Time
	// NotifyURL receives the payment notification: https in production, no
	// query string.
	NotifyURL string
	Attach    string // echoed in queries and notifications, at most 128 characters
}

// NativeRequest is a Native order: the customer scans a QR code.
// The fields mean what they mean in PrepayRequest.
type NativeRequest struct {
	AppID       string    // the official account the QR code is shown for
	OutTradeNo  string    // 6–32 of [0-9A-Za-z_-|*]
	Description string    // at most 127 characters
	AmountFen   int64     // positive
	TimeExpire  time.Time // zero or at least one minute ahead
	NotifyURL   string    // receives the payment notification
	Attach      string    // echoed back, at most 128 characters
}

func checkOrder(appID, outTradeNo, description string, amountFen int64, expire time.Time, notifyURL, attach string) error {
	switch {
	case appID == "":
		return invalid("appid is required")
	case !validOutTradeNo(outTradeNo):
		return invalid("out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]")
	case description == "" || utf8.RuneCountInString(description) > 127:
		return invalid("description must be 1-127 characters")
	case amountFen <= 0:
		return invalid("amount must be positive, got %d fen", amountFen)
	case !expire.IsZero() && expire.Before(time.Now().Add(time.Minute)):
		return invalid("time_expire must be at least one minute ahead")
	case !validNotifyURL(notifyURL):
		return invalid("notify_url must be an absolute http(s) URL without a query")
	case utf8.RuneCountInString(attach) > 128:
		return invalid("attach is longer than 128 characters")
	}
	return nil
}

func validNotifyURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func expireAt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.In(beijing.Location()).Truncate(time.Second)
	return &t
}

// PrepayJSAPI places a JSAPI order and returns the signed parameters the
// front end needs to open the payment sheet.
func (c *Client) PrepayJSAPI(ctx context.Context, req PrepayRequest) (params PaymentParams, err error) {
	op := "wxpay: prepay " + req.OutTradeNo
	if err := checkOrder(req.AppID, req.OutTradeNo, req.Description, req.AmountFen, req.TimeExpire, req.NotifyURL, req.Attach); err != nil {
		return PaymentParams{}, fmt.Errorf("%s: %w", op, err)
	}
	if req.OpenID == "" {
		return PaymentParams{}, fmt.Errorf("%s: %w", op, invalid("openid is required"))
	}
	defer guard(op, &err)
	resp, result, err := c.jsapi.PrepayWithRequestPayment(ctx, jsapi.PrepayRequest{
		Appid:       core.String(req.AppID),
		Mchid:       core.String(c.mchID),
		Description: core.String(req.Description),
		OutTradeNo:  core.String(req.OutTradeNo),
		TimeExpire:  expireAt(req.TimeExpire),
		Attach:      optional(req.Attach),
		NotifyUrl:   core.String(req.NotifyURL),
		Amount:      &jsapi.Amount{Total: core.Int64(req.AmountFen), Currency: core.String("CNY")},
		Payer:       &jsapi.Payer{Openid: core.String(req.OpenID)},
	})
	defer closeResult(result)
	if err != nil {
		return PaymentParams{}, fail(op, result, err)
	}
	params = PaymentParams{
		AppID:     str(resp.Appid),
		TimeStamp: str(resp.TimeStamp),
		NonceStr:  str(resp.NonceStr),
		Package:   str(resp.Package),
		SignType:  str(resp.SignType),
		PaySign:   str(resp.PaySign),
		PrepayID:  str(resp.PrepayId),
	}
	if params.PrepayID == "" {
		return PaymentParams{}, fmt.Errorf("%s: %w", op, unknown(fmt.Errorf("answer without prepay_id")))
	}
	return params, nil
}

// PrepayNative places a Native order and returns the code_url to show as a
// QR code.
func (c *Client) PrepayNative(ctx context.Context, req NativeRequest) (codeURL string, err error) {
	op := "wxpay: prepay native " + req.OutTradeNo
	if err := checkOrder(req.AppID, req.OutTradeNo, req.Description, req.AmountFen, req.TimeExpire, req.NotifyURL, req.Attach); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	resp, result, err := c.native.Prepay(ctx, native.PrepayRequest{
		Appid:       core.String(req.AppID),
		Mchid:       core.String(c.mchID),
		Description: core.String(req.Description),
		OutTradeNo:  core.String(req.OutTradeNo),
		TimeExpire:  expireAt(req.TimeExpire),
		Attach:      optional(req.Attach),
		NotifyUrl:   core.String(req.NotifyURL),
		Amount:      &native.Amount{Total: core.Int64(req.AmountFen), Currency: core.String("CNY")},
	})
	defer closeResult(result)
	if err != nil {
		return "", fail(op, result, err)
	}
	if str(resp.CodeUrl) == "" {
		return "", fmt.Errorf("%s: %w", op, unknown(fmt.Errorf("answer without code_url")))
	}
	return *resp.CodeUrl, nil
}

// Query returns the order as WeChat Pay knows it. ErrOrderNotFound means
// WeChat never accepted the order. An expired order stays NOTPAY until
// closed, so expiry alone proves nothing: close it, then query again.
func (c *Client) Query(ctx context.Context, outTradeNo string) (Transaction, error) {
	op := "wxpay: query " + outTradeNo
	if !validOutTradeNo(outTradeNo) {
		return Transaction{}, fmt.Errorf("%s: %w", op, invalid("out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]"))
	}
	resp, result, err := c.jsapi.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(outTradeNo),
		Mchid:      core.String(c.mchID),
	})
	defer closeResult(result)
	if err != nil {
		return Transaction{}, fail(op, result, err)
	}
	tx, err := toTransaction(resp)
	if err != nil {
		return Transaction{}, fmt.Errorf("%s: %w", op, unknown(err))
	}
	if tx.OutTradeNo != outTradeNo || tx.MchID != c.mchID {
		return Transaction{}, fmt.Errorf("%s: %w", op, unknown(fmt.Errorf("answer is for order %s of merchant %s", tx.OutTradeNo, tx.MchID)))
	}
	return tx, nil
}

// Close closes an unpaid order so that it can no longer be paid. ErrOrderPaid
// means the customer paid in the meantime: handle it as a payment.
func (c *Client) Close(ctx context.Context, outTradeNo string) error {
	op := "wxpay: close " + outTradeNo
	if !validOutTradeNo(outTradeNo) {
		return fmt.Errorf("%s: %w", op, invalid("out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]"))
	}
	result, err := c.jsapi.CloseOrder(ctx, jsapi.CloseOrderRequest{
		OutTradeNo: core.String(outTradeNo),
		Mchid:      core.String(c.mchID),
	})
	defer closeResult(result)
	if err != nil {
		return fail(op, result, err)
	}
	return nil
}
