// Package console is the back office behind /admin/: the counter's and
// the office's reads (dashboard, search, a customer's whole record, orders)
// and actions (refunds with approval, card replacement, account status and
// corrections, alert resolution), each written to the audit trail in its
// own transaction, and the imports of bills and meter readings.
//
// Who may call what is decided by staff.Role (staff/roles.go); this package
// trusts the Actor it is given and records it.
package console
