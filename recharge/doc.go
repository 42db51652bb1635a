// Package recharge is gaspay's money: quotes priced on the annual tiers,
// orders, payments taken exactly once, the credits they deliver, refunds,
// and the janitor that resolves every outcome a provider left unknown.
//
// Two ledgers meet here. The payment ledger moves an order pending → paid |
// closed (→ refunding → refunded); the delivery ledger gives every paid
// order exactly one credit, pending → delivered | cancelled. Every move is a
// conditional update or happens under the account's row lock, and unique
// indexes back every "exactly once": one payment per order, one credit per
// order, one order in flight and one undelivered credit per account.
//
// The client names an account and a volume or an amount; every price,
// tier, deduction and limit is computed here. Money is units.Fen and volume
// units.CentiM3 (0.01 m3), both exact integers. A request is parsed once
// into a Purchase (purchase.go); the limit is PurchaseLimit (limits.go);
// tier prices are price and volumeFor (quote.go).
package recharge
