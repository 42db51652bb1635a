package recharge

import (
	"context"
	"errors"
	"net/http"
	"time"

	"gaspay/models"
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
	AmountFen int64
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
	AmountFen int64
	Payer     string
	PaidAt    time.Time
	Source    string // notify, query, close
}

// RefundResult is a provider's view of a refund.
type RefundResult struct {
	Status           models.RefundStatus // processing, succeeded or failed
	ProviderRefundID string
}

// Provider takes payments for orders: WeChat Pay now, Alipay next.
// Errors wrap ErrUnknownOutcome when the outcome is unknown; Close wraps
// errProviderPaid when the order turned out paid.
type Provider interface {
	// Name is the provider's name in payments ("wechat").
	Name() string
	// MchID is the merchant id payments must name.
	MchID() string
	// Prepay opens the order at the provider and returns what the
	// customer's client needs to pay.
	Prepay(ctx context.Context, o models.Order, description string) (any, error)
	Query(ctx context.Context, orderNo string) (Txn, error)
	Close(ctx context.Context, orderNo string) error
	Refund(ctx context.Context, r models.Refund, o models.Order) (RefundResult, error)
	QueryRefund(ctx context.Context, r models.Refund) (RefundResult, error)
	// ParsePayment verifies and decodes a payment notification.
	ParsePayment(r *http.Request) (PaidEvent, error)
	// ParseRefund verifies and decodes a refund notification.
	ParseRefund(r *http.Request) (RefundEvent, error)
}

// RefundEvent is a refund's outcome reported by a provider.
type RefundEvent struct {
	RefundNo         string
	OrderNo          string
	ProviderRefundID string
	Status           models.RefundStatus
	AmountFen        int64
}
