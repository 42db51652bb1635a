package recharge

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"gaspay/models"
	"gaspay/units"
)

// Errors a Provider returns, wrapped around its own.
var (
	// ErrUnknownOutcome: the request may or may not have taken effect
	// (transport failure, timeout, unverifiable answer). Query, never
	// guess.
	ErrUnknownOutcome = errors.New("recharge: provider outcome unknown")
	// errProviderNoOrder: the provider has no such order.
	errProviderNoOrder = errors.New("recharge: provider has no such order")
	// errProviderPaid: the provider refused because the order is paid.
	errProviderPaid = errors.New("recharge: provider says paid")
)

// TxnState is an order as its provider sees it.
type TxnState int

// Provider order states.
const (
	TxnNotFound TxnState = iota // never reached the provider
	TxnNotPaid                  // open, not paid
	TxnPaid                     // paid (refunded later or not)
	TxnClosed                   // closed, revoked or failed: will not be paid
)

// Txn is a provider's view of an order.
type Txn struct {
	State     TxnState
	TxnID     string
	AppID     string
	MchID     string
	AmountFen units.Fen
	Payer     string
	PaidAt    time.Time
}

// PaidEvent is a payment reported by a provider, by notification or query.
type PaidEvent struct {
	Provider  string
	OrderNo   string
	TxnID     string
	AppID     string
	MchID     string
	AmountFen units.Fen
	Payer     string
	PaidAt    time.Time
	Source    string // notify, query, close
}

// RefundResult is a provider's view of a refund.
type RefundResult struct {
	Status           models.RefundStatus // processing, succeeded or failed
	ProviderRefundID string
}

// Provider names, as payments, metrics, the notification routes and
// reconciliation name them.
const (
	ProviderWeChat = "wechat"
	ProviderAlipay = "alipay"
)

// RefundNoOf is the number of an order's refund at the provider (WeChat's
// out_refund_no, Alipay's out_request_no): "R" and the order number. An
// order is refunded once and in full, so a retry asks for the same refund.
func RefundNoOf(orderNo string) string { return "R" + orderNo }

// Prepay is what a provider needs to open an order for the customer to pay.
type Prepay struct {
	OrderNo     string
	Channel     models.Channel
	AppID       string // the WeChat app the customer logged in through
	PayerOpenID string // WeChat openid, or the Alipay mini-program buyer
	AmountFen   units.Fen
	ExpiresAt   time.Time
	Description string
}

// PrepayOf is what the provider is told of an order.
func PrepayOf(o models.Order, description string) Prepay {
	return Prepay{OrderNo: o.OrderNo, Channel: o.Channel, AppID: o.AppID, PayerOpenID: o.PayerOpenID,
		AmountFen: o.PayableFen, ExpiresAt: o.ExpiresAt, Description: description}
}

// RefundRequest is a refund of a paid order, as a provider is asked for it
// (and asked about it afterwards).
type RefundRequest struct {
	RefundNo  string
	OrderNo   string
	AmountFen units.Fen // refunded
	TotalFen  units.Fen // the order's payment
	Reason    string
}

func refundRequestOf(r models.Refund, o models.Order) RefundRequest {
	return RefundRequest{RefundNo: r.RefundNo, OrderNo: o.OrderNo, AmountFen: r.AmountFen, TotalFen: o.PayableFen, Reason: r.Reason}
}

// Notification is a provider's callback as it arrived: the raw body and
// the headers its signature is checked with. The handler reads the body
// (within its size limit); the provider verifies and decodes it.
type Notification struct {
	Header http.Header
	Body   []byte
}

// request rebuilds the callback as the providers' SDKs read it.
func (n Notification) request(ctx context.Context) *http.Request {
	// A constant method and URL cannot fail to parse.
	r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(n.Body))
	if n.Header != nil {
		r.Header = n.Header.Clone()
	}
	return r
}

// Provider takes payments for orders: WeChat Pay and Alipay.
// Errors wrap ErrUnknownOutcome when the outcome is unknown; Close wraps
// errProviderPaid when the order turned out paid.
type Provider interface {
	// Name is the provider's name in payments (ProviderWeChat…).
	Name() string
	// MchID is the merchant id payments must name.
	MchID() string
	// Prepay opens the order at the provider and returns what the
	// customer's client needs to pay.
	Prepay(ctx context.Context, p Prepay) (any, error)
	Query(ctx context.Context, orderNo string) (Txn, error)
	Close(ctx context.Context, orderNo string) error
	Refund(ctx context.Context, r RefundRequest) (RefundResult, error)
	QueryRefund(ctx context.Context, r RefundRequest) (RefundResult, error)
	// ParsePayment verifies and decodes a payment notification.
	ParsePayment(ctx context.Context, n Notification) (PaidEvent, error)
	// ParseRefund verifies and decodes a refund notification.
	ParseRefund(ctx context.Context, n Notification) (RefundEvent, error)
}

// RefundEvent is a refund's outcome reported by a provider.
type RefundEvent struct {
	RefundNo         string
	OrderNo          string
	ProviderRefundID string
	Status           models.RefundStatus
	AmountFen        units.Fen
}
