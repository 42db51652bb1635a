package alipay

import (
	"errors"
	"fmt"
)

// Sentinel errors. They are always returned wrapped with a prefix naming
// the operation and the order ("alipay: query T123: trade not found"), so
// test them with errors.Is.
var (
	// ErrUnknown means the outcome of a call is unknown: the request may or
	// may not have taken effect at Alipay (transport error, timeout, a
	// response that could not be verified or decoded, or Alipay's own
	// "system busy" answers). Never guess: query the trade (or refund) and
	// act on what Alipay says. Check it with IsUnknown before looking for a
	// *BizError, because a busy answer is both.
	ErrUnknown = errors.New("outcome unknown")

	// ErrTradeNotFound is Alipay's ACQ.TRADE_NOT_EXIST. For a WAP trade it
	// also means the buyer never opened the cashier page.
	ErrTradeNotFound = errors.New("trade not found")

	// ErrRefundNotFound means Alipay has no successful refund under that
	// out_request_no: it never arrived or it failed. Refunding again with the
	// same out_request_no is then safe.
	ErrRefundNotFound = errors.New("refund not found")

	// ErrPending is returned by PayWithCode when Alipay answers 10003: the
	// trade exists but the buyer has not confirmed yet (password, large
	// amount). It is not paid: poll Query until the deadline, then Cancel.
	ErrPending = errors.New("waiting for the buyer")

	// ErrBadNotification means a notification could not be trusted or read:
	// bad or missing signature, another app's, unreadable fields. Answer
	// anything but "success" and ignore its content.
	ErrBadNotification = errors.New("bad notification")

	// ErrNoBill is isp.bill_not_exist: no bill for that day (not ready
	// yet — Alipay's are ready after 10:00 the next day — or no trade).
	ErrNoBill = errors.New("no bill")

	// ErrInvalidRequest means our own arguments were refused before anything
	// was sent to Alipay.
	ErrInvalidRequest = errors.New("invalid request")
)

// Alipay's codes that the client interprets.
const (
	codeSuccess     = "10000" // the call succeeded
	codePayInFlight = "10003" // payment-code trade created, buyer not done
	codeUnavailable = "20000" // service unavailable: outcome unknown

	subCodeTradeNotExist = "ACQ.TRADE_NOT_EXIST"
	subCodeSystemError   = "ACQ.SYSTEM_ERROR"
	subCodeBillNotExist  = "isp.bill_not_exist"
)

// BizError is a verified business failure from Alipay: a correctly signed
// response whose code is not 10000. Code is the public code (40004 business
// failure, 40002 invalid argument…), SubCode the precise reason
// (ACQ.TRADE_HAS_SUCCESS, ACQ.BUYER_BALANCE_NOT_ENOUGH…), which is what
// callers branch on.
type BizError struct {
	Code    string
	Msg     string
	SubCode string
	SubMsg  string
}

// Error reports the codes; SubMsg is Alipay's text for people.
func (e *BizError) Error() string {
	return fmt.Sprintf("%s %s (%s: %s)", e.Code, e.SubCode, e.Msg, e.SubMsg)
}

// Is lets errors.Is match the sentinels that a business failure stands for,
// so callers need not know Alipay's sub-codes: ACQ.TRADE_NOT_EXIST is
// ErrTradeNotFound; 20000 and ACQ.SYSTEM_ERROR are ErrUnknown, because
// Alipay documents them as "the result is unknown, query it".
func (e *BizError) Is(target error) bool {
	switch target {
	case ErrTradeNotFound:
		return e.SubCode == subCodeTradeNotExist
	case ErrUnknown:
		return e.Code == codeUnavailable || e.SubCode == subCodeSystemError
	case ErrNoBill:
		return e.SubCode == subCodeBillNotExist
	}
	return false
}

// IsUnknown reports whether err leaves the outcome of a call unknown; see
// ErrUnknown.
func IsUnknown(err error) bool {
	return errors.Is(err, ErrUnknown)
}

// unknown wraps cause as an unknown outcome for operation op.
func unknown(op string, cause error) error {
	return fmt.Errorf("alipay: %s: %w: %w", op, ErrUnknown, cause)
}
