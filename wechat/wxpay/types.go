package wxpay

import (
	"fmt"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
)

// TradeState is the state of a WeChat Pay order.
type TradeState string

// Trade states. Every order ends SUCCESS (possibly later REFUND), CLOSED,
// REVOKED or PAYERROR; NOTPAY and USERPAYING are waiting.
const (
	TradeSuccess    TradeState = "SUCCESS"    // paid
	TradeRefund     TradeState = "REFUND"     // paid, then (partly) refunded
	TradeNotPay     TradeState = "NOTPAY"     // not paid, even after expiry until closed
	TradeClosed     TradeState = "CLOSED"     // closed unpaid
	TradeRevoked    TradeState = "REVOKED"    // payment code reversed
	TradeUserPaying TradeState = "USERPAYING" // payment code waiting for the password
	TradePayError   TradeState = "PAYERROR"   // payment code failed
)

// Paid reports whether the money was taken. REFUND counts: the order was
// paid before a refund, and must not be treated as unpaid.
func (s TradeState) Paid() bool { return s == TradeSuccess || s == TradeRefund }

// Transaction is an order as WeChat Pay reports it.
type Transaction struct {
	AppID         string     // app the order was placed for
	MchID         string     // merchant id, always ours once parsed
	OutTradeNo    string     // our order number
	TransactionID string     // WeChat's id; empty until paid
	TradeType     string     // JSAPI, NATIVE, MICROPAY
	State         TradeState // see TradeState.Paid
	StateDesc     string     // WeChat's description of State, in Chinese
	TotalFen      int64      // order amount
	PayerTotalFen int64      // what the customer paid after coupons; 0 until paid
	Currency      string     // "CNY"
	PayerOpenID   string     // the payer, for the app AppID
	SuccessTime   time.Time  // zero until paid; WeChat gives it in +08:00
	Attach        string     // as given at prepay, echoed only once paid
}

// RefundStatus is the status of a refund.
type RefundStatus string

// Refund statuses.
const (
	RefundSuccess    RefundStatus = "SUCCESS"
	RefundClosed     RefundStatus = "CLOSED"
	RefundProcessing RefundStatus = "PROCESSING"
	RefundAbnormal   RefundStatus = "ABNORMAL" // e.g. card cancelled; needs handling on the merchant platform
)

// Refund is a refund as WeChat Pay reports it.
type Refund struct {
	OutRefundNo         string       // our refund number
	RefundID            string       // WeChat's refund id
	OutTradeNo          string       // the refunded order
	TransactionID       string       // WeChat's id of the refunded order
	Status              RefundStatus // PROCESSING until the notification
	RefundFen           int64        // amount refunded by this refund
	TotalFen            int64        // the order amount
	PayerRefundFen      int64        // what reaches the customer (less after coupons)
	UserReceivedAccount string       // where the money went, e.g. 支付用户零钱
	CreateTime          time.Time    // zero in notifications, which do not carry it
	SuccessTime         time.Time    // zero until SUCCESS
}

// PaymentParams are what the front end passes to wx.requestPayment
// (mini-program) or WeixinJSBridge getBrandWCPayRequest (official account).
type PaymentParams struct {
	AppID     string `json:"appId"`     // the order's app
	TimeStamp string `json:"timeStamp"` // Unix seconds, as a string
	NonceStr  string `json:"nonceStr"`  // 32 random characters
	Package   string `json:"package"`   // "prepay_id=…"
	SignType  string `json:"signType"`  // "RSA"
	PaySign   string `json:"paySign"`   // merchant RSA signature over appId, timeStamp, nonceStr, package
	// PrepayID is kept for the server (it is valid two hours); the front end
	// has it inside Package.
	PrepayID string `json:"-"`
}

// Notification is a verified, decrypted WeChat Pay notification.
type Notification[T any] struct {
	// ID is the event id; WeChat re-sends the same id until acknowledged.
	ID string
	// EventType is e.g. TRANSACTION.SUCCESS or REFUND.SUCCESS.
	EventType string
	// CreateTime is when the event happened, not when this copy was sent.
	CreateTime time.Time
	// Summary is WeChat's one-line description, e.g. 支付成功.
	Summary string
	// Resource is the decrypted content.
	Resource T
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func i64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// toTransaction converts the SDK's transaction, which both queries and
// notifications carry.
func toTransaction(t *payments.Transaction) (Transaction, error) {
	tx := Transaction{
		AppID:         str(t.Appid),
		MchID:         str(t.Mchid),
		OutTradeNo:    str(t.OutTradeNo),
		TransactionID: str(t.TransactionId),
		TradeType:     str(t.TradeType),
		State:         TradeState(str(t.TradeState)),
		StateDesc:     str(t.TradeStateDesc),
		Attach:        str(t.Attach),
	}
	if t.Amount != nil {
		tx.TotalFen = i64(t.Amount.Total)
		tx.PayerTotalFen = i64(t.Amount.PayerTotal)
		tx.Currency = str(t.Amount.Currency)
	}
	if t.Payer != nil {
		tx.PayerOpenID = str(t.Payer.Openid)
	}
	if s := str(t.SuccessTime); s != "" {
		st, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Transaction{}, fmt.Errorf("success_time %q: %w", s, err)
		}
		tx.SuccessTime = st
	}
	if tx.State == "" || tx.OutTradeNo == "" {
		return Transaction{}, fmt.Errorf("transaction without out_trade_no or trade_state")
	}
	return tx, nil
}

// validOutTradeNo reports whether no is 6–32 characters of [0-9A-Za-z_-|*],
// WeChat's rule; checking here turns a round trip into a clear error.
func validOutTradeNo(no string) bool { return validChars(no, 6, 32, "_-|*") }

// validOutRefundNo: 1–64 characters of [0-9A-Za-z_-|*@].
func validOutRefundNo(no string) bool { return validChars(no, 1, 64, "_-|*@") }

func validChars(s string, minLen, maxLen int, extra string) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}
