// Package staff is the console's people: staff accounts and their roles,
// argon2id passwords, the optional TOTP second factor (RFC 6238), logins
// limited per name and per IP, cookie sessions in Redis with a CSRF token,
// and the Actor every audited action is recorded under.
//
// Roles (roles.go owns who may do what):
//
//	viewer    客服: reads everything a customer call needs
//	operator  营业厅: refunds up to the approval threshold, card and account actions
//	finance   approvals, reports, reconciliation, the audit trail
//	admin     everything, including staff, partners, tariffs and imports
package staff
