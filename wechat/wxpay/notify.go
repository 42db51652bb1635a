package wxpay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
)

// maxNotificationBytes bounds a notification body; real ones are 1–2 KB.
const maxNotificationBytes = 64 << 10

// ParsePaymentNotification verifies, decrypts and parses a TRANSACTION.*
// notification. Every failure wraps ErrBadNotification: answer it with a
// non-2xx status and WeChat retries a genuine one. On success, acknowledge
// with 200 or 204 within 5 s, after recording the payment; the same
// notification may arrive many times (same ID) and concurrently. The
// caller must still check that out_trade_no, amount and app id match its
// own order.
func (c *Client) ParsePaymentNotification(r *http.Request) (Notification[Transaction], error) {
	const op = "wxpay: payment notification"
	var t payments.Transaction
	req, err := c.parseNotification(r, &t)
	if err != nil {
		return Notification[Transaction]{}, fmt.Errorf("%s: %w", op, err)
	}
	if !strings.HasPrefix(req.EventType, "TRANSACTION.") {
		return Notification[Transaction]{}, fmt.Errorf("%s: %w: event type %q", op, ErrBadNotification, req.EventType)
	}
	tx, err := toTransaction(&t)
	if err != nil {
		return Notification[Transaction]{}, fmt.Errorf("%s: %w: %w", op, ErrBadNotification, err)
	}
	if tx.MchID != c.mchID {
		return Notification[Transaction]{}, fmt.Errorf("%s: %w: for merchant %s", op, ErrBadNotification, tx.MchID)
	}
	return newNotification(req, tx), nil
}

// refundResource is the decrypted content of a REFUND.* notification; the
// SDK has no type for it. Note refund_status, where queries say status.
type refundResource struct {
	MchID               string `json:"mchid"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

// ParseRefundNotification verifies, decrypts and parses a REFUND.*
// notification (REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED). Failures
// wrap ErrBadNotification, as for payments.
func (c *Client) ParseRefundNotification(r *http.Request) (Notification[Refund], error) {
	const op = "wxpay: refund notification"
	var res refundResource
	req, err := c.parseNotification(r, &res)
	if err != nil {
		return Notification[Refund]{}, fmt.Errorf("%s: %w", op, err)
	}
	if !strings.HasPrefix(req.EventType, "REFUND.") {
		return Notification[Refund]{}, fmt.Errorf("%s: %w: event type %q", op, ErrBadNotification, req.EventType)
	}
	if res.MchID != c.mchID {
		return Notification[Refund]{}, fmt.Errorf("%s: %w: for merchant %s", op, ErrBadNotification, res.MchID)
	}
	if res.OutRefundNo == "" || res.RefundStatus == "" {
		return Notification[Refund]{}, fmt.Errorf("%s: %w: no out_refund_no or refund_status", op, ErrBadNotification)
	}
	rf := Refund{
		OutRefundNo:         res.OutRefundNo,
		RefundID:            res.RefundID,
		OutTradeNo:          res.OutTradeNo,
		TransactionID:       res.TransactionID,
		Status:              RefundStatus(res.RefundStatus),
		RefundFen:           res.Amount.Refund,
		TotalFen:            res.Amount.Total,
		PayerRefundFen:      res.Amount.PayerRefund,
		UserReceivedAccount: res.UserReceivedAccount,
	}
	if res.SuccessTime != "" {
		st, err := time.Parse(time.RFC3339, res.SuccessTime)
		if err != nil {
			return Notification[Refund]{}, fmt.Errorf("%s: %w: success_time: %w", op, ErrBadNotification, err)
		}
		rf.SuccessTime = st
	}
	return newNotification(req, rf), nil
}

func newNotification[T any](req *notify.Request, resource T) Notification[T] {
	n := Notification[T]{ID: req.ID, EventType: req.EventType, Summary: req.Summary, Resource: resource}
	if req.CreateTime != nil {
		n.CreateTime = *req.CreateTime
	}
	return n
}

// parseNotification runs the SDK's verification and decryption into
// content (a pointer). The SDK panics on a resource nonce of the wrong
// length or a body without resource; a forged request must not take the
// server down, so panics become ErrBadNotification.
func (c *Client) parseNotification(r *http.Request, content any) (req *notify.Request, err error) {
	defer func() {
		if p := recover(); p != nil {
			req, err = nil, fmt.Errorf("%w: malformed notification: %v", ErrBadNotification, p)
		}
	}()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNotificationBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %w", ErrBadNotification, err)
	}
	if len(body) > maxNotificationBytes {
		return nil, fmt.Errorf("%w: body larger than %d bytes", ErrBadNotification, maxNotificationBytes)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	req, err = c.notify.ParseNotifyRequest(r.Context(), r, content)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadNotification, sdkMessage(err))
	}
	return req, nil
}

// sdkMessage drops the "request: %+v" dump of the whole http.Request that
// the SDK appends to verification errors: long, and not ours to log.
func sdkMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ", request: "); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
