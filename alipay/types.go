package alipay

import (
	"fmt"
	"time"
)

// TradeStatus is the state of an Alipay trade. It is an enumeration rather
// than the wire string so that it cannot hold a value Alipay never sent: an
// unexpected status is refused at the boundary instead of flowing on.
type TradeStatus uint8

// Trade statuses. The zero value means that no status is known (it comes
// with an error).
const (
	// TradeWaitBuyerPay: created, not paid.
	TradeWaitBuyerPay TradeStatus = iota + 1
	// TradeClosed: unpaid and closed (expired, closed or cancelled), or paid
	// and then refunded in full. Look at the refunds to tell them apart.
	TradeClosed
	// TradeSuccess: paid; refunds still possible.
	TradeSuccess
	// TradeFinished: paid and past the refund period.
	TradeFinished
)

// String returns Alipay's name for the status.
func (s TradeStatus) String() string {
	switch s {
	case TradeWaitBuyerPay:
		return "WAIT_BUYER_PAY"
	case TradeClosed:
		return "TRADE_CLOSED"
	case TradeSuccess:
		return "TRADE_SUCCESS"
	case TradeFinished:
		return "TRADE_FINISHED"
	}
	return fmt.Sprintf("TradeStatus(%d)", uint8(s))
}

// Paid reports whether the buyer's money was taken (TRADE_SUCCESS or
// TRADE_FINISHED). A TRADE_CLOSED trade may also have been paid and then
// refunded in full; Paid is false for it because no money is held any more.
func (s TradeStatus) Paid() bool {
	return s == TradeSuccess || s == TradeFinished
}

// ParseTradeStatus converts Alipay's wire name into a TradeStatus.
func ParseTradeStatus(s string) (TradeStatus, error) {
	for st := TradeWaitBuyerPay; st <= TradeFinished; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("alipay: unknown trade status %q", clip(s))
}

// Trade is what Alipay says about a trade.
type Trade struct {
	OutTradeNo   string // our order number
	TradeNo      string // Alipay's trade number
	Status       TradeStatus
	TotalFen     int64  // order amount
	ReceiptFen   int64  // what the merchant actually receives (0 when not reported)
	BuyerOpenID  string // the buyer's id for this app (may be empty)
	BuyerLogonID string // masked logon id, e.g. "159****5620": safe to show, not to match on
	PaidAt       time.Time
}

// RefundStatus is the state of one refund request.
type RefundStatus uint8

// Refund statuses. Alipay only ever reports success; a refund that did not
// happen is ErrRefundNotFound.
const (
	RefundSuccess RefundStatus = iota + 1
)

// String returns Alipay's name for the status.
func (s RefundStatus) String() string {
	if s == RefundSuccess {
		return "REFUND_SUCCESS"
	}
	return fmt.Sprintf("RefundStatus(%d)", uint8(s))
}

// Refund is the result of one refund request (one out_request_no).
type Refund struct {
	OutTradeNo   string
	TradeNo      string
	OutRequestNo string
	RefundFen    int64 // this request's amount
	// TotalRefundedFen is the trade's cumulative refunded amount. Only the
	// refund call reports it; it is 0 from QueryRefund.
	TotalRefundedFen int64
	Status           RefundStatus
	RefundedAt       time.Time // zero when Alipay does not say
}

// CancelResult is the answer to Cancel.
type CancelResult struct {
	// Action is what the cancel did: "close" (nothing had been paid) or
	// "refund" (the buyer had paid and gets the money back). Empty when
	// Alipay does not say.
	Action string
	// Retry is Alipay's retry_flag: the cancel did not complete and must be
	// called again.
	Retry bool
}

// WapPayRequest asks for a mobile-web (H5) cashier URL.
type WapPayRequest struct {
	OutTradeNo string
	Subject    string
	AmountFen  int64
	TimeExpire time.Time // absolute deadline; zero = Alipay's default (15 days)
	NotifyURL  string    // must carry no query string: it breaks the signature
	ReturnURL  string    // where the browser goes after paying
	QuitURL    string    // where the browser goes when the buyer gives up
}

// CreateRequest creates a trade for the Alipay mini-program (my.tradePay).
type CreateRequest struct {
	OutTradeNo  string
	Subject     string
	AmountFen   int64
	BuyerOpenID string // the buyer's open id for our app
	TimeExpire  time.Time
	NotifyURL   string
}

// CodePayRequest charges a payment code scanned at a kiosk (scene bar_code).
type CodePayRequest struct {
	OutTradeNo string
	AuthCode   string // the digits of the buyer's payment code
	Subject    string
	AmountFen  int64
	NotifyURL  string // optional: the kiosk flow polls rather than waits
}

// PreCreateRequest asks for a QR code that the buyer scans.
type PreCreateRequest struct {
	OutTradeNo string
	Subject    string
	AmountFen  int64
	TimeExpire time.Time
	NotifyURL  string
}

// RefundRequest refunds part or all of a paid trade.
type RefundRequest struct {
	OutTradeNo string
	// OutRequestNo identifies this refund: retrying with the same number
	// never refunds twice, a new number is a new refund.
	OutRequestNo string
	RefundFen    int64
	Reason       string
}

// Notification is a verified asynchronous notification (notify_type
// trade_status_sync). Its signature, app_id and amounts have been checked;
// the caller still cross-checks OutTradeNo and TotalFen against the local
// order.
type Notification struct {
	NotifyID    string
	NotifyType  string
	NotifyTime  time.Time
	AppID       string
	OutTradeNo  string
	TradeNo     string
	Status      TradeStatus
	TotalFen    int64
	ReceiptFen  int64 // 0 when absent
	BuyerOpenID string
	BuyerID     string // 2088… user id; older apps only
	GmtPayment  time.Time
	// RefundFen is refund_fee, the trade's cumulative refunded amount, on
	// notifications caused by a refund; HasRefund tells 0 from absent.
	RefundFen int64
	HasRefund bool
	GmtRefund time.Time
	// OutBizNo is the out_request_no of the refund that caused the
	// notification, when there is one.
	OutBizNo string
}
