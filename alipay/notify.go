package alipay

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// maxNotificationBody bounds what ParseNotification reads: a genuine
// notification is a couple of kilobytes.
const maxNotificationBody = 64 << 10

// ParseNotification verifies and reads an asynchronous notification (a form
// POST). Any error wraps ErrBadNotification: answer something other than
// "success" (Alipay retries for about 25 hours) and use nothing from it.
//
// On success the signature (Alipay's key, RSA2), app_id and amounts have
// been checked. The caller must still compare OutTradeNo and TotalFen with
// its own order, and treat duplicates as harmless: Alipay repeats
// notifications until it reads "success" (see Ack).
func (c *Client) ParseNotification(ctx context.Context, r *http.Request) (Notification, error) {
	const op = "notification"
	if r.Method != http.MethodPost {
		return Notification{}, badNotification("method %s", r.Method)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxNotificationBody)
	if err := r.ParseForm(); err != nil {
		return Notification{}, fmt.Errorf("alipay: %s: %w: %w", op, ErrBadNotification, err)
	}
	// PostForm only: anything in the URL's query is outside the signature.
	return c.DecodeNotification(ctx, r.PostForm)
}

// DecodeNotification is ParseNotification for form values already read.
func (c *Client) DecodeNotification(ctx context.Context, form url.Values) (Notification, error) {
	values := make(url.Values, len(form))
	for k, v := range form {
		// Every value is signed, but Get reads only the first: refuse
		// repeated keys rather than reason about which one counts.
		if len(v) != 1 {
			return Notification{}, badNotification("field %q repeated", clip(k))
		}
		values[k] = v
	}
	if values.Get("sign") == "" {
		return Notification{}, badNotification("unsigned")
	}
	if st := values.Get("sign_type"); st != "RSA2" {
		// The SDK ignores sign_type and always verifies RSA2; refusing
		// others keeps a downgrade from even looking plausible.
		return Notification{}, badNotification("sign_type %q", clip(st))
	}
	// alipay_cert_sn is outside the signed string and, if present, would
	// make the SDK look for a certificate by that number. In public-key
	// mode there is one key: drop it.
	delete(values, "alipay_cert_sn")
	sn, err := c.sdk.DecodeNotification(ctx, values)
	if err != nil {
		return Notification{}, fmt.Errorf("alipay: notification: %w: %w", ErrBadNotification, err)
	}
	if sn.AppId != c.appID {
		return Notification{}, badNotification("app_id %q is not ours", clip(sn.AppId))
	}
	if sn.OutTradeNo == "" {
		return Notification{}, badNotification("no out_trade_no")
	}
	status, err := ParseTradeStatus(string(sn.TradeStatus))
	if err != nil {
		return Notification{}, badNotification("%v", err)
	}
	total, err := YuanToFen(sn.TotalAmount)
	if err != nil {
		return Notification{}, badNotification("total_amount: %v", err)
	}
	n := Notification{
		NotifyID:    sn.NotifyId,
		NotifyType:  sn.NotifyType,
		NotifyTime:  c.parseTime(sn.NotifyTime),
		AppID:       sn.AppId,
		OutTradeNo:  sn.OutTradeNo,
		TradeNo:     sn.TradeNo,
		Status:      status,
		TotalFen:    total,
		BuyerOpenID: sn.BuyerOpenId,
		BuyerID:     sn.BuyerId,
		GmtPayment:  c.parseTime(sn.GmtPayment),
		GmtRefund:   c.parseTime(sn.GmtRefund),
		OutBizNo:    sn.OutBizNo,
	}
	if sn.ReceiptAmount != "" {
		if n.ReceiptFen, err = YuanToFen(sn.ReceiptAmount); err != nil {
			return Notification{}, badNotification("receipt_amount: %v", err)
		}
	}
	if sn.RefundFee != "" {
		if n.RefundFen, err = YuanToFen(sn.RefundFee); err != nil {
			return Notification{}, badNotification("refund_fee: %v", err)
		}
		n.HasRefund = true
	}
	return n, nil
}

func badNotification(format string, args ...any) error {
	return fmt.Errorf("alipay: notification: %w: %s", ErrBadNotification, fmt.Sprintf(format, args...))
}

// Ack answers a notification as Alipay requires: exactly "success". Write
// it only after the notification's effect is stored; anything else makes
// Alipay deliver it again.
func Ack(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("success"))
}
