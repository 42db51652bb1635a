package wxpay

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrUnknown marks an outcome that cannot be known from the answer: the
	// request may have taken effect. Query, or retry with the same
	// out_trade_no / out_refund_no; never assume either way.
	ErrUnknown = errors.New("outcome unknown")
	// ErrInvalidRequest marks a request refused locally, before sending.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrOrderNotFound: WeChat Pay has no such order (ORDER_NOT_EXIST).
	ErrOrderNotFound = errors.New("order not found")
	// ErrOrderPaid: the order is already paid (ORDERPAID), so it cannot be
	// prepaid again or closed.
	ErrOrderPaid = errors.New("order already paid")
	// ErrOrderClosed: the order is closed (ORDER_CLOSED); use a new
	// out_trade_no.
	ErrOrderClosed = errors.New("order closed")
	// ErrRefundNotFound: no refund with this out_refund_no.
	ErrRefundNotFound = errors.New("refund not found")
	// ErrNoBill: no trade bill for the day (NO_STATEMENT_EXIST): no trade,
	// or not generated yet (bills are ready after 10:00 the next day).
	ErrNoBill = errors.New("no trade bill")
	// ErrBillCorrupt: the downloaded bill does not match its hash.
	ErrBillCorrupt = errors.New("trade bill does not match its hash")
	// ErrBadNotification: a notification that does not verify, decrypt or
	// parse. Answer it with an error status; WeChat will retry a genuine one.
	ErrBadNotification = errors.New("bad notification")
)

// APIError is a refusal by WeChat Pay: a non-2xx answer with its code.
type APIError struct {
	// HTTPStatus is the HTTP status of the answer.
	HTTPStatus int
	// Code is WeChat's error code, e.g. "ORDER_NOT_EXIST", "PARAM_ERROR".
	Code string
	// Message is WeChat's explanation, usually in Chinese.
	Message string
	// RequestID identifies the call for WeChat Pay support.
	RequestID string
}

// Error reports status, code and message, and says so when a 5xx leaves
// the outcome unknown, because that is what a reader of the log must act on.
func (e *APIError) Error() string {
	s := fmt.Sprintf("HTTP %d %s: %s (request-id %s)", e.HTTPStatus, e.Code, e.Message, e.RequestID)
	if e.HTTPStatus >= http.StatusInternalServerError {
		s += "; " + ErrUnknown.Error()
	}
	return s
}

// Is maps WeChat codes to the sentinels, and 5xx answers to ErrUnknown: a
// SYSTEM_ERROR or BANK_ERROR may hide a request that took effect.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnknown:
		return e.HTTPStatus >= http.StatusInternalServerError
	case ErrOrderNotFound:
		return e.Code == "ORDER_NOT_EXIST"
	case ErrOrderPaid:
		return e.Code == "ORDERPAID"
	case ErrOrderClosed:
		return e.Code == "ORDER_CLOSED"
	case ErrNoBill:
		return e.Code == "NO_STATEMENT_EXIST"
	}
	return false
}

func fromCore(ae *core.APIError) *APIError {
	return &APIError{
		HTTPStatus: ae.StatusCode,
		Code:       ae.Code,
		Message:    ae.Message,
		RequestID:  ae.Header.Get("Request-ID"),
	}
}

// unknownError wraps the cause of an unknown outcome.
type unknownError struct{ err error }

func unknown(err error) error { return &unknownError{err: err} }

// Error names the outcome first: that is what the reader must act on.
func (e *unknownError) Error() string { return ErrUnknown.Error() + ": " + e.err.Error() }

// Unwrap keeps the cause (a timeout, a verification failure) reachable.
func (e *unknownError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrUnknown) true.
func (e *unknownError) Is(target error) bool { return target == ErrUnknown }

// IsUnknown reports whether err leaves the outcome unknown, so that the
// caller must query rather than conclude success or failure.
func IsUnknown(err error) bool { return errors.Is(err, ErrUnknown) }

// Code returns the WeChat error code carried by err, or "".
func Code(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}
