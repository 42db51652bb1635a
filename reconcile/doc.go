// Package reconcile checks gaspay's payments and refunds against WeChat
// Pay's and Alipay's daily bills, both ways, and reports paid credits not yet
// delivered.
//
// A run reads one provider's bill of one day (Beijing time) as a stream into
// the database (recon_bill_lines), so that memory stays flat however long
// the bill, and matches it there against the payments whose provider
// success time falls on that day and the refunds started that day. Every
// disagreement is a difference with its kind, both sides' values and a
// state: open, repaired (gaspay fixed it itself) or resolved (staff, with a
// note). A payment in the bill that gaspay lacks is repaired by asking the
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
