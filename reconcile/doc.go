// Package reconcile checks gaspay's payments and refunds against WeChat
// Pay's and Alipay's daily bills, both ways, and reports paid credits not yet
// delivered.
//
// A run reads one provider's bill of one day (Beijing time) as a stream,
// 2,000 lines at a time, each batch checked against gaspay with one query
// for its payments and one for its refunds, so that memory stays flat
// however long the bill. The lines that are gaspay's own payments and
// refunds of the day (by the provider's success time, and the day a refund
// started) are counted and summed: when they agree with gaspay's totals of
// the day, nothing of gaspay's is missing from the bill; otherwise a second
// pass stores the bill's lines (recon_bill_lines) and finds the missing
// ones in the database. Every disagreement is a difference with its kind,
// both sides' values and a state: open, repaired (gaspay fixed it itself)
// or resolved (staff, with a note). A payment in the bill that gaspay lacks is repaired by asking the
// provider about the order and, if it says paid, taking recharge's one paid
// path (MarkPaid) exactly as a notification would, recorded with source
// "reconcile"; anything else raises an alert. Re-running a day finds the
// same differences (one row each, by a unique index) and repairs nothing
// twice (MarkPaid's unique payment per order).
//
// The daily pass (DailyPass, run by the server's janitor) reconciles
// yesterday once it is past ReadyAfter (10:00), on one replica at a time
// (a Redis lock per provider and day), and tries again every Retry until the
// bill is there.
package reconcile
