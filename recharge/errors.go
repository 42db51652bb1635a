package recharge

import "errors"

// Errors the service returns; test them with errors.Is. The codes in the
// comments are the meanings of WeChat's public utility protocol that
// customers' clients already know.
var (
	// ErrNotFound: no such account or order among the user's.
	ErrNotFound = errors.New("recharge: not found")
	// ErrInvalid: the request is malformed (handlers check first).
	ErrInvalid = errors.New("recharge: invalid request")
	// ErrAccountInactive: the account is suspended or closed.
	ErrAccountInactive = errors.New("recharge: account not active")
	// ErrOverLimit: more than one purchase may buy (EQ0025).
	ErrOverLimit = errors.New("recharge: over the purchase limit")
	// ErrTooLittle: the amount buys no gas (less than 0.01 m3).
	ErrTooLittle = errors.New("recharge: amount buys no gas")
	// ErrVolumeForBill: ordinary accounts pay an amount, not a volume.
	ErrVolumeForBill = errors.New("recharge: ordinary accounts pay an amount")
	// ErrNoCard: the IC-card account has no current card.
	ErrNoCard = errors.New("recharge: no current card")
	// ErrCardChannel: IC-card meters buy through the card channel (the
	// mini-program with the box, or a kiosk) (EQ0027).
	ErrCardChannel = errors.New("recharge: card meters must use the card channel")
	// ErrChannelMismatch: the channel's WeChat app is not the one the user
	// logged in through.
	ErrChannelMismatch = errors.New("recharge: channel does not match the login")
	// ErrCreditPending: a paid credit has not reached the meter yet
	// (EQ0026).
	ErrCreditPending = errors.New("recharge: previous credit not yet delivered")
	// ErrPreviousPaid: the account's previous order turned out paid; it
	// takes the paid path and this one is refused (EQ0024).
	ErrPreviousPaid = errors.New("recharge: previous order was paid")
	// ErrOrderInProgress: another order for the account is being started
	// right now (EQ0024).
	ErrOrderInProgress = errors.New("recharge: another payment is being started")
	// ErrProviderUnavailable: the payment provider did not answer, or its
	// answer could not be trusted; nothing is assumed, try again.
	ErrProviderUnavailable = errors.New("recharge: payment provider unavailable")
	// ErrProviderRefused: the payment provider refused the request.
	ErrProviderRefused = errors.New("recharge: payment provider refused")

	// ErrUnknownOrder: a payment names an order we do not have.
	ErrUnknownOrder = errors.New("recharge: payment for an unknown order")
	// ErrMismatch: a payment's amount, app or merchant differs from the
	// order's; it is never taken as paid, and staff are alerted.
	ErrMismatch = errors.New("recharge: payment does not match its order")

	// ErrNotRefundable: only a paid order is refunded this way.
	ErrNotRefundable = errors.New("recharge: order is not refundable")
	// ErrDelivered: the credit reached the meter; it cannot be refunded
	// this way.
	ErrDelivered = errors.New("recharge: credit already delivered")
	// ErrDeliveryInDoubt: a delivery was attempted and its outcome is not
	// known (a card write without result, a command the meter may have
	// taken); read the card or wait for the meter first.
	ErrDeliveryInDoubt = errors.New("recharge: delivery attempted, outcome unknown")
)
