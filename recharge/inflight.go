package recharge

// One purchase in flight per meter.
//
// An account has at most one pending order and at most one undelivered
// credit: a meter takes its purchases one at a time, in sequence, and two
// credits racing for one meter could both land or leave the customer unsure
// which did. Two unique indexes make it so, whatever the code above them
// does (migration 2, models/migrations.go):
//
//   - ux_orders_inflight on orders.inflight_account_id: the account's id
//     while the order is pending, NULL once it leaves pending;
//   - ux_credits_pending on credits.pending_account_id: the account's id
//     while the credit is undelivered, NULL once delivered or cancelled.
//
// models/ledger.go is the only code that sets and clears them (Order.Open,
// NewCredit, leavePending). admit below is the rule every purchase path
// asks under the account's lock before it takes money: the app's orders
// (place), partners (PartnerPay) and what they show before (PartnerQuery).
// A payment that still meets an undelivered credit — it cannot, by
// construction — collides on ux_credits_pending and is refunded
// (conflictRefund).

// admit says whether an account may start a purchase, given its
// undelivered credit and its pending order, if any: ErrCreditPending while
// a credit is on its way (EQ0026), ErrOrderInProgress while an order waits
// for its payment (EQ0024; the app's own orders first settle it with the
// provider).
func admit(pendingCreditID *int64, inflightOrderNo *string) error {
	switch {
	case pendingCreditID != nil:
		return ErrCreditPending
	case inflightOrderNo != nil:
		return ErrOrderInProgress
	}
	return nil
}
