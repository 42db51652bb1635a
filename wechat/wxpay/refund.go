package wxpay

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
)

// RefundRequest refunds part or all of a paid order.
type RefundRequest struct {
	OutTradeNo string // the paid order
	// OutRefundNo is our refund number, 1–64 of [0-9A-Za-z_-|*@]. WeChat
	// refunds once per number: after a failure or an unknown outcome retry
	// with the same number, never a new one.
	OutRefundNo string
	Reason      string // shown to the customer, at most 80 characters
	// NotifyURL receives the REFUND.* notification; empty: the URL set on
	// the merchant platform, if any.
	NotifyURL string
	RefundFen int64 // positive, at most what is left of the order
	// TotalFen is the order amount, which WeChat checks.
	TotalFen int64
}

// Refund asks for a refund. The answer is usually PROCESSING; the result
// comes by notification or QueryRefund. Refunds are possible within a year
// of payment, at most 50 per order, and never above what is left.
func (c *Client) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	op := "wxpay: refund " + req.OutRefundNo
	switch {
	case !validOutTradeNo(req.OutTradeNo):
		return Refund{}, fmt.Errorf("%s: %w", op, invalid("out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]"))
	case !validOutRefundNo(req.OutRefundNo):
		return Refund{}, fmt.Errorf("%s: %w", op, invalid("out_refund_no must be 1-64 characters of [0-9A-Za-z_-|*@]"))
	case req.RefundFen <= 0 || req.TotalFen <= 0 || req.RefundFen > req.TotalFen:
		return Refund{}, fmt.Errorf("%s: %w", op, invalid("refund %d fen of total %d fen", req.RefundFen, req.TotalFen))
	case utf8.RuneCountInString(req.Reason) > 80:
		return Refund{}, fmt.Errorf("%s: %w", op, invalid("reason is longer than 80 characters"))
	case req.NotifyURL != "" && !validNotifyURL(req.NotifyURL):
		return Refund{}, fmt.Errorf("%s: %w", op, invalid("notify_url must be an absolute http(s) URL without a query"))
	}
	resp, result, err := c.refunds.Create(ctx, refunddomestic.CreateRequest{
		OutTradeNo:  core.String(req.OutTradeNo),
		OutRefundNo: core.String(req.OutRefundNo),
		Reason:      optional(req.Reason),
		NotifyUrl:   optional(req.NotifyURL),
		Amount: &refunddomestic.AmountReq{
			Refund:   core.Int64(req.RefundFen),
			Total:    core.Int64(req.TotalFen),
			Currency: core.String("CNY"), // the SDK refuses a request without it
		},
	})
	defer closeResult(result)
	if err != nil {
		return Refund{}, fail(op, result, err)
	}
	return checkRefund(op, resp, req.OutRefundNo)
}

// QueryRefund returns a refund by our refund number; ErrRefundNotFound if
// WeChat has none.
func (c *Client) QueryRefund(ctx context.Context, outRefundNo string) (Refund, error) {
	op := "wxpay: query refund " + outRefundNo
	if !validOutRefundNo(outRefundNo) {
		return Refund{}, fmt.Errorf("%s: %w", op, invalid("out_refund_no must be 1-64 characters of [0-9A-Za-z_-|*@]"))
	}
	resp, result, err := c.refunds.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{
		OutRefundNo: core.String(outRefundNo),
	})
	defer closeResult(result)
	if err != nil {
		var ae *core.APIError
		if errors.As(err, &ae) && ae.Code == "RESOURCE_NOT_EXISTS" {
			return Refund{}, fmt.Errorf("%s: %w: %w", op, ErrRefundNotFound, fromCore(ae))
		}
		return Refund{}, fail(op, result, err)
	}
	return checkRefund(op, resp, outRefundNo)
}

func checkRefund(op string, r *refunddomestic.Refund, outRefundNo string) (Refund, error) {
	out := Refund{
		OutRefundNo:         str(r.OutRefundNo),
		RefundID:            str(r.RefundId),
		OutTradeNo:          str(r.OutTradeNo),
		TransactionID:       str(r.TransactionId),
		UserReceivedAccount: str(r.UserReceivedAccount),
	}
	if r.Status != nil {
		out.Status = RefundStatus(*r.Status)
	}
	if r.Amount != nil {
		out.RefundFen = i64(r.Amount.Refund)
		out.TotalFen = i64(r.Amount.Total)
		out.PayerRefundFen = i64(r.Amount.PayerRefund)
	}
	if r.CreateTime != nil {
		out.CreateTime = *r.CreateTime
	}
	if r.SuccessTime != nil {
		out.SuccessTime = *r.SuccessTime
	}
	if out.OutRefundNo != outRefundNo || out.Status == "" {
		return Refund{}, fmt.Errorf("%s: %w", op, unknown(fmt.Errorf("answer is for refund %q with status %q", out.OutRefundNo, out.Status)))
	}
	return out, nil
}
