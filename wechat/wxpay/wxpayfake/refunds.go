package wxpayfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"gaspay/internal/beijing"
)

// Refund statuses.
const (
	RefundSuccess    = "SUCCESS"
	RefundClosed     = "CLOSED"
	RefundProcessing = "PROCESSING"
	RefundAbnormal   = "ABNORMAL"
)

// maxRefunds is WeChat's limit of partial refunds per order.
const maxRefunds = 50

// Refund is a snapshot of a refund in the fake, for assertions.
type Refund struct {
	OutRefundNo   string    // as requested
	RefundID      string    // generated, "50…"
	OutTradeNo    string    // the refunded order
	TransactionID string    // the refunded order's transaction id
	Reason        string    // as requested
	NotifyURL     string    // as requested; may be empty
	Status        string    // one of the Refund* constants
	RefundFen     int64     // this refund
	TotalFen      int64     // the order amount
	CreateTime    time.Time // business clock
	SuccessTime   time.Time // set when SUCCESS
}

type refund struct {
	Refund
	notifyID   string    // refund event id, the same on every re-send
	finishedAt time.Time // when the refund reached its final status
}

// Refund returns a snapshot of the refund outRefundNo.
func (s *Server) Refund(outRefundNo string) (Refund, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[outRefundNo]
	if !ok {
		return Refund{}, false
	}
	return r.Refund, true
}

type refundBody struct {
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	OutRefundNo   string `json:"out_refund_no"`
	Reason        string `json:"reason"`
	NotifyURL     string `json:"notify_url"`
	Amount        struct {
		Refund   *int64 `json:"refund"`
		Total    *int64 `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

type refundJSON struct {
	RefundID            string           `json:"refund_id"`
	OutRefundNo         string           `json:"out_refund_no"`
	TransactionID       string           `json:"transaction_id"`
	OutTradeNo          string           `json:"out_trade_no"`
	Channel             string           `json:"channel"`
	UserReceivedAccount string           `json:"user_received_account"`
	SuccessTime         string           `json:"success_time,omitempty"`
	CreateTime          string           `json:"create_time"`
	Status              string           `json:"status"`
	FundsAccount        string           `json:"funds_account"`
	Amount              refundAmountJSON `json:"amount"`
}

type refundAmountJSON struct {
	Total            int64  `json:"total"`
	Refund           int64  `json:"refund"`
	PayerTotal       int64  `json:"payer_total"`
	PayerRefund      int64  `json:"payer_refund"`
	SettlementRefund int64  `json:"settlement_refund"`
	SettlementTotal  int64  `json:"settlement_total"`
	DiscountRefund   int64  `json:"discount_refund"`
	Currency         string `json:"currency"`
}

func refundAnswer(r *refund) refundJSON {
	out := refundJSON{
		RefundID:            r.RefundID,
		OutRefundNo:         r.OutRefundNo,
		TransactionID:       r.TransactionID,
		OutTradeNo:          r.OutTradeNo,
		Channel:             "ORIGINAL",
		UserReceivedAccount: "支付用户零钱",
		CreateTime:          rfc3339(r.CreateTime),
		Status:              r.Status,
		FundsAccount:        "AVAILABLE",
		Amount: refundAmountJSON{
			Total: r.TotalFen, Refund: r.RefundFen,
			PayerTotal: r.TotalFen, PayerRefund: r.RefundFen,
			SettlementTotal: r.TotalFen, SettlementRefund: r.RefundFen,
			Currency: "CNY",
		},
	}
	if r.Status == RefundSuccess {
		out.SuccessTime = rfc3339(r.SuccessTime)
	}
	return out
}

func (s *Server) handleRefund(_ *http.Request, body []byte) reply {
	var b refundBody
	if err := json.Unmarshal(body, &b); err != nil {
		return paramError("body is not valid JSON: " + err.Error())
	}
	switch {
	case !validChars(b.OutRefundNo, 1, 64, "_-|*@"):
		return paramError("out_refund_no must be 1-64 characters of [0-9A-Za-z_-|*@]")
	case b.OutTradeNo == "" && b.TransactionID == "":
		return paramError("out_trade_no or transaction_id is required")
	case b.Amount.Refund == nil || *b.Amount.Refund <= 0 || b.Amount.Total == nil || *b.Amount.Total <= 0:
		return paramError("amount.refund and amount.total must be positive numbers of fen")
	case b.Amount.Currency != "CNY":
		return paramError("amount.currency must be CNY")
	case b.NotifyURL != "" && !validNotifyURL(b.NotifyURL):
		return paramError("notify_url must be an absolute http(s) URL without a query")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orders[b.OutTradeNo]
	if b.OutTradeNo == "" {
		o = s.byTxID[b.TransactionID]
	}
	if r, ok := s.refunds[b.OutRefundNo]; ok {
		// Same out_refund_no: the same refund, never a second one.
		if o == nil || r.OutTradeNo != o.OutTradeNo || r.RefundFen != *b.Amount.Refund || r.TotalFen != *b.Amount.Total {
			return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "退款单号重复，且参数与原退款单不一致")
		}
		return jsonReply(http.StatusOK, refundAnswer(r))
	}
	now := s.cfg.Now()
	switch {
	case o == nil || !o.paid():
		return errorReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
	case *b.Amount.Total != o.TotalFen:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "订单金额与原订单不一致")
	case now.Sub(o.SuccessTime) > 365*24*time.Hour:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已超过退款期限")
	case o.Refunds >= maxRefunds:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "订单已经退款超过50次")
	case *b.Amount.Refund > o.TotalFen-o.RefundedFen:
		return errorReply(http.StatusBadRequest, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
	}
	r := &refund{Refund: Refund{
		OutRefundNo:   b.OutRefundNo,
		RefundID:      "50" + randString(digits, 27),
		OutTradeNo:    o.OutTradeNo,
		TransactionID: o.TransactionID,
		Reason:        b.Reason,
		NotifyURL:     b.NotifyURL,
		Status:        RefundProcessing,
		RefundFen:     *b.Amount.Refund,
		TotalFen:      o.TotalFen,
		CreateTime:    now,
	}}
	s.refunds[r.OutRefundNo] = r
	o.Refunds++
	o.RefundedFen += r.RefundFen
	o.State = StateRefund
	if s.cfg.AutoCompleteRefunds {
		no, delay := r.OutRefundNo, s.cfg.RefundDelay
		s.spawnLocked(func(ctx context.Context) {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			_, _ = s.FinishRefund(ctx, no, RefundSuccess)
		})
	}
	return jsonReply(http.StatusOK, refundAnswer(r))
}

func (s *Server) handleQueryRefund(r *http.Request, _ []byte) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, ok := s.refunds[r.PathValue("out_refund_no")]
	if !ok {
		return errorReply(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")
	}
	return jsonReply(http.StatusOK, refundAnswer(rf))
}

// CompleteRefund completes a PROCESSING refund successfully and sends its
// REFUND.SUCCESS notification (if the refund named a notify_url).
func (s *Server) CompleteRefund(ctx context.Context, outRefundNo string) (NotifyResult, error) {
	return s.FinishRefund(ctx, outRefundNo, RefundSuccess)
}

// FinishRefund moves a PROCESSING or ABNORMAL refund to status (SUCCESS,
// ABNORMAL or CLOSED; a closed refund gives the amount back to the
// refundable balance) and sends the REFUND.* notification if the refund
// named a notify_url. err reports only why the refund could not change; the
// delivery is in NotifyResult.
func (s *Server) FinishRefund(ctx context.Context, outRefundNo, status string) (NotifyResult, error) {
	switch status {
	case RefundSuccess, RefundAbnormal, RefundClosed:
	default:
		return NotifyResult{}, fmt.Errorf("wxpayfake: refund status %q is not SUCCESS, ABNORMAL or CLOSED", status)
	}
	s.mu.Lock()
	r, ok := s.refunds[outRefundNo]
	if !ok {
		s.mu.Unlock()
		return NotifyResult{}, fmt.Errorf("wxpayfake: refund %s: %w", outRefundNo, ErrNoRefund)
	}
	if r.Status != RefundProcessing && r.Status != RefundAbnormal {
		s.mu.Unlock()
		return NotifyResult{}, fmt.Errorf("wxpayfake: refund %s is %s: %w", outRefundNo, r.Status, ErrRefundFinal)
	}
	now := s.cfg.Now()
	r.Status = status
	r.finishedAt = now
	switch status {
	case RefundSuccess:
		r.SuccessTime = now
	case RefundClosed:
		if o := s.orders[r.OutTradeNo]; o != nil {
			o.RefundedFen -= r.RefundFen
		}
	}
	r.notifyID = "EV-" + now.In(beijing.Location()).Format("20060102150405") + randString(digits, 8)
	n, hasURL := s.refundNotification(r, "")
	s.mu.Unlock()
	if !hasURL {
		return NotifyResult{}, nil
	}
	res := s.deliver(ctx, n, NotifyOptions{})
	if !res.Acknowledged() {
		s.retry(n)
	}
	return res, nil
}

// SendRefundNotification sends the notification of a finished refund again,
// or a forged variant of it. Safe to call concurrently.
func (s *Server) SendRefundNotification(ctx context.Context, outRefundNo string, opts NotifyOptions) (NotifyResult, error) {
	s.mu.Lock()
	r, ok := s.refunds[outRefundNo]
	if !ok {
		s.mu.Unlock()
		return NotifyResult{}, fmt.Errorf("wxpayfake: refund %s: %w", outRefundNo, ErrNoRefund)
	}
	if r.Status == RefundProcessing {
		s.mu.Unlock()
		return NotifyResult{}, fmt.Errorf("wxpayfake: refund %s: %w", outRefundNo, ErrRefundProcessing)
	}
	n, hasURL := s.refundNotification(r, opts.URL)
	s.mu.Unlock()
	if !hasURL {
		return NotifyResult{}, fmt.Errorf("wxpayfake: refund %s: %w", outRefundNo, ErrNoNotifyURL)
	}
	return s.deliver(ctx, n, opts), nil
}

type refundResourceJSON struct {
	MchID               string `json:"mchid"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time,omitempty"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

// refundNotification prepares the REFUND.* event of r. Called with s.mu
// held.
func (s *Server) refundNotification(r *refund, url string) (pending, bool) {
	res := refundResourceJSON{
		MchID:               s.cfg.MchID,
		OutTradeNo:          r.OutTradeNo,
		TransactionID:       r.TransactionID,
		OutRefundNo:         r.OutRefundNo,
		RefundID:            r.RefundID,
		RefundStatus:        r.Status,
		UserReceivedAccount: "支付用户零钱",
	}
	if r.Status == RefundSuccess {
		res.SuccessTime = rfc3339(r.SuccessTime)
	}
	res.Amount.Total, res.Amount.Refund = r.TotalFen, r.RefundFen
	res.Amount.PayerTotal, res.Amount.PayerRefund = r.TotalFen, r.RefundFen
	plain, _ := json.Marshal(res)
	summary := map[string]string{RefundSuccess: "退款成功", RefundAbnormal: "退款异常", RefundClosed: "退款关闭"}[r.Status]
	if url == "" {
		url = r.NotifyURL
	}
	return pending{
		url:          url,
		id:           r.notifyID,
		createTime:   r.finishedAt,
		eventType:    "REFUND." + r.Status,
		summary:      summary,
		originalType: "refund",
		plaintext:    plain,
	}, url != ""
}
